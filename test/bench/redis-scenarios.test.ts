/**
 * The benchmark's Redis scenarios, run end to end with the smoke counts
 * (their figures mean nothing here): the cross-process stampede forks its
 * children, counts loader calls in Redis and leaves no process behind; the
 * Redis L2 hit measures every reader and compares MLCache with bentocache;
 * the tiered scenario measures MLCache over SharedDict, RedisStore and
 * TieredStore, its in-order TieredStore reads never reaching Redis; and
 * without redis-server they skip, unless MLCACHE_REQUIRE_REDIS=1.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Report as ReportClass } from '../../bench/report.js'
import { redisServerInstalled } from '../helpers/redis-server.js'
import { REQUIRE_REDIS_ENV } from '../redis-setup.js'

// The harness reads the smoke switch when it is first imported: set it before the bench modules load.
const smokeBefore = process.env.MLCACHE_BENCH_SMOKE
process.env.MLCACHE_BENCH_SMOKE = '1'
const { Report } = await import('../../bench/report.js')
const { startBenchRedis } = await import('../../bench/redis-readers.js')
const { redisL2Hit } = await import('../../bench/scenarios/redis-l2.js')
const { redisStampede } = await import('../../bench/scenarios/redis-stampede.js')
const { tiered } = await import('../../bench/scenarios/tiered.js')

afterAll(() => {
  if (smokeBefore === undefined) delete process.env.MLCACHE_BENCH_SMOKE
  else process.env.MLCACHE_BENCH_SMOKE = smokeBefore
})

/** Runs a scenario into a fresh report, without its printout. */
async function quietly(scenario: (report: ReportClass) => Promise<void>): Promise<ReportClass> {
  const report = new Report()
  const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  try {
    await scenario(report)
  } finally {
    write.mockRestore()
  }
  return report
}

/** The command lines of this process's children. */
function children(): string[] {
  const out = execFileSync('ps', ['-o', 'args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
  return out.split('\n').filter((line) => line.trim() !== '' && !line.startsWith('ps '))
}

describe.runIf(redisServerInstalled)('bench Redis scenarios (smoke counts)', { timeout: 120_000 }, () => {
  it('redis-stampede: MLCache loads once across the 4 processes, each peer once per process at most; no child or server is left', async () => {
    const report = await quietly(redisStampede)
    const [table] = report.tables
    expect(table?.header).toEqual(['library', 'processes', 'loader calls', 'wall ms'])
    const calls = new Map(table?.rows.map((row) => [row[0], row[2]]))
    expect(calls.get('mlcache')).toBe('1')
    for (const peer of ['bentocache', 'cache-manager']) expect(Number(calls.get(peer))).toBeGreaterThanOrEqual(1)
    for (const peer of ['bentocache', 'cache-manager']) expect(Number(calls.get(peer))).toBeLessThanOrEqual(4)
    for (const row of table?.rows ?? []) expect(Number(row[3])).toBeGreaterThan(0)
    expect(report.ratios).toEqual([expect.objectContaining({ ratio: 1, target: 1, bound: 'max' })])
    expect(children().filter((line) => line.includes('redis-stampede') || line.includes('redis-server'))).toEqual([])
  })

  it('redis-l2: the round-trip floor and every reader over Redis measured, MLCache against bentocache with the target 1x', async () => {
    const report = await quietly(redisL2Hit)
    const [[title, measured] = []] = [...report.results]
    expect(title).toMatch(/^L2 hit over Redis/)
    expect([...(measured?.keys() ?? [])]).toEqual([
      'ioredis GET (raw round trip, no cache), in-order keys',
      'MLCache.get (L1 1k + RedisStore), in-order keys',
      'bentocache get (memory L1 1k + Redis L2), in-order keys',
      'cache-manager get (LRU 1k + Redis), in-order keys',
    ])
    for (const ops of measured?.values() ?? []) expect(ops).toBeGreaterThan(0)
    expect(report.ratios[0]).toMatchObject({ subject: 'MLCache.get (L1 1k + RedisStore), in-order keys', target: 1 })
    expect(report.ratios[0]?.baseline).toMatch(/^bentocache/)
    expect(children().filter((line) => line.includes('redis-server'))).toEqual([])
  })
})

describe.runIf(redisServerInstalled)('bench tiered scenario (smoke counts)', { timeout: 120_000 }, () => {
  it('tiered: MLCache over SharedDict, RedisStore and TieredStore measured in order and with Zipf reads; the in-order TieredStore reads are near hits', async () => {
    const report = await quietly(tiered)
    const [[title, measured] = []] = [...report.results]
    expect(title).toMatch(/^L2 hit over SharedDict, RedisStore and TieredStore/)
    const stores = ['SharedDict', 'RedisStore', 'TieredStore (SharedDict + RedisStore)']
    expect([...(measured?.keys() ?? [])]).toEqual([
      'msgpackr unpack (plain msgpack)',
      ...stores.flatMap((store) => [`MLCache.get over ${store}, in-order keys`, `MLCache.get over ${store}, Zipf 0.99 keys`]),
    ])
    for (const ops of measured?.values() ?? []) expect(ops).toBeGreaterThan(0)
    const [table] = report.tables
    for (const row of table?.rows.filter((cells) => cells[0]?.endsWith('in-order keys')) ?? []) expect(row[2]).toBe('0.0')
    expect(table?.note).toMatch(/read Redis 0 times/)
    expect(report.ratios.length).toBeGreaterThan(0)
    expect(children().filter((line) => line.includes('redis-server'))).toEqual([])
  })
})

describe('bench Redis scenarios without redis-server', () => {
  const path = process.env.PATH
  const required = process.env[REQUIRE_REDIS_ENV]
  let empty: string
  beforeAll(() => {
    empty = mkdtempSync(join(tmpdir(), 'mlcache-no-redis-bench-'))
  })
  afterEach(() => {
    process.env.PATH = path
    if (required === undefined) delete process.env[REQUIRE_REDIS_ENV]
    else process.env[REQUIRE_REDIS_ENV] = required
  })
  afterAll(() => rmSync(empty, { recursive: true, force: true }))

  it('skip with a notice, recording nothing and starting no process', async () => {
    process.env.PATH = empty
    delete process.env[REQUIRE_REDIS_ENV]
    for (const scenario of [redisStampede, redisL2Hit, tiered]) {
      const report = await quietly(scenario)
      expect(report.results.size + report.ratios.length + report.tables.length).toBe(0)
    }
    const lines: string[] = []
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((text) => lines.push(String(text)) > 0)
    try {
      expect(await startBenchRedis(new Report())).toBeUndefined()
    } finally {
      write.mockRestore()
    }
    expect(lines.join('')).toContain('redis-server is not installed: skipping the Redis rows (apt-get install -y redis-server)')
  })

  it(`fail under ${REQUIRE_REDIS_ENV}=1`, async () => {
    process.env.PATH = empty
    process.env[REQUIRE_REDIS_ENV] = '1'
    await expect(quietly(redisStampede)).rejects.toThrow(`${REQUIRE_REDIS_ENV}=1 but redis-server is not on PATH`)
    await expect(quietly(redisL2Hit)).rejects.toThrow(`${REQUIRE_REDIS_ENV}=1 but redis-server is not on PATH`)
    await expect(quietly(tiered)).rejects.toThrow(`${REQUIRE_REDIS_ENV}=1 but redis-server is not on PATH`)
  })
})
