/**
 * The counters behind `MLCache.stats()`. They live here so the cache only
 * increments them; snapshots, resets and the store's eviction count are
 * this module's business. L1 hits are the exception: the cache keeps that
 * counter in a field of its own, so the hot path pays a single increment.
 */
import type { ValueStore } from './l2/l2-store.js'
import type { HitLevel, MLCacheStats } from './types.js'

/**
 * The forcible evictions a store reports, duck-typed on SharedDict's
 * `stats()`; `undefined` when it has no such synchronous counter.
 */
function evictionsOf(store: ValueStore): number | undefined {
  const stats = (store as { stats?: unknown }).stats
  if (typeof stats !== 'function') return undefined
  const count = (stats.call(store) as { forcibleEvictions?: unknown } | null | undefined)?.forcibleEvictions
  return typeof count === 'number' ? count : undefined
}

/**
 * The counters of one cache but its L1 hits. Fields are public and plain
 * numbers: the cache increments them directly, with no call. See
 * {@link MLCacheStats} for what each one means.
 */
export class StatsCounters {
  /** {@link MLCacheStats.l2Hits} */
  l2Hits = 0
  /** {@link MLCacheStats.loads} */
  loads = 0
  /** {@link MLCacheStats.staleServed} */
  staleServed = 0
  /** {@link MLCacheStats.negativeHits} */
  negativeHits = 0
  /** {@link MLCacheStats.missesWithoutLoader} */
  missesWithoutLoader = 0
  /** {@link MLCacheStats.loaderCalls} */
  loaderCalls = 0
  /** {@link MLCacheStats.loaderErrors} */
  loaderErrors = 0
  /** {@link MLCacheStats.loaderTimeouts} */
  loaderTimeouts = 0
  /** {@link MLCacheStats.backgroundReloads} */
  backgroundReloads = 0
  /** {@link MLCacheStats.backgroundErrors} */
  backgroundErrors = 0
  /** {@link MLCacheStats.lockWaits} */
  lockWaits = 0
  /** {@link MLCacheStats.lockTimeouts} */
  lockTimeouts = 0
  /** {@link MLCacheStats.resurrections} */
  resurrections = 0
  /** {@link MLCacheStats.decodeErrors} */
  decodeErrors = 0
  /** {@link MLCacheStats.l2NoMemory} */
  l2NoMemory = 0
  /** {@link MLCacheStats.fencedWrites} */
  fencedWrites = 0
  /** {@link MLCacheStats.l2Errors} */
  l2Errors = 0
  /** The L2 stores whose evictions are reported (each once). */
  readonly #stores: readonly ValueStore[]
  /** Their evictions at creation or the last reset: the store's counter is store-wide and never reset by us. */
  #evictionsBase: number | undefined

  /** @param stores - the L2 stores of the cache (`store`, then `missStore` if any); duplicates are ignored */
  constructor(stores: readonly (ValueStore | undefined)[]) {
    this.#stores = [...new Set(stores)].filter((store): store is ValueStore => store !== undefined)
    this.#evictionsBase = this.#evictions()
  }

  /**
   * Counts one answer that did not come from L1, by its hit level. The cache
   * counts level 1 itself (in its own field, on the hot path), so it never
   * passes it here.
   * @param notFound - the answer was "not found" (counted in `negativeHits` for level 2)
   */
  answered(hitLevel: HitLevel, notFound: boolean): void {
    if (hitLevel === 2) {
      this.l2Hits++
      if (notFound) this.negativeHits++
    } else if (hitLevel === 3) this.loads++
    else if (hitLevel === 4) this.staleServed++
    else if (hitLevel === -1) this.missesWithoutLoader++
  }

  /**
   * A copy of the counters, the cache's `l1Hits` added; with `reset`, zeroes
   * them after reading (the cache zeroes its `l1Hits` itself). One read of
   * the store's evictions serves both, so none fall between two periods.
   */
  take(l1Hits: number, reset: boolean): MLCacheStats {
    const evictions = this.#evictions()
    const stats: MLCacheStats = {
      l1Hits,
      l2Hits: this.l2Hits,
      loads: this.loads,
      staleServed: this.staleServed,
      negativeHits: this.negativeHits,
      missesWithoutLoader: this.missesWithoutLoader,
      loaderCalls: this.loaderCalls,
      loaderErrors: this.loaderErrors,
      loaderTimeouts: this.loaderTimeouts,
      backgroundReloads: this.backgroundReloads,
      backgroundErrors: this.backgroundErrors,
      lockWaits: this.lockWaits,
      lockTimeouts: this.lockTimeouts,
      resurrections: this.resurrections,
      decodeErrors: this.decodeErrors,
      l2NoMemory: this.l2NoMemory,
      fencedWrites: this.fencedWrites,
      l2Errors: this.l2Errors,
    }
    // A store that gained a counter later (or a recovered dict whose count went back) starts from 0, never below.
    if (evictions !== undefined) stats.forcibleEvictions = Math.max(0, evictions - (this.#evictionsBase ?? evictions))
    if (reset) {
      this.l2Hits = this.loads = this.staleServed = this.negativeHits = this.missesWithoutLoader = 0
      this.loaderCalls = this.loaderErrors = this.loaderTimeouts = this.backgroundReloads = this.backgroundErrors = 0
      this.lockWaits = this.lockTimeouts = 0
      this.resurrections = this.decodeErrors = this.l2NoMemory = this.fencedWrites = this.l2Errors = 0
      this.#evictionsBase = evictions
    }
    return stats
  }

  /** The summed evictions of the stores that report them; `undefined` when none does. */
  #evictions(): number | undefined {
    let total: number | undefined
    for (const store of this.#stores) {
      const count = evictionsOf(store)
      if (count !== undefined) total = (total ?? 0) + count
    }
    return total
  }
}
