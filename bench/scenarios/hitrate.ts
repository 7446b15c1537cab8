/**
 * Hit rates on real traces: oltp (ARC paper) and web07 (cache2k) replayed
 * through real MLCache instances in this thread, L1 only and L1 in front of
 * a SharedDict L2, beside an exact LRU and Belady's OPT of the same number
 * of entries. Uses the hit-rate tool of `src/hitrate/` (the engine of
 * `mlcache-bench hitrate`): each trace is read once, LRU and OPT are
 * computed once per size (by the L1-only sweep), and the L1+L2 replay reuses
 * the parsed keys. Prints a table per trace and writes one SVG chart per
 * trace to `bench/results/hitrate-<trace>.svg`.
 */
import { fileURLToPath } from 'node:url'
import { type HitRateRow, measureHitRates } from '../../src/hitrate/hitrate.js'
import { plotHitRates } from '../../src/hitrate/plot.js'
import { type TraceFormat, loadTrace } from '../../src/hitrate/readers.js'
import { SMOKE } from '../harness.js'
import { replay } from '../../src/hitrate/replay.js'
import type { Report } from '../report.js'

interface Trace {
  name: string
  file: string
  format: TraceFormat
  /** L1 entries swept, one row each. */
  sizes: readonly number[]
  /** Bytes of the SharedDict of the L1+L2 replay. */
  l2: string
}

const TRACES: readonly Trace[] = [
  { name: 'oltp', file: 'oltp.arc.gz', format: 'arc', sizes: [1_000, 2_000, 5_000, 10_000], l2: '4m' },
  { name: 'web07', file: 'web07.cache2k.gz', format: 'cache2k', sizes: [100, 500, 1_000, 2_000, 5_000], l2: '1m' },
]

const pct = (value: number): string => value.toFixed(2)

export async function hitRate(report: Report): Promise<void> {
  for (const trace of TRACES) {
    const startedAt = performance.now()
    const loaded = await loadTrace(fileURLToPath(new URL(`../traces/${trace.file}`, import.meta.url)), trace.format)
    // A smoke run replays the first 20,000 requests only.
    const keys = SMOKE ? loaded.slice(0, 20_000) : loaded
    const requests = keys.length.toLocaleString('en-US')
    // The first request of every key reaches the loader whatever the cache: the floor of the loader column.
    const compulsory = (100 * new Set(keys).size) / keys.length
    const title = `Hit rate, ${trace.name} (${trace.format}, ${requests} requests): L1 only and L1 + ${trace.l2} SharedDict L2, 1 thread`
    report.heading(title)
    // L1 only, with the exact LRU and OPT of each size beside it (computed once per size).
    const l1Only = await measureHitRates(keys, { sizes: trace.sizes, l2: 0 })
    const rows: string[][] = []
    const chart: HitRateRow[] = []
    const mismatches: string[] = []
    for (const alone of l1Only) {
      const counts = await replay(keys, { l1: alone.size, l2: trace.l2 })
      const percent = (count: number): number => (100 * count) / keys.length
      const both: HitRateRow = { ...alone, l1: percent(counts.l1), l2: percent(counts.l2), loader: percent(counts.loader) }
      chart.push(both)
      // Both figures are 100 * hits / requests: equal exactly when the hit counts are equal.
      if (alone.l1 !== alone.lru) mismatches.push(`${alone.size}: L1-only ${pct(alone.l1)} % vs LRU ${pct(alone.lru)} %`)
      rows.push([
        alone.size.toLocaleString('en-US'),
        pct(alone.l1),
        pct(both.l1),
        pct(both.l2),
        pct(both.l1 + both.l2),
        pct(both.loader),
        pct(alone.lru),
        pct(alone.opt),
      ])
    }
    const svg = `hitrate-${trace.name}.svg`
    report.files.set(svg, plotHitRates(chart, `${trace.name}: hit rate by L1 size (L2 ${trace.l2})`))
    for (const mismatch of mismatches) report.line(`WARNING: the L1-only replay must equal the exact LRU, and does not at size ${mismatch}`)
    report.table({
      title,
      header: ['L1 size', 'L1-only %', 'L1+L2: L1 %', 'L2 %', 'total %', 'loader %', 'LRU %', 'OPT %'],
      rows,
      note:
        `% of requests; L1-only: MLCache with no L2 (must equal the exact LRU column: ` +
        `${mismatches.length === 0 ? 'it does at every size' : `MISMATCH at ${mismatches.length} size(s)`}); ` +
        `L1+L2: the same L1 in front of a SharedDict of ${trace.l2} bytes, total = L1 + L2, loader = the rest ` +
        `(at least ${pct(compulsory)} %: the first request of each key); ` +
        `LRU, OPT: an exact LRU and Belady's OPT of L1-size entries; chart: bench/results/${svg}`,
    })
    report.line(`${trace.name}: read, replayed and plotted in ${((performance.now() - startedAt) / 1_000).toFixed(1)} s`)
  }
}
