/**
 * Public types of MLCache, as fixed by the contract.
 */
import type { EventBus } from './bus/event-bus.js'
import type { L2Store, LockStore } from './l2/l2-store.js'

/**
 * Where a value came from (lua-resty-mlcache's `hit_level`):
 * - `1`: L1 (this worker's LRU), including a cached "not found";
 * - `2`: L2 (shared by the workers), including a caller that waited for another loader;
 * - `3`: L3, this caller ran the loader;
 * - `4`: a stale value was served: resurrected, within `staleWhileRevalidate`
 *   (a background reload was started), after the soft `loaderTimeout`, or
 *   after a lock or hard loader timeout with `resurrectTtl`;
 * - `-1`: no loader was given and nothing was cached.
 */
export type HitLevel = -1 | 1 | 2 | 3 | 4

/** The answer of {@link MLCache.lookup}. */
export interface Lookup<V> {
  /** The value, `undefined` for "not found". */
  value: V | undefined
  /** Where it came from. */
  hitLevel: HitLevel
  /** `true` exactly when the value served is stale (`hitLevel 4`). */
  stale: boolean
}

/** What a loader receives besides the key. */
export interface LoaderContext<V> {
  /**
   * Set it to override the TTL of this result, in milliseconds (`0`: never
   * expires); `< 0`: return the value but cache nothing.
   */
  ttl?: number | undefined
  /** The expired value still in L2, if any (never a "not found" entry). */
  readonly stale?: V | undefined
  /**
   * Aborted when the load is given up: its hard `loaderTimeout` passed (the
   * reason is the `LoaderTimeoutError`), or the cache was closed during a
   * background reload (a `ClosedError`). Pass it on (`fetch(url, { signal })`,
   * a driver's cancel) to stop the query; whatever the loader answers after
   * it is dropped. Made on first read: a loader that never reads it costs nothing.
   */
  readonly signal: AbortSignal
}

/**
 * How long a load may take, in milliseconds, counted from the L2 miss (the
 * wait for another worker's lock included). See the README's table of how
 * it composes with `lockTimeout` and `resurrectTtl`.
 */
export interface LoaderTimeout {
  /**
   * After this long, a caller that has a stale value in L2 gets it (`hitLevel
   * 4`, `stale: true`) while the load goes on and fills L2 when it finishes.
   * Callers without one keep waiting.
   */
  soft?: number | undefined
  /**
   * After this long, the call rejects with `LoaderTimeoutError` (or serves
   * the stale value with `resurrectTtl`, as for a failing loader), the
   * loader's `ctx.signal` is aborted and its lock released. Must be greater
   * than `soft`.
   */
  hard?: number | undefined
}

/**
 * Loads a value on a miss (L3). Return or resolve the value; `null` or
 * `undefined` mean "not found" and are cached for `negTtl`. Throw or reject
 * to fail.
 */
export type Loader<V> = (key: string, ctx: LoaderContext<V>) => V | null | undefined | Promise<V | null | undefined>

/** One operation of {@link MLCache.getBulk}: a `lookup(key, loader, options)`. */
export interface BulkOp<V, L1 = V> {
  /** The key to look up. */
  key: string
  /** Loads the value on a miss, as for `get`. */
  loader: Loader<V>
  /** Per-op options, as for `get`; bad ones fail this op only. */
  options?: GetOptions<V, L1> | undefined
}

/**
 * One result of {@link MLCache.getBulk}, in op order: the op's answer, or
 * the error that failed it (its siblings are unaffected). Test `error`
 * (or `hitLevel`) to tell them apart.
 */
export type BulkResult<V> =
  | {
      /** The value, `undefined` for "not found". */
      value: V | undefined
      /** Where it came from, as for `lookup`. */
      hitLevel: HitLevel
      error?: undefined
    }
  | {
      value: undefined
      hitLevel?: undefined
      /** Why this op failed: a bad argument, or the error `lookup` would have rejected with. */
      error: Error
    }

