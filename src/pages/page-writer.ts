/**
 * The bulk write path shared by a swap's `fill` and by `warmup`: encodes
 * each value as a load would (same bytes, flags and stale window, so bulk
 * entries are indistinguishable from loaded ones, as Kong's warmup
 * requires) and writes it into one page without evicting anything
 * (`safe_set`, as Kong's DB-less load and warmup do): a page that does not
 * fit fails instead of pushing out what it wrote or what is being served.
 */
import { entryFlags, encodeValue } from '../codec/codec.js'
import { ClosedError, L2Error, NoMemoryError } from '../errors.js'
import { assertDuration, assertKey, assertKnownOptions, assertOptionsObject } from '../internal/validate.js'
import type { L2WriteResult } from '../l2/l2-store.js'
import type { L2Tier } from '../l2/l2-tier.js'
import type { PageWriter, PageWriterOptions } from '../types.js'

const OPTIONS: ReadonlySet<string> = new Set(['ttl', 'negTtl'])

/** Writes entries into one page's namespace; counts what landed. */
export class BulkWriter<V> implements PageWriter<V> {
  /** Entries written. */
  entries = 0
  /** Bytes of encoded values written. */
  bytes = 0
  readonly #tier: L2Tier<V>
  readonly #namespace: string
  readonly #ttl: number
  readonly #negTtl: number
  readonly #pending = new Set<Promise<void>>()
  /** The first write that failed for lack of memory or a failing store: the page is incomplete. */
  #failure: NoMemoryError | L2Error | undefined
  #closed = false

  constructor(tier: L2Tier<V>, namespace: string, defaults: { ttl: number; negTtl: number }) {
    this.#tier = tier
    this.#namespace = namespace
    this.#ttl = defaults.ttl
    this.#negTtl = defaults.negTtl
  }

  /** The failure that made the page incomplete, if any. */
  get failure(): NoMemoryError | L2Error | undefined {
    return this.#failure
  }

  /**
   * Writes `key` (`null`/`undefined`: "not found", kept for `negTtl`).
   * Answers synchronously on a synchronous store.
   * @throws {NoMemoryError} the entry does not fit without evicting (the page is then incomplete)
   * @throws {EncodeError} the value cannot be encoded; nothing was written
   * @throws {L2Error} the store failed
   * @throws {ClosedError} the swap or warmup this writer belongs to is over
   */
  set(key: string, value: V | null | undefined, options?: PageWriterOptions): void | Promise<void> {
    if (this.#closed) throw new ClosedError('this page writer is closed: its swap or warmup is over')
    assertKey(key)
    assertOptionsObject(options)
    if (options !== undefined) assertKnownOptions(options, OPTIONS)
    const negative = value === undefined || value === null
    const ttl = negative ? (options?.negTtl ?? this.#negTtl) : (options?.ttl ?? this.#ttl)
    assertDuration(ttl, negative ? 'options.negTtl' : 'options.ttl')
    const bytes = encodeValue(value, key)
    let written: ReturnType<L2Tier<V>['writeNoEvict']>
    try {
      written = this.#tier.writeNoEvict(this.#namespace, key, bytes, ttl, entryFlags(negative, false))
    } catch (error) {
      throw this.#failed(error)
    }
    if (!(written instanceof Promise)) return this.#landed(written, key, bytes.length)
    const pending = written.then(
      (result) => this.#landed(result, key, bytes.length),
      (error: unknown) => {
        throw this.#failed(error)
      },
    )
    this.#pending.add(pending)
    // The caller may ignore the promise: the failure is kept for settle(), never left unhandled.
    const settled = (): void => void this.#pending.delete(pending)
    pending.then(settled, settled)
    return pending
  }

  /**
   * Waits for the writes in flight, then rejects with the first failure
   * if a write did not land (even one whose promise the caller ignored).
   */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending])
    if (this.#failure !== undefined) throw this.#failure
  }

  /** Refuses further writes. */
  close(): void {
    this.#closed = true
  }

  #landed(result: L2WriteResult, key: string, size: number): void {
    if (result !== 'ok') {
      throw this.#failed(new NoMemoryError(`key '${key}' does not fit in L2 without evicting (no memory)`, { key }))
    }
    this.entries++
    this.bytes += size
  }

  /** Records a failure that leaves the page incomplete; answers it to throw. */
  #failed(error: unknown): unknown {
    if ((error instanceof NoMemoryError || error instanceof L2Error) && this.#failure === undefined) this.#failure = error
    return error
  }
}
