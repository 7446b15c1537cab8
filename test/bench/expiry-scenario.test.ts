/**
 * The benchmark's expiry scenario, run end to end with the smoke counts
 * (its figures mean nothing here): every variant answers the hot key
 * through a round that crosses an expiry, so each loads again at least
 * once, and the table has a row per variant. Nothing is asserted on the
 * latencies.
 */
import { afterAll, describe, expect, it, vi } from 'vitest'

// The harness reads the smoke switch when it is first imported: set it before the bench modules load.
const smokeBefore = process.env.MLCACHE_BENCH_SMOKE
process.env.MLCACHE_BENCH_SMOKE = '1'
const { Report } = await import('../../bench/report.js')
const { expiry } = await import('../../bench/scenarios/expiry.js')

afterAll(() => {
  if (smokeBefore === undefined) delete process.env.MLCACHE_BENCH_SMOKE
  else process.env.MLCACHE_BENCH_SMOKE = smokeBefore
})

describe('bench expiry scenario (smoke counts)', () => {
  it('measures every variant across an expiry and reports a row each', async () => {
    const report = new Report()
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      await expiry(report)
    } finally {
      write.mockRestore()
    }
    const [table] = report.tables
    expect(table?.header).toEqual(['variant', 'p50', 'p99', 'p99.9', 'max', 'gets/s', 'loader calls', 'gets > 5 ms'])
    expect(table?.rows.map((row) => row[0])).toEqual([
      'MLCache (no options)',
      'MLCache staleWhileRevalidate 1000 ms',
      'MLCache refreshAhead 0.8',
      'bentocache (no grace, its default)',
      'bentocache grace 1200 ms, timeout 0',
      'cache-manager refreshThreshold 40 ms',
    ])
    for (const row of table?.rows ?? []) {
      // Gets start by the wall clock for longer than the TTL: whatever the machine's speed, the entry expires or is refreshed during the round.
      expect(Number(row[6])).toBeGreaterThanOrEqual(1)
      expect(Number(row[5])).toBeGreaterThan(0)
      for (const latency of row.slice(1, 5)) expect(latency).toMatch(/^\d+(\.\d)? (µs|ms)$/)
    }
    expect(report.ratios).toEqual([])
  }, 60_000)
})