/** Options of {@link MLCache.getBulk}. */
export interface BulkOptions {
  /** How many ops may look up (and load) at a time. @defaultValue 3 */
  concurrency?: number | undefined
}

/** What {@link PageWriter.set} accepts besides the key and value. */
export interface PageWriterOptions {
  /** Time to live of a value, ms (`0`: never expires). Default: the cache's `ttl`. */
  ttl?: number
  /** Time to live of a "not found" (`null`/`undefined`), ms. Default: the cache's `negTtl`. */
  negTtl?: number
}

/**
 * Writes the entries of a new page during `MLCache.swap` (and of a
 * warmup). Nothing written is visible to readers before the swap commits.
 * On a synchronous store (SharedDict) `set` answers synchronously.
 */
export interface PageWriter<V> {
  /**
   * Writes `key` into the page, never evicting another entry: a page that
   * does not fit throws (or rejects with) `NoMemoryError`, and the swap
   * fails with it even if `fill` catches it.
   */
  set(key: string, value: V | null | undefined, options?: PageWriterOptions): void | Promise<void>
}

/** Options of `MLCache.swap`. */
export interface SwapOptions {
  /**
   * How long, in ms, to wait for every live worker of the bus to switch
   * before rejecting with `BusError` (the switch itself stays done).
   * @defaultValue 60000
   */
  timeout?: number
  /**
   * How long, in ms, the old page stays readable for snapshots still pinned
   * to it once every worker switched; it is reclaimed earlier when the last
   * one is released, and at the latest when the next swap starts.
   * @defaultValue 10000
   */
  grace?: number
}

/** Options of `MLCache.warmup`. */
export interface WarmupOptions {
  /** Writes in flight at once on an asynchronous store (Redis). @defaultValue 16 */
  concurrency?: number
  /** Time to live of the values, ms. Default: the cache's `ttl`. */
  ttl?: number
  /** Time to live of the "not found" entries, ms. Default: the cache's `negTtl`. */
  negTtl?: number
}

/** What `MLCache.warmup` loaded. */
export interface WarmupReport {
  /** Entries written. */
  entries: number
  /** Bytes of encoded values written. */
  bytes: number
  /** How long it took, ms. */
  duration: number
  /** L2 had no room for the next entry: the warmup stopped there instead of evicting. */
  full: boolean
}

/** Options of {@link MLCache.peek}. */
export interface PeekOptions {
  /** Also answer an expired entry still in L2 (`stale: true`, negative `ttl`). @defaultValue false */
  stale?: boolean | undefined
}

/** Options of {@link MLCache.purge}. */
export interface PurgeOptions {
  /** Also reclaim the memory of the purged entries at once. @defaultValue false */
  flushExpired?: boolean | undefined
}

/** Options of `MLCache.stats`. */
export interface StatsOptions {
  /** Zero the counters once read, to measure the next period. @defaultValue false */
  reset?: boolean | undefined
}

/** The answer of {@link MLCache.peek}. */
export interface Peek<V> {
  /**
   * Remaining time to live in milliseconds: `0` for "never expires", never
   * exactly `0` for a finite TTL, negative for a stale entry.
   */
  ttl: number
  /** The stored value, `undefined` for a "not found" entry. */
  value: V | undefined
  /** Whether the entry has expired. */
  stale: boolean
}

/**
 * The L1 a cache may be given instead of its own LRU (an `lru-cache`
 * instance fits). The cache stores each entry under the plain key; values
 * are L1 forms (the `l1Serializer` output, or a private sentinel object for
 * "not found").
 */
export interface L1Store {
  /** The value stored under `key`, `undefined` when absent or expired. */
  get(key: string): unknown
  /** Stores `value` under `key` for `options.ttl` ms (`0` or absent: no expiry). */
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  /** Drops `key`. */
  delete(key: string): unknown
  /** Drops everything. */
  clear(): void
}

