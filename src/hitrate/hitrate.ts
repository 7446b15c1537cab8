/**
 * The rows of the hit-rate report: a replay through MLCache beside an exact
 * LRU and Belady's OPT of the same number of entries.
 */
import { lruHits, optHits, toIds } from './policies.js'
import { replay } from './replay.js'

/** One row of the report; every figure is a percentage of the trace's requests. */
export interface HitRateRow {
  /** L1 entries (MLCache's `lruSize`, and the size of the LRU and OPT beside it). */
  size: number
  /** Requests served by L1. */
  l1: number
  /** Requests served by the shared L2. */
  l2: number
  /** Requests that reached the loader. */
  loader: number
  /** Hit rate of an exact LRU of `size` entries. */
  lru: number
  /** Hit rate of Belady's OPT with `size` entries. */
  opt: number
}

/** What to measure. */
export interface HitRateOptions {
  /** The L1 sizes to sweep, one row each. */
  sizes: readonly number[]
  /** Bytes of the shared SharedDict (`0`: L1 only), as MLCache's replay takes it. */
  l2: number | string
  /** Threads to spread the requests over (default 1: this thread). */
  workers?: number
}

/**
 * Replays `keys` once per size and computes LRU and OPT beside each replay.
 * @throws {RangeError} an empty trace, or a bad size, `l2` or `workers` (rejects)
 */
export async function measureHitRates(keys: readonly string[], options: HitRateOptions): Promise<HitRateRow[]> {
  if (keys.length === 0) throw new RangeError('the trace has no requests')
  const ids = toIds(keys)
  const percent = (count: number): number => (100 * count) / keys.length
  const rows: HitRateRow[] = []
  for (const size of options.sizes) {
    const counts = await replay(keys, { l1: size, l2: options.l2, workers: options.workers ?? 1 })
    rows.push({
      size,
      l1: percent(counts.l1),
      l2: percent(counts.l2),
      loader: percent(counts.loader),
      lru: percent(lruHits(ids, size)),
      opt: percent(optHits(ids, size)),
    })
  }
  return rows
}
