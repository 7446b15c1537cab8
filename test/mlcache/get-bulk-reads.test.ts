/**
 * How getBulk() reads L2: every op that missed L1 in one `readEntries` call
 * when the store has it (one round trip for a networked store), key by key
 * otherwise; answers in op order with their own hit levels; a bad op fails
 * alone and never reaches the store. The store is a pass-through that counts
 * and logs its calls.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { LoaderError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import type { BulkOp, BulkResult, MLCacheOptions } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'
import { failingStore } from '../helpers/failing-store.js'
import { deferred } from '../helpers/deferred.js'

const fail = (): never => {
  throw new Error('database down')
}

/**
 * A cache over a counting store (with `readEntries` unless told otherwise)
 * holding, before the counts start: `l1` in L1, `l2` and `gone` ("not
 * found") in L2 only.
 */
async function bulkCache(options: { readEntries?: boolean } & MLCacheOptions<string> = {}) {
  const { readEntries, ...cacheOptions } = options
  const clock = fakeClock()
  const dict = testDict(clock)
  const store = failingStore(cacheStore(dict), 'reject', readEntries === undefined ? {} : { readEntries })
  const lru = testLru(clock)
  const cache = new MLCache<string>('c', { store, lru, clock: clock.now, ...cacheOptions })
  onTestFinished(() => cache.close())
  await cache.get('l1', () => 'one')
  await cache.get('l2', () => 'two')
  await cache.get('gone', () => null)
  lru.delete('l2')
  lru.delete('gone')
  store.resetCounts()
  return { cache, store, dict, lru }
}

/** The keys of each `readEntries` call, in order. */
function bulkReads(store: ReturnType<typeof failingStore>): unknown[] {
  return store.log.filter(({ method }) => method === 'readEntries').map(({ args }) => args[1])
}

const levels = (results: BulkResult<unknown>[]) => results.map((result) => result.hitLevel)