/**
 * Options of {@link MLCache}. Durations are milliseconds; a TTL of `0` never
 * expires. `L1` is the type `l1Serializer` produces (`V` without one).
 */
export interface MLCacheOptions<V, L1 = V> {
  /** The shared level (L2). @defaultValue a private in-process `SharedDict` of 16 MiB */
  store?: L2Store | undefined
  /** Where negative ("not found") entries live when given (mlcache's `shm_miss`). */
  missStore?: L2Store | undefined
  /**
   * Where loader locks live (mlcache's `shm_locks`): any {@link LockStore}.
   * A load then also takes its lock, without waiting, in `store` (and
   * `missStore`), which fences its writes there. @defaultValue `store`
   */
  lockStore?: LockStore | undefined
  /** Carries invalidation and purge events. @defaultValue this thread's shared `LocalBus` */
  bus?: EventBus | undefined
  /** L1 slots, at most 1,000,000 (56 bytes each, allocated up front); `0` disables L1. Ignored when another cache of the same name and store already made the L1. @defaultValue 100 */
  lruSize?: number | undefined
  /** A custom L1, used as given (not shared). */
  lru?: L1Store | undefined
  /** TTL of values. @defaultValue 30_000 */
  ttl?: number | undefined
  /** TTL of "not found" entries. @defaultValue 5_000 */
  negTtl?: number | undefined
  /** Serve and write back stale values for this long when the loader fails or the lock wait times out; must be > 0. @defaultValue off */
  resurrectTtl?: number | undefined
  /**
   * Stale-while-revalidate: for this long after a value expires, `get`
   * answers it at once (`hitLevel 4`, `stale: true`) and starts one
   * background reload of the key (one across every cache sharing the lock
   * store). The reload's value replaces it in L2, then in every L1 (through
   * the bus). A value that a purge expired is never served this way.
   * `0`: off. @defaultValue 0
   */
  staleWhileRevalidate?: number | undefined
  /**
   * Refresh-ahead, a fraction of the TTL in `(0, 1)`: a read in the last
   * `1 - refreshAhead` of a value's life starts one background reload (one
   * across every cache sharing the lock store), so a hot key is reloaded
   * before it expires. L1 keeps a value until that point only, then reads
   * L2 once. @defaultValue off
   */
  refreshAhead?: number | undefined
  /** Soft and hard limits of a load; see {@link LoaderTimeout}. @defaultValue none */
  loaderTimeout?: LoaderTimeout | undefined
  /**
   * Called with the error of a background reload (`staleWhileRevalidate`,
   * `refreshAhead`) that failed, and its key. Background failures are also
   * counted in `stats().backgroundErrors`; they never reject anything. What
   * the hook throws is ignored. @defaultValue none
   */
  onBackgroundError?: ((error: Error, key: string) => void) | undefined
  /** Transforms a value as it enters L1 (never on L1 hits or negative entries); what `get` answers. */
  l1Serializer?: ((value: V) => L1) | undefined
  /** Tries for an L2 write that finds no memory. @defaultValue 3 */
  setTries?: number | undefined
  /** How long to wait for another worker's loader, at most 2^31 - 1 (a timer's longest delay). @defaultValue 5_000 */
  lockTimeout?: number | undefined
  /** The lease of a loader lock. @defaultValue 30_000 */
  lockExptime?: number | undefined
  /**
   * Drives every TTL of this cache and of its default store (a store passed
   * in keeps its own clock); lock waits use real time.
   * @defaultValue `Date.now`
   */
  clock?: (() => number) | undefined
}

/** Per-call options of `get`, `lookup` and `getBulk`; they override the cache's. */
export type GetOptions<V, L1 = V> = Pick<
  MLCacheOptions<V, L1>,
  | 'ttl'
  | 'negTtl'
  | 'resurrectTtl'
  | 'l1Serializer'
  | 'setTries'
  | 'lockTimeout'
  | 'lockExptime'
  | 'staleWhileRevalidate'
  | 'refreshAhead'
  | 'loaderTimeout'
>

