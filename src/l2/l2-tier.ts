/**
 * L2 as MLCache sees it: the store and the optional miss store behind one
 * reader and writer that owns decoding, where negative entries live, write
 * retries, and the one policy for a failing store:
 *
 * | call | the store throws or rejects |
 * |---|---|
 * | a read before a loader runs (`'load'`, `'recheck'`) | read as a miss: the loader runs (counted in `l2Errors`) |
 * | a read without a loader (`'serve'`), `peek` (`'peek'`) | `L2Error` |
 * | the write of a loaded or resurrected value ({@link L2Tier.storeLoaded}) | the value is still served and kept in L1 (counted in `l2Errors`) |
 * | `set`, `delete`, `purge` ({@link L2Tier.write}...) | `L2Error` |
 * | deleting an undecodable entry | ignored: the next read deletes it again |
 *
 * Undecodable bytes are deleted and read as a miss (counted in
 * `decodeErrors`), except for `peek`, which rejects with `DecodeError`.
 * Synchronous stores are answered synchronously: an L2 hit on a SharedDict
 * settles without any await.
 */
import { FLAG_NEGATIVE, FLAG_RESURRECTED, decodeValue, decodeValueAt } from '../codec/codec.js'
import { withLifetime } from '../codec/entry-life.js'
import { DecodeError, L2Error } from '../errors.js'
import { describe } from '../internal/describe.js'
import type { StatsCounters } from '../stats.js'
import type { EntryView, L2Entry, L2Store, L2WriteResult, MaybePromise } from './l2-store.js'

/**
 * Why L2 is read, which decides what a failure does (see the table above):
 * before a loader may run (`'load'`), again under the lock or after a wait
 * within the same call (`'recheck'`, which counts and deletes nothing
 * twice), without a loader (`'serve'`), or for `peek`.
 */
export type ReadPurpose = 'load' | 'recheck' | 'serve' | 'peek'

/** An L2 entry, decoded. */
export class L2Read<V> {
  constructor(
    readonly value: V | undefined,
    readonly flags: number,
    /** As {@link L2Entry.ttl}: `0` never expires, `<= 0` for a stale entry. */
    readonly ttl: number,
    readonly stale: boolean,
    /** Expired by a purge, not by its TTL (see {@link L2Entry.purged}). */
    readonly purged: boolean,
    /** The stored bytes of a stale entry, which a resurrection writes back; a fresh read keeps none. */
    readonly bytes: Uint8Array | undefined,
  ) {}

  /** A "not found" entry. */
  get negative(): boolean {
    return (this.flags & FLAG_NEGATIVE) !== 0
  }

  /** An entry written back by a resurrection (served with `hitLevel 4`). */
  get resurrected(): boolean {
    return (this.flags & FLAG_RESURRECTED) !== 0
  }
}

/** A store that lends the bytes it reads (see `ValueStore.readEntryInto`). */
type LendingStore = L2Store & Required<Pick<L2Store, 'readEntryInto'>>

/** The answer of {@link L2Tier.storeLoaded}: a write result, or `'failed'` when the store threw. */
export type LoadedWriteResult = L2WriteResult | 'failed'

/** The L2 of one cache: `store`, and `missStore` for negative entries when given. */
export class L2Tier<V> {
  /** The distinct stores a load writes to; each needs the load's fence. */
  readonly stores: readonly L2Store[]
  readonly #store: L2Store
  readonly #missStore: L2Store | undefined
  readonly #stats: StatsCounters
  /** Where a store that lends its bytes puts what it read (see {@link L2Tier.#readLent}). */
  readonly #view: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }

  constructor(store: L2Store, missStore: L2Store | undefined, stats: StatsCounters) {
    this.#store = store
    this.#missStore = missStore
    this.#stats = stats
    this.stores = missStore === undefined || missStore === store ? [store] : [store, missStore]
  }

