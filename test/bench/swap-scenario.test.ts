/**
 * The benchmark's swap scenario, run end to end with the smoke counts (its
 * figures mean nothing here): both parts report, and the readers never
 * missed a hot key across the swaps (the scenario throws if they did).
 */
import { afterAll, describe, expect, it, vi } from 'vitest'
import type { Report as ReportClass } from '../../bench/report.js'

// The harness reads the smoke switch when it is first imported: set it before the bench modules load.
const smokeBefore = process.env.MLCACHE_BENCH_SMOKE
process.env.MLCACHE_BENCH_SMOKE = '1'
const { Report } = await import('../../bench/report.js')
const { swap } = await import('../../bench/scenarios/swap.js')

afterAll(() => {
  if (smokeBefore === undefined) delete process.env.MLCACHE_BENCH_SMOKE
  else process.env.MLCACHE_BENCH_SMOKE = smokeBefore
})

describe('bench swap scenario (smoke counts)', () => {
  it('times swap() beside set() and warmup(), and compares the readers during a swap with none', async () => {
    const report = new Report()
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      await swap(report)
    } finally {
      write.mockRestore()
    }
    const [table] = report.tables
    expect(table?.header).toEqual(['method', 'median ms', 'entries/s', 'rounds ms'])
    expect(table?.rows.map((row) => row[0])).toEqual(['MLCache.swap (fill page.set)', 'MLCache.set, one await each', 'MLCache.warmup'])
    for (const row of table?.rows ?? []) expect(Number(row[1])).toBeGreaterThan(0)
    // Two ratios per part, information only.
    expect(report.ratios).toHaveLength(4)
    for (const ratio of report.ratios) expect(ratio).toMatchObject({ target: 0, ratio: expect.any(Number) })
    // A smoke swap is so short that the readers may count no batch of reads during it: >= 0 only.
    for (const ratio of report.ratios) expect(Number.isFinite(ratio.ratio) && ratio.ratio >= 0).toBe(true)
    const readers = [...report.results].find(([title]) => title.includes('reader'))?.[1]
    expect([...(readers?.keys() ?? [])].map((label) => label.replace(/^reads\/s of \d reader\(s\) /, ''))).toEqual([
      'during a swap',
      'without a swap',
      'without a swap, main thread spinning',
    ])
    for (const ops of readers?.values() ?? []) expect(ops).toBeGreaterThanOrEqual(0)
  }, 60_000)
})
