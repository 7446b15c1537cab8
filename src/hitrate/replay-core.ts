/**
 * The replay loop shared by the calling thread and the replay workers. Where
 * each request was served from is read from the cache's own `stats()`, the
 * counters users read on their own traffic, so the tool measures what they
 * would measure.
 */
import { MLCache } from '../mlcache.js'
import type { L2Store } from '../l2/l2-store.js'

/** How the requests of a replay were served. */
export interface ReplayCounts {
  /** Served by this thread's L1 (`hitLevel` 1). */
  l1: number
  /** Served by the shared L2 (`hitLevel` 2). */
  l2: number
  /** Served by the loader (`hitLevel` 3). */
  loader: number
}

/** The value every key loads to: small, so the L2 byte budget goes to keys rather than values. */
const VALUE = 1
const loadValue = (): number => VALUE

/** The cache name of replays (the L2 namespace). */
const CACHE_NAME = 'hitrate'

/**
 * A fresh MLCache for a replay: no TTL (`ttl: 0`), since the replay must not
 * depend on how fast it runs, and its own L1 of `lruSize` entries.
 * Every call passes a different `store` object, and MLCache shares an L1
 * only between caches of the same name and store, so replays never share
 * an L1.
 */
export function replayCache(store: L2Store, lruSize: number): MLCache<number> {
  return new MLCache<number>(CACHE_NAME, { store, lruSize, ttl: 0 })
}

/** An empty {@link ReplayCounts}. */
export function zeroCounts(): ReplayCounts {
  return { l1: 0, l2: 0, loader: 0 }
}

/** Gets `keys` one after the other, as one client would. */
export async function replayKeys(cache: MLCache<number>, keys: readonly string[]): Promise<void> {
  for (const key of keys) await cache.get(key, loadValue)
}

/**
 * Where the requests of `cache` were served from, by its `stats()`: L1
 * hits, L2 hits and loads.
 * @throws {Error} the cache answered some request another way (stale, without a loader, a failed load),
 *   which a plain replay cannot produce
 */
export function countsOf(cache: MLCache<number>): ReplayCounts {
  const { l1Hits, l2Hits, loads, staleServed, missesWithoutLoader, loaderErrors, lockTimeouts } = cache.stats()
  const unexpected = staleServed + missesWithoutLoader + loaderErrors + lockTimeouts
  if (unexpected > 0) throw new Error(`the replay answered ${unexpected} request(s) stale, without a loader, by a failed load or a lock timeout`)
  return { l1: l1Hits, l2: l2Hits, loader: loads }
}