describe('getBulk() and L2', () => {
  it('getBulk() reads every L1 miss in one readEntries call, in op order, and answers hit levels 1, 2 and 3', async () => {
    const { cache, store } = await bulkCache()
    const loader = countingLoader((key: string) => `loaded ${key}`)
    const results = await cache.getBulk([
      { key: 'cold-a', loader },
      { key: 'l2', loader },
      { key: 'l1', loader },
      { key: 'gone', loader },
      { key: 'cold-b', loader },
    ])
    expect(results).toEqual([
      { value: 'loaded cold-a', hitLevel: 3 },
      { value: 'two', hitLevel: 2 },
      { value: 'one', hitLevel: 1 },
      { value: undefined, hitLevel: 2 },
      { value: 'loaded cold-b', hitLevel: 3 },
    ])
    expect(loader.calls).toBe(2)
    expect(bulkReads(store)).toEqual([['cold-a', 'l2', 'gone', 'cold-b']])
    // The ops found in L2 were not read again one by one; a load may re-read its key under its lock.
    const singleReads = store.log.filter(({ method }) => method === 'readEntry').map(({ args }) => args[1])
    expect(singleReads).not.toContain('l2')
    expect(singleReads).not.toContain('gone')
    expect(singleReads.length).toBeLessThanOrEqual(loader.calls)
  })

  it('getBulk() promotes what it read from L2 into L1', async () => {
    const { cache, lru } = await bulkCache()
    await cache.getBulk([
      { key: 'l2', loader: fail },
      { key: 'cold', loader: () => 'loaded' },
    ])
    expect(lru.get('l2')).toBe('two')
    expect(await cache.lookup('l2')).toMatchObject({ value: 'two', hitLevel: 1 })
    expect(await cache.lookup('cold')).toMatchObject({ value: 'loaded', hitLevel: 1 })
  })

  it('getBulk() answers in op order whatever order the loaders finish in', async () => {
    const { cache } = await bulkCache()
    const gates = [deferred<string>(), deferred<string>(), deferred<string>()]
    const ops = gates.map((gate, i) => ({ key: `k${i}`, loader: () => gate.promise }))
    const pending = cache.getBulk(ops, { concurrency: 3 })
    for (const [i, gate] of [...gates.entries()].reverse()) {
      // Let the later ones finish first.
      await new Promise((resolve) => setImmediate(resolve))
      gate.resolve(`v${i}`)
    }
    expect(await pending).toEqual([
      { value: 'v0', hitLevel: 3 },
      { value: 'v1', hitLevel: 3 },
      { value: 'v2', hitLevel: 3 },
    ])
  })

  it('getBulk() fails a bad op alone, and only the good ops reach the store', async () => {
    const { cache, store } = await bulkCache()
    const ok = () => 'ok'
    const results = await cache.getBulk([
      { key: 'good', loader: ok },
      { key: '', loader: ok },
      { key: 5, loader: ok } as unknown as BulkOp<string>,
      { key: 'x'.repeat(65_536), loader: ok },
      { key: 'no loader' } as unknown as BulkOp<string>,
      { key: 'not a function', loader: 'nope' } as unknown as BulkOp<string>,
      { key: 'bad ttl', loader: ok, options: { ttl: -1 } },
      { key: 'unknown option', loader: ok, options: { negTTL: 5 } as never },
      null as unknown as BulkOp<string>,
      { key: 'throws', loader: fail },
      { key: 'l2', loader: ok },
      { key: 'l1', loader: ok, options: { ttl: -1 } },
    ])
    expect(results[0]).toEqual({ value: 'ok', hitLevel: 3 })
    expect(results[1]?.error).toEqual(new RangeError('key must not be empty'))
    expect(results[2]?.error).toEqual(new TypeError('key must be a string'))
    expect(results[3]?.error).toEqual(new RangeError('key must be at most 65535 UTF-8 bytes'))
    expect(results[4]?.error).toEqual(new TypeError('ops[4].loader must be a function'))
    expect(results[5]?.error).toEqual(new TypeError('ops[5].loader must be a function'))
    expect(results[6]?.error).toEqual(new RangeError('options.ttl must be >= 0'))
    expect(results[7]?.error).toEqual(new TypeError('options.negTTL is not a known option'))
    expect(results[8]?.error).toEqual(new TypeError('ops[8] must be an object'))
    expect(results[9]?.error).toBeInstanceOf(LoaderError)
    expect(results[10]).toEqual({ value: 'two', hitLevel: 2 })
    // An L1 hit does not validate its options, as get() does not.
    expect(results[11]).toEqual({ value: 'one', hitLevel: 1 })
    for (const failed of results.slice(1, 10)) {
      expect(failed.value).toBeUndefined()
      expect(failed.hitLevel).toBeUndefined()
    }
    expect(bulkReads(store)).toEqual([['good', 'throws', 'l2']])
  })

  it('getBulk() reads key by key from a store without readEntries, with the same answers', async () => {
    const { cache, store } = await bulkCache({ readEntries: false })
    expect(store.readEntries).toBeUndefined()
    const results = await cache.getBulk([
      { key: 'cold', loader: () => 'loaded' },
      { key: 'l2', loader: fail },
      { key: 'l1', loader: fail },
      { key: 'gone', loader: fail },
    ])
    expect(results).toEqual([
      { value: 'loaded', hitLevel: 3 },
      { value: 'two', hitLevel: 2 },
      { value: 'one', hitLevel: 1 },
      { value: undefined, hitLevel: 2 },
    ])
    expect(store.calls.readEntries).toBe(0)
    const singleReads = store.log.filter(({ method }) => method === 'readEntry').map(({ args }) => args[1])
    expect(new Set(singleReads)).toEqual(new Set(['cold', 'l2', 'gone']))
  })

  it('getBulk() finds negative entries in the missStore', async () => {
    const clock = fakeClock()
    const missDict = testDict(clock)
    const { cache, lru } = await bulkCache({ missStore: cacheStore(missDict) })
    await cache.set('absent', null)
    lru.delete('absent')
    expect(missDict.readEntry('c', 'absent')).toBeDefined()
    expect(
      levels(
        await cache.getBulk([
          { key: 'absent', loader: fail },
          { key: 'l2', loader: fail },
        ]),
      ),
    ).toEqual([2, 2])
  })
})
