import { describe, expect, it } from 'vitest'
import { EncodeError } from '../../src/errors.js'
import { L2_MODE } from '../helpers/cache-factory.js'
import { keysOf, workers } from './page-helpers.js'

async function* slowly<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) {
    await new Promise((resolve) => setImmediate(resolve))
    yield item
  }
}

describe('warmup()', () => {
  it('warmup() loads every pair into L2 and reports entries and bytes', async () => {
    const { caches: [a] } = workers(1)
    const report = await a!.warmup([
      ['x', { id: 1 }],
      ['y', 'two'],
      ['gone', null],
    ])
    expect(report).toMatchObject({ entries: 3, full: false })
    expect(report.bytes).toBeGreaterThan(0)
    expect(report.duration).toBeGreaterThanOrEqual(0)
    expect(await a!.lookup('x')).toEqual({ value: { id: 1 }, hitLevel: 2, stale: false })
    expect(await a!.lookup('gone', () => 'loaded')).toEqual({ value: undefined, hitLevel: 2, stale: false })
  })

  it('warmup() uses the given ttl and negTtl, else the cache ones', async () => {
    const { caches: [a] } = workers(1)
    await a!.warmup([['short', 1]], { ttl: 500 })
    await a!.warmup([['missing', undefined]], { negTtl: 50 })
    await a!.warmup([['default', 1]])
    expect(await a!.peek('short')).toMatchObject({ ttl: 500 })
    expect(await a!.peek('missing')).toMatchObject({ ttl: 50 })
    expect(await a!.peek('default')).toMatchObject({ ttl: 30_000 })
  })

  it('warmup() reads an async iterable with writes in flight bounded by concurrency', async () => {
    const { caches: [a] } = workers(1)
    const pairs = Array.from({ length: 50 }, (_, i) => [`k${i}`, i] as const)
    expect(await a!.warmup(slowly(pairs), { concurrency: 4 })).toMatchObject({ entries: 50, full: false })
    expect(await a!.get('k49')).toBe(49)
  })

  it('warmup() stops at the first entry L2 has no room for, keeps what it wrote and evicts nothing', async () => {
    const { caches: [a], dict } = workers(1, 'cfg', '64k')
    for (let i = 0; i < 10; i++) await a!.set(`live${i}`, 'x'.repeat(100))
    let pulled = 0
    function* many(): Iterable<[string, string]> {
      for (let i = 0; i < 10_000; i++) {
        pulled++
        yield [`w${i}`, 'y'.repeat(100)]
      }
    }
    const report = await a!.warmup(many())
    expect(report.full).toBe(true)
    expect(report.entries).toBeGreaterThan(0)
    // It pulls the entry that did not fit, and on an asynchronous store those read while writes were in flight (16 at most).
    if (L2_MODE === 'sync') expect(pulled).toBe(report.entries + 1)
    else expect(pulled - report.entries).toBeLessThanOrEqual(16)
    const keys = keysOf(dict, 'cfg')
    for (let i = 0; i < 10; i++) expect(keys).toContain(`live${i}`)
    expect(keys.filter((key) => key.startsWith('w'))).toHaveLength(report.entries)
  })

  it('warmup() clears every L1 of the name, so none keeps an older value of a warmed key', async () => {
    const { caches: [a, b] } = workers(2)
    expect(await b!.get('k', () => 'old')).toBe('old')
    await a!.warmup([['k', 'warm']])
    await b!.update()
    expect(await b!.lookup('k')).toEqual({ value: 'warm', hitLevel: 2, stale: false })
  })

  it('warmup() rejects an entry that is not a pair or cannot be encoded, keeping what it wrote before', async () => {
    const { caches: [a] } = workers(1)
    await expect(a!.warmup([['ok', 1], 'nope' as never])).rejects.toThrow(new TypeError('entries must yield [key, value] pairs'))
    await expect(a!.warmup([['ok2', 2], ['bad', () => 1]])).rejects.toBeInstanceOf(EncodeError)
    expect([await a!.get('ok'), await a!.get('ok2')]).toEqual([1, 2])
  })

  it('warmup() rejects bad arguments with TypeError or RangeError', async () => {
    const { caches: [a] } = workers(1)
    await expect(a!.warmup(42 as never)).rejects.toBeInstanceOf(TypeError)
    await expect(a!.warmup([], { concurrency: 0 })).rejects.toBeInstanceOf(RangeError)
    await expect(a!.warmup([], { ttl: -1 })).rejects.toBeInstanceOf(RangeError)
    await expect(a!.warmup([], { ttl: 1, extra: 1 } as never)).rejects.toBeInstanceOf(TypeError)
  })
})