  /**
   * Reads `key` from the store, then from the miss store when the first has
   * nothing fresh: the fresh entry if any, else the stale one of the store
   * (or of the miss store when the store has none).
   */
  read(namespace: string, key: string, purpose: ReadPurpose): MaybePromise<L2Read<V> | undefined> {
    const main = this.#readFrom(this.#store, namespace, key, purpose)
    if (this.#missStore === undefined) return main
    return main instanceof Promise
      ? main.then((read) => this.#readMiss(namespace, key, read, purpose))
      : this.#readMiss(namespace, key, main, purpose)
  }

  /**
   * Reads several keys of `namespace` for loads, in one call to the store
   * when it has `readEntries` (a round trip for a networked store), answering
   * one result per key as {@link L2Tier.read} with purpose `'load'` would.
   */
  async readMany(namespace: string, keys: readonly string[]): Promise<(L2Read<V> | undefined)[]> {
    const store = this.#store
    if (store.readEntries === undefined || this.#missStore !== undefined) {
      return Promise.all(keys.map((key) => this.read(namespace, key, 'load')))
    }
    let entries: (L2Entry | undefined)[]
    try {
      entries = await store.readEntries(namespace, keys)
    } catch {
      this.#stats.l2Errors += keys.length
      return keys.map(() => undefined)
    }
    return keys.map((key, i) => this.#decode(store, namespace, key, entries[i], 'load'))
  }

  /**
   * Writes an entry to the store its kind belongs to (negative entries to
   * the miss store when there is one), retrying "no memory" `tries` times; a
   * write that never fits is counted in `l2NoMemory`, one refused by its
   * fence in `fencedWrites`. The flags get the entry's lifetime (see
   * `entry-life.ts`).
   * @param staleFor - how long the entry must stay readable once expired, at least (`staleWhileRevalidate`)
   * @throws {L2Error} the store failed (rejects)
   */
  async write(namespace: string, key: string, bytes: Uint8Array, ttl: number, flags: number, tries: number, fence?: string, staleFor = 0): Promise<L2WriteResult> {
    const store = (flags & FLAG_NEGATIVE) !== 0 && this.#missStore !== undefined ? this.#missStore : this.#store
    // Keep it readable as stale for as long as it was fresh (resurrection and ctx.stale read it), or the stale window if longer.
    const options = { staleTtl: Math.max(ttl, staleFor), fence }
    flags = withLifetime(flags, ttl)
    let result: L2WriteResult = 'no memory'
    for (let attempt = 0; attempt < tries && result === 'no memory'; attempt++) {
      result = await this.#call(namespace, key, () => store.writeEntry(namespace, key, bytes, ttl, flags, options))
    }
    if (result === 'no memory') this.#stats.l2NoMemory++
    else if (result === 'fenced') this.#stats.fencedWrites++
    return result
  }

  /**
   * One write of a bulk load (a page swap's fill, a warmup): one try that
   * never evicts another entry (`safe_set`), answered synchronously by a
   * synchronous store.
   * @throws {L2Error} the store failed (throws or rejects)
   */
  writeNoEvict(namespace: string, key: string, bytes: Uint8Array, ttl: number, flags: number): MaybePromise<L2WriteResult> {
    const store = (flags & FLAG_NEGATIVE) !== 0 && this.#missStore !== undefined ? this.#missStore : this.#store
    let result: MaybePromise<L2WriteResult>
    try {
      result = store.writeEntry(namespace, key, bytes, ttl, withLifetime(flags, ttl), { staleTtl: ttl, noEvict: true })
    } catch (error) {
      throw l2Error(error, key, namespace)
    }
    if (!(result instanceof Promise)) return result
    return result.catch((error: unknown) => {
      throw l2Error(error, key, namespace)
    })
  }

  /** {@link L2Tier.write} for a load: a failing store answers `'failed'` instead of rejecting. */
  async storeLoaded(namespace: string, key: string, bytes: Uint8Array, ttl: number, flags: number, tries: number, fence: string | undefined, staleFor = 0): Promise<LoadedWriteResult> {
    try {
      return await this.write(namespace, key, bytes, ttl, flags, tries, fence, staleFor)
    } catch (error) {
      if (!(error instanceof L2Error)) throw error
      this.#stats.l2Errors++
      return 'failed'
    }
  }

  /**
   * Removes `key` from the store and from the miss store.
   * @throws {L2Error} (rejects)
   */
  async delete(namespace: string, key: string): Promise<void> {
    for (const store of this.stores) await this.#call(namespace, key, () => store.deleteEntry(namespace, key))
  }

  /**
   * Removes `key` from the store where a value of the other kind would not
   * be looked for: with a miss store, a new value must not leave a negative
   * entry behind, and vice versa (upstream `set()` does the same).
   * @throws {L2Error} (rejects)
   */
  async deleteOtherKind(namespace: string, key: string, negative: boolean): Promise<void> {
    const missStore = this.#missStore
    if (missStore === undefined || missStore === this.#store) return
    const other = negative ? this.#store : missStore
    await this.#call(namespace, key, () => other.deleteEntry(namespace, key))
  }

  /**
   * Purges `namespace` in the store and the miss store.
   * @throws {L2Error} (rejects)
   */
  async purge(namespace: string, flushExpired: boolean): Promise<void> {
    for (const store of this.stores) await this.#call(namespace, undefined, () => store.purgeNamespace(namespace, flushExpired))
  }

  #readMiss(namespace: string, key: string, main: L2Read<V> | undefined, purpose: ReadPurpose): MaybePromise<L2Read<V> | undefined> {
    if (main !== undefined && !main.stale) return main
    const pick = (miss: L2Read<V> | undefined): L2Read<V> | undefined =>
      miss !== undefined && (!miss.stale || main === undefined) ? miss : main
    const miss = this.#readFrom(this.#missStore as L2Store, namespace, key, purpose)
    return miss instanceof Promise ? miss.then(pick) : pick(miss)
  }

  #readFrom(store: L2Store, namespace: string, key: string, purpose: ReadPurpose): MaybePromise<L2Read<V> | undefined> {
    if (store.readEntryInto !== undefined) return this.#readLent(store as LendingStore, namespace, key, purpose)
    let entry: MaybePromise<L2Entry | undefined>
    try {
      entry = store.readEntry(namespace, key)
    } catch (error) {
      return this.#readFailed(error, key, purpose)
    }
    if (entry instanceof Promise) {
      return entry.then(
        (resolved) => this.#decode(store, namespace, key, resolved, purpose),
        (error: unknown) => this.#readFailed(error, key, purpose),
      )
    }
    return this.#decode(store, namespace, key, entry, purpose)
  }

  /** A failed read: a miss when a loader will run, else `L2Error`. */
  #readFailed(error: unknown, key: string, purpose: ReadPurpose): undefined {
    if (purpose === 'serve' || purpose === 'peek') throw l2Error(error, key, undefined)
    this.#stats.l2Errors++
    return undefined
  }

  /**
   * A read of a store that lends the entry's bytes (see
   * `ValueStore.readEntryInto`): decoded where they lie, copied only for a
   * stale entry, whose bytes a resurrection may write back.
   */
  #readLent(store: LendingStore, namespace: string, key: string, purpose: ReadPurpose): L2Read<V> | undefined {
    const view = this.#view
    try {
      if (!store.readEntryInto(namespace, key, view)) return undefined
    } catch (error) {
      return this.#readFailed(error, key, purpose)
    }
    const { bytes, start, end, flags, stale } = view
    try {
      const value = decodeValueAt(bytes, start, end, flags, key) as V | undefined
      return new L2Read(value, flags, view.ttl, stale, view.purged, stale ? Uint8Array.prototype.slice.call(bytes, start, end) : undefined)
    } catch (error) {
      return this.#undecodable(store, namespace, key, purpose, error)
    }
  }

