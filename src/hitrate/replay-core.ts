/**
 * The replay loop shared by the calling thread and the replay workers.
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

/**
 * Looks `keys` up one after the other (as one client would), adding to
 * `counts` where each was served from.
 * @throws {Error} a lookup answered a level a plain replay cannot produce (rejects)
 */
export async function replayKeys(cache: MLCache<number>, keys: readonly string[], counts: ReplayCounts): Promise<void> {
  for (const key of keys) {
    const { hitLevel } = await cache.lookup(key, loadValue)
    if (hitLevel === 1) counts.l1++
    else if (hitLevel === 2) counts.l2++
    else if (hitLevel === 3) counts.loader++
    else throw new Error(`unexpected hitLevel ${hitLevel} for key '${key}'`)
  }
}