/** Per-call options of `set`. */
export type SetOptions<V, L1 = V> = Pick<MLCacheOptions<V, L1>, 'ttl' | 'negTtl' | 'l1Serializer' | 'setTries'>

/**
 * Counters of one cache instance since it was created or last read with
 * `stats({ reset: true })` (an addition to the contract). Cheap enough to be
 * always on: an L1 hit costs one integer increment.
 *
 * Every `get`, `lookup` and `getBulk` op that does not fail is counted in
 * exactly one of `l1Hits`, `l2Hits`, `loads`, `staleServed` and
 * `missesWithoutLoader` (its `hitLevel`), so their sum is the number of
 * answers and each divided by it is a hit rate. Calls that reject are in
 * none of them (see `loaderErrors`, `lockTimeouts`).
 */
export interface MLCacheStats {
  /** Answers from this worker's L1 (`hitLevel 1`), cached "not found" included. */
  l1Hits: number
  /**
   * Answers from L2 (`hitLevel 2`): read after an L1 miss, after waiting for
   * another load's lock, or shared with a load of this thread (1,000 callers
   * of one cold key: 1 load and 999 L2 hits).
   */
  l2Hits: number
  /** Answers produced by this caller's own loader call (`hitLevel 3`). */
  loads: number
  /** Stale values served (`hitLevel 4`): resurrected, within `staleWhileRevalidate`, after a soft `loaderTimeout`, or after a lock or hard loader timeout with `resurrectTtl`. */
  staleServed: number
  /** The part of `l1Hits` and `l2Hits` that answered "not found" (a negative entry). */
  negativeHits: number
  /** Calls without a loader that found nothing fresh (`hitLevel -1`). */
  missesWithoutLoader: number
  /** Loader invocations by this cache, failed ones included. */
  loaderCalls: number
  /** Loader invocations that threw or rejected (whether or not a stale value was then served). */
  loaderErrors: number
  /** Loads given up at their hard `loaderTimeout` (the loader's `ctx.signal` aborted), or lock waits that ran into it. */
  loaderTimeouts: number
  /** Background reloads that ran the loader (`staleWhileRevalidate`, `refreshAhead`), failed ones included. */
  backgroundReloads: number
  /** Background reloads that failed (also given to `onBackgroundError`); the stale value stays. */
  backgroundErrors: number
  /**
   * Loads that found the loader lock held by another load (of any worker)
   * and waited for it; counted once per load however often it re-waits.
   * Callers sharing a load of their own thread take no lock and are not counted.
   */
  lockWaits: number
  /** Lock waits that ran out of `lockTimeout` (a subset of `lockWaits`). */
  lockTimeouts: number
  /** Stale values written back for `resurrectTtl` after a loader failure. */
  resurrections: number
  /** L2 entries that failed to decode on a `get`/`lookup` and were deleted (read as misses). */
  decodeErrors: number
  /**
   * L2 writes (by `get`'s loads and resurrections, and by `set`) that still
   * found no memory after `setTries` tries: `set` rejected, `get` served the
   * value from L1 only.
   */
  l2NoMemory: number
  /**
   * Writes of a load (or a resurrection) that its store refused because the
   * load had lost its lock (the lease ended) or a `set`, `delete` or `purge`
   * of the key raced it: the value was served to its callers but kept in
   * neither L2 nor L1, so nothing older than that change stays cached.
   */
  fencedWrites: number
  /**
   * Failed L2 calls the cache rode out: a read before a loader ran (the
   * loader ran as on a miss) and the write of a loaded value (served and
   * kept in L1). Failures that reject (`L2Error`) are not counted.
   */
  l2Errors: number
  /**
   * Unexpired entries the L2 store evicted to make room, summed over `store`
   * and `missStore`. Store-wide: every cache name and worker on the store
   * contributes. Present only when a store reports it (a SharedDict does,
   * through its `stats()`); absent rather than `0` for stores that may evict
   * without telling.
   */
  forcibleEvictions?: number
}
