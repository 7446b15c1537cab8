/**
 * Public types of MLCache, as fixed by the contract.
 */
import type { EventBus } from './bus/event-bus.js'
import type { L2Store } from './l2/l2-store.js'

/**
 * Where a value came from (lua-resty-mlcache's `hit_level`):
 * - `1`: L1 (this worker's LRU), including a cached "not found";
 * - `2`: L2 (shared by the workers), including a caller that waited for another loader;
 * - `3`: L3, this caller ran the loader;
 * - `4`: a stale value was served (resurrected, or a lock timeout with `resurrectTtl`);
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
  /** The expired value still in L2, if any. */
  readonly stale?: V | undefined
}

/**
 * Loads a value on a miss (L3). Return or resolve the value; `null` or
 * `undefined` mean "not found" and are cached for `negTtl`. Throw or reject
 * to fail.
 */
export type Loader<V> = (key: string, ctx: LoaderContext<V>) => V | null | undefined | Promise<V | null | undefined>

/** One operation of {@link MLCache.getBulk}. */
export interface BulkOp<V> {
  key: string
  loader: Loader<V>
  options?: GetOptions<V> | undefined
}

/** One result of {@link MLCache.getBulk}, in op order. */
export interface BulkResult<V> {
  value: V | undefined
  hitLevel?: HitLevel
  /** Set when this op failed; its siblings are unaffected. */
  error?: Error
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

/** The L1 a cache may be given instead of its own LRU (an `lru-cache` instance fits). */
export interface L1Store {
  get(key: string): unknown
  set(key: string, value: unknown, options?: { ttl?: number }): unknown
  delete(key: string): unknown
  clear(): void
}

/** Options of {@link MLCache}. Durations are milliseconds; a TTL of `0` never expires. */
export interface MLCacheOptions<V> {
  /** The shared level (L2). @defaultValue a private in-process `SharedDict` of 16 MiB */
  store?: L2Store | undefined
  /** Where negative ("not found") entries live when given (mlcache's `shm_miss`). */
  missStore?: L2Store | undefined
  /** Where loader locks live (mlcache's `shm_locks`). @defaultValue `store` */
  lockStore?: L2Store | undefined
  /** Carries invalidation and purge events. @defaultValue this thread's shared `LocalBus` */
  bus?: EventBus | undefined
  /** L1 slots; `0` disables L1. Ignored when another cache of the same name and store already made the L1. @defaultValue 100 */
  lruSize?: number | undefined
  /** A custom L1, used as given (not shared). */
  lru?: L1Store | undefined
  /** TTL of values. @defaultValue 30_000 */
  ttl?: number | undefined
  /** TTL of "not found" entries. @defaultValue 5_000 */
  negTtl?: number | undefined
  /** Serve and write back stale values for this long when the loader fails or the lock wait times out; must be > 0. @defaultValue off */
  resurrectTtl?: number | undefined
  /** Transforms a value as it enters L1 (never on L1 hits or negative entries). */
  l1Serializer?: ((value: V) => unknown) | undefined
  /** Tries for an L2 write that finds no memory. @defaultValue 3 */
  setTries?: number | undefined
  /** How long to wait for another worker's loader. @defaultValue 5_000 */
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
export type GetOptions<V> = Pick<
  MLCacheOptions<V>,
  'ttl' | 'negTtl' | 'resurrectTtl' | 'l1Serializer' | 'setTries' | 'lockTimeout' | 'lockExptime'
>

/** Per-call options of `set`. */
export type SetOptions<V> = Pick<MLCacheOptions<V>, 'ttl' | 'negTtl' | 'l1Serializer' | 'setTries'>

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
  /** Stale values served (`hitLevel 4`): resurrected, or after a lock timeout with `resurrectTtl`. */
  staleServed: number
  /** The part of `l1Hits` and `l2Hits` that answered "not found" (a negative entry). */
  negativeHits: number
  /** Calls without a loader that found nothing fresh (`hitLevel -1`). */
  missesWithoutLoader: number
  /** Loader invocations by this cache, failed ones included. */
  loaderCalls: number
  /** Loader invocations that threw or rejected (whether or not a stale value was then served). */
  loaderErrors: number
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
   * Unexpired entries the L2 store evicted to make room, summed over `store`
   * and `missStore`. Store-wide: every cache name and worker on the store
   * contributes. Present only when a store reports it (a SharedDict does,
   * through its `stats()`); absent rather than `0` for stores that may evict
   * without telling.
   */
  forcibleEvictions?: number
}