  /** Decodes an entry (see {@link L2Tier.#undecodable} for bytes that do not decode). */
  #decode(store: L2Store, namespace: string, key: string, entry: L2Entry | undefined, purpose: ReadPurpose): L2Read<V> | undefined {
    if (entry === undefined) return undefined
    try {
      const { value: bytes, flags, stale } = entry
      return new L2Read(decodeValue(bytes, flags, key) as V | undefined, flags, entry.ttl, stale, entry.purged === true, stale ? bytes : undefined)
    } catch (error) {
      return this.#undecodable(store, namespace, key, purpose, error)
    }
  }

  /**
   * Undecodable bytes read as a miss; a first read counts them and deletes
   * them without waiting (issued before anything else the caller sends, so
   * a store that runs commands in order applies it before the load's lock
   * and write); a re-read (`'recheck'`) leaves that to the first. A failing
   * delete is ignored: the next read deletes again. `peek` rejects with the
   * `DecodeError`.
   */
  #undecodable(store: L2Store, namespace: string, key: string, purpose: ReadPurpose, error: unknown): undefined {
    if (purpose === 'peek' || !(error instanceof DecodeError)) throw error
    if (purpose === 'recheck') return undefined
    this.#stats.decodeErrors++
    try {
      const deleted = store.deleteEntry(namespace, key)
      if (deleted instanceof Promise) deleted.catch(() => undefined)
    } catch {
      // As a rejection: ignored.
    }
    return undefined
  }

  /** Runs one store call, turning its failures into `L2Error`. */
  async #call<T>(namespace: string, key: string | undefined, call: () => MaybePromise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw l2Error(error, key, namespace)
    }
  }
}

/** The `L2Error` of a failed store call: the one place store failures are wrapped. */
function l2Error(error: unknown, key: string | undefined, namespace: string | undefined): L2Error {
  const subject = key === undefined ? `cache '${namespace ?? ''}'` : `key '${key}'`
  return new L2Error(`L2 failed for ${subject}: ${describe(error)}`, key === undefined ? { cause: error } : { cause: error, key })
}
