/**
 * A read view pinned to one page, for a unit of work (a request) that must
 * not mix two generations. Kong 2.x switched pages under running requests,
 * so one request could read half the old configuration and half the new;
 * a snapshot keeps reading the page that was current when it was taken
 * until it is released, and that page stays readable meanwhile (until the
 * swap's `grace` ends, or the next swap starts).
 */
import { ClosedError } from '../errors.js'
import type { BulkOp, BulkOptions, BulkResult, GetOptions, Loader, Lookup, Peek, PeekOptions } from '../types.js'
import type { Page } from './page.js'

/** The reads of a cache on a given page: what a snapshot forwards to. */
export interface PageReads<V, L1> {
  get(page: Page, key: string, loader: Loader<V> | undefined, options: GetOptions<V, L1> | undefined): Promise<L1 | undefined>
  lookup(page: Page, key: string, loader: Loader<V> | undefined, options: GetOptions<V, L1> | undefined): Promise<Lookup<L1>>
  getBulk(page: Page, ops: readonly BulkOp<V, L1>[], options: BulkOptions | undefined): Promise<BulkResult<L1>[]>
  peek(page: Page, key: string, options: PeekOptions | undefined): Promise<Peek<V> | undefined>
  release(page: Page): void
}

/**
 * A read view of a cache pinned to the page current when
 * `MLCache.snapshot()` was called. Release it when the unit of work ends.
 *
 * Reads behave as the cache's own, on the pinned page. Once the page was
 * retired (its grace ended or the next swap started) reads still answer
 * what the page's L1 holds, and a read that would reach L2 rejects with
 * `PageRetiredError`.
 */
export class CacheSnapshot<V = unknown, L1 = V> {
  readonly #page: Page
  readonly #reads: PageReads<V, L1>
  #released = false

  constructor(page: Page, reads: PageReads<V, L1>) {
    page.pins++
    this.#page = page
    this.#reads = reads
  }

  /** The number of the pinned page. */
  get page(): number {
    return this.#page.number
  }

  /** `MLCache.get` on the pinned page. */
  get(key: string, loader?: Loader<V>, options?: GetOptions<V, L1>): Promise<L1 | undefined> {
    return this.#held() ?? this.#reads.get(this.#page, key, loader, options)
  }

  /** `MLCache.lookup` on the pinned page. */
  lookup(key: string, loader?: Loader<V>, options?: GetOptions<V, L1>): Promise<Lookup<L1>> {
    return this.#held() ?? this.#reads.lookup(this.#page, key, loader, options)
  }

  /** `MLCache.getBulk` on the pinned page. */
  getBulk(ops: readonly BulkOp<V, L1>[], options?: BulkOptions): Promise<BulkResult<L1>[]> {
    return this.#held() ?? this.#reads.getBulk(this.#page, ops, options)
  }

  /** `MLCache.peek` on the pinned page. */
  peek(key: string, options?: PeekOptions): Promise<Peek<V> | undefined> {
    return this.#held() ?? this.#reads.peek(this.#page, key, options)
  }

  /** Lets go of the page (idempotent); later reads reject with `ClosedError`. */
  release(): void {
    if (this.#released) return
    this.#released = true
    this.#page.pins--
    this.#reads.release(this.#page)
  }

  /** A rejection when released, else `undefined`. */
  #held(): Promise<never> | undefined {
    return this.#released ? Promise.reject(new ClosedError('this snapshot was released')) : undefined
  }
}
