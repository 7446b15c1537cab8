import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LoaderError, LockTimeoutError, NoMemoryError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import type { MLCacheStats } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, l2CallsSettled, testCache, testDict } from '../helpers/cache-factory.js'
import { wrapStore } from '../helpers/wrap-store.js'
import { deferred } from '../helpers/deferred.js'

const fail = (): never => {
  throw new Error('database down')
}

/** Every counter at 0, `forcibleEvictions` included (the test caches run on a SharedDict). */
const ZERO: MLCacheStats = {
  l1Hits: 0,
  l2Hits: 0,
  loads: 0,
  staleServed: 0,
  negativeHits: 0,
  missesWithoutLoader: 0,
  loaderCalls: 0,
  loaderErrors: 0,
  loaderTimeouts: 0,
  backgroundReloads: 0,
  backgroundErrors: 0,
  lockWaits: 0,
  lockTimeouts: 0,
  resurrections: 0,
  decodeErrors: 0,
  l2NoMemory: 0,
  fencedWrites: 0,
  l2Errors: 0,
  forcibleEvictions: 0,
}

/** The answers counted by hit level: what every non-failing get/lookup/getBulk op adds exactly one to. */
function answers(stats: MLCacheStats): number {
  return stats.l1Hits + stats.l2Hits + stats.loads + stats.staleServed + stats.missesWithoutLoader
}

describe('cache.stats()', () => {
  it('stats() starts at zero, with the SharedDict store reporting forcibleEvictions', () => {
    const { cache } = testCache()
    expect(cache.stats()).toEqual(ZERO)
  })

  it('stats() counts an L1 hit, an L2 hit and a load', async () => {
    const { cache, lru } = testCache()
    const loader = countingLoader(() => 'v')
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 3 })
    expect(cache.stats()).toEqual({ ...ZERO, loads: 1, loaderCalls: 1 })
    // get()'s fast path and lookup() both count L1 hits.
    expect(await cache.get('k', loader)).toBe('v')
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 1 })
    expect(cache.stats()).toEqual({ ...ZERO, l1Hits: 2, loads: 1, loaderCalls: 1 })
    // get()'s value-only L2 path and lookup()'s both count L2 hits.
    lru.delete('k')
    expect(await cache.get('k', loader)).toBe('v')
    lru.delete('k')
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 2 })
    expect(cache.stats()).toEqual({ ...ZERO, l1Hits: 2, l2Hits: 2, loads: 1, loaderCalls: 1 })
  })

  it('stats() counts negative hits served from L1 and from L2, within l1Hits and l2Hits', async () => {
    const { cache, lru } = testCache()
    expect(await cache.get('absent', () => null)).toBeUndefined()
    expect(await cache.get('absent')).toBeUndefined()
    expect(await cache.lookup('absent')).toMatchObject({ hitLevel: 1, value: undefined })
    lru.delete('absent')
    expect(await cache.get('absent')).toBeUndefined()
    lru.delete('absent')
    expect(await cache.lookup('absent')).toMatchObject({ hitLevel: 2, value: undefined })
    // A positive hit is not a negative one.
    await cache.set('present', 'v')
    expect(await cache.get('present')).toBe('v')
    expect(cache.stats()).toEqual({ ...ZERO, l1Hits: 3, l2Hits: 2, loads: 1, loaderCalls: 1, negativeHits: 4 })
  })

  it('stats() counts misses without a loader, not misses a loader filled', async () => {
    const { cache } = testCache()
    expect(await cache.get('a')).toBeUndefined()
    expect(await cache.lookup('b')).toMatchObject({ hitLevel: -1 })
    expect(cache.stats()).toEqual({ ...ZERO, missesWithoutLoader: 2 })
  })

  it('stats() counts 1000 callers sharing one load as 1 load and 999 L2 hits', async () => {
    const { cache } = testCache()
    const gate = deferred<string>()
    const loader = countingLoader(() => gate.promise)
    const calls = Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? cache.get('cold', loader) : cache.lookup('cold', loader)))
    gate.resolve('v')
    await Promise.all(calls)
    expect(loader.calls).toBe(1)
    expect(cache.stats()).toEqual({ ...ZERO, loads: 1, l2Hits: 999, loaderCalls: 1 })
  })

  it('stats() counts loader errors, resurrections and stale values served; failed calls are no answer', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 100, resurrectTtl: 1_000 })
    await expect(cache.get('fresh', fail)).rejects.toBeInstanceOf(LoaderError)
    expect(cache.stats()).toEqual({ ...ZERO, loaderCalls: 1, loaderErrors: 1 })
    await cache.get('k', () => 'old')
    clock.advance(150)
    lru.delete('k')
    expect(await cache.lookup('k', fail)).toMatchObject({ value: 'old', hitLevel: 4 })
    // L2 now holds the resurrected entry: an L2 reader is served stale too.
    lru.delete('k')
    expect(await cache.get('k', fail)).toBe('old')
    expect(cache.stats()).toEqual({ ...ZERO, loads: 1, loaderCalls: 3, loaderErrors: 2, resurrections: 1, staleServed: 2 })
  })

  it('stats() counts a lock wait that ends with the holder\'s value as a wait and an L2 hit', async () => {
    const { cache, store } = testCache('c', { lockTimeout: 5_000 })
    expect(store.tryLock('c', 'k', 'other worker', 60_000)).toBe('acquired')
    const loader = countingLoader(() => 'mine')
    const pending = cache.lookup('k', loader)
    await l2CallsSettled()
    const other = new MLCache('c', { store: cacheStore(store), lruSize: 0 })
    await other.set('k', 'theirs')
    store.unlock('c', 'k', 'other worker')
    expect(await pending).toMatchObject({ value: 'theirs', hitLevel: 2 })
    await other.close()
    expect(loader.calls).toBe(0)
    expect(cache.stats()).toEqual({ ...ZERO, lockWaits: 1, l2Hits: 1 })
  })

  it('stats() counts lock timeouts within lock waits, and the stale value a timeout serves', async () => {
    const { cache, store, clock } = testCache('c', { ttl: 100, lockTimeout: 10 })
    store.tryLock('c', 'k', 'other worker', 60_000)
    await expect(cache.get('k', () => 'v')).rejects.toBeInstanceOf(LockTimeoutError)
    expect(cache.stats()).toEqual({ ...ZERO, lockWaits: 1, lockTimeouts: 1 })

    const stale = testCache('s', { ttl: 100, resurrectTtl: 5_000, lockTimeout: 10 }, clock)
    await stale.cache.get('k', () => 'stale one')
    clock.advance(200)
    stale.lru.delete('k')
    stale.store.tryLock('s', 'k', 'other worker', 60_000)
    expect(await stale.cache.lookup('k', () => 'fresh')).toMatchObject({ value: 'stale one', hitLevel: 4 })
    expect(stale.cache.stats()).toEqual({ ...ZERO, loads: 1, loaderCalls: 1, lockWaits: 1, lockTimeouts: 1, staleServed: 1 })
  })

  it('stats() counts L2 writes that found no memory, in get and in set', async () => {
    const clock = fakeClock()
    const { cache } = testCache('c', { store: testDict(clock, '64k') }, clock)
    const big = 'x'.repeat(100_000)
    expect(await cache.get('k', () => big)).toBe(big)
    expect(cache.stats()).toMatchObject({ l2NoMemory: 1, loads: 1 })
    await expect(cache.set('k', big)).rejects.toBeInstanceOf(NoMemoryError)
    expect(cache.stats()).toMatchObject({ l2NoMemory: 2 })
  })

  it('stats() counts undecodable L2 entries', async () => {
    const { cache, store } = testCache()
    store.writeEntry('cache', 'k', Uint8Array.of(0xc1, 0xc1, 0xc1), 0, 0)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: -1 })
    expect(cache.stats()).toEqual({ ...ZERO, decodeErrors: 1, missesWithoutLoader: 1 })
  })

  it('stats() reports the SharedDict\'s forcible evictions since the cache was created', async () => {
    const clock = fakeClock()
    const store = testDict(clock, '64k')
    // Evictions before the cache existed are not its own.
    for (let i = 0; store.stats().forcibleEvictions === 0; i++) store.writeEntry('other', String(i), new Uint8Array(1_000), 0, 0)
    const before = store.stats().forcibleEvictions
    const { cache } = testCache('c', { store }, clock)
    expect(cache.stats().forcibleEvictions).toBe(0)
    for (let i = 0; i < 200; i++) await cache.set(String(i), 'y'.repeat(1_000))
    const evicted = store.stats().forcibleEvictions - before
    expect(evicted).toBeGreaterThan(0)
    expect(cache.stats().forcibleEvictions).toBe(evicted)
  })

  it('stats() omits forcibleEvictions for a store without stats()', async () => {
    const clock = fakeClock()
    const { cache } = testCache('c', { store: wrapStore(testDict(clock)) }, clock)
    await cache.get('k', () => 'v')
    const stats = cache.stats()
    expect('forcibleEvictions' in stats).toBe(false)
    expect(stats).toMatchObject({ loads: 1, loaderCalls: 1 })
  })

  it('stats({ reset: true }) answers the counters, then zeroes them all', async () => {
    const clock = fakeClock()
    const store = testDict(clock, '64k')
    const { cache } = testCache('c', { store }, clock)
    for (let i = 0; i < 200; i++) await cache.get(String(i), () => 'y'.repeat(1_000))
    await cache.get('199')
    await cache.get('absent')
    const read = cache.stats({ reset: true })
    expect(read).toMatchObject({ loads: 200, loaderCalls: 200, l1Hits: 1, missesWithoutLoader: 1 })
    expect(read.forcibleEvictions).toBeGreaterThan(0)
    expect(cache.stats()).toEqual(ZERO)
    // Counting resumes from zero, L1 hits included.
    await cache.get('199')
    expect(cache.stats({ reset: false })).toEqual({ ...ZERO, l1Hits: 1 })
  })

  it('stats() answers a copy that later calls and edits do not change', async () => {
    const { cache } = testCache()
    const first = cache.stats()
    await cache.get('k', () => 'v')
    expect(first).toEqual(ZERO)
    const second = cache.stats()
    second.loads = 99
    expect(cache.stats()).toEqual({ ...ZERO, loads: 1, loaderCalls: 1 })
    expect(cache.stats()).not.toBe(cache.stats())
  })

  it('stats() rejects bad options and still answers on a closed cache', async () => {
    const { cache } = testCache()
    expect(() => cache.stats(null as never)).toThrow(TypeError)
    expect(() => cache.stats({ reset: 'yes' as never })).toThrow(TypeError)
    await cache.get('k', () => 'v')
    await cache.close()
    expect(cache.stats()).toMatchObject({ loads: 1 })
  })

  it('stats() hit counters sum to the get/lookup/getBulk calls that did not throw, on a random mix', async () => {
    type Op =
      | { op: 'get' | 'lookup' | 'bulk'; key: string; result: number | null | 'throw' | 'none' }
      | { op: 'set'; key: string; value: number | null }
      | { op: 'delete' | 'dropL1'; key: string }
      | { op: 'advance'; ms: number }
    const key = fc.constantFrom('a', 'b', 'c')
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constantFrom('get' as const, 'lookup' as const, 'bulk' as const),
        key,
        result: fc.oneof(fc.integer({ min: 1, max: 9 }), fc.constantFrom(null, 'throw' as const, 'none' as const)),
      }),
      fc.record({ op: fc.constant('set' as const), key, value: fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }) }),
      fc.record({ op: fc.constantFrom('delete' as const, 'dropL1' as const), key }),
      fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 150 }) }),
    )
    // Ops of a batch run concurrently, so callers share loads.
    const batches = fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 8 })
    await fc.assert(
      fc.asyncProperty(batches, fc.boolean(), async (plan, resurrect) => {
        const { cache, clock, lru } = testCache('p', { ttl: 100, negTtl: 50, ...(resurrect ? { resurrectTtl: 100 } : {}) })
        let answered = 0
        for (const batch of plan) {
          await Promise.all(
            batch.map(async (step): Promise<void> => {
              switch (step.op) {
                case 'get':
                case 'lookup':
                case 'bulk': {
                  const result = step.result
                  const loader = result === 'none' ? undefined : () => (result === 'throw' ? fail() : result)
                  try {
                    if (step.op === 'get') await cache.get(step.key, loader)
                    else if (step.op === 'lookup') await cache.lookup(step.key, loader)
                    else {
                      const [one] = await cache.getBulk([{ key: step.key, loader: loader ?? (() => null) }])
                      if (one?.error !== undefined) return
                    }
                    answered++
                  } catch (error) {
                    expect(error).toBeInstanceOf(LoaderError)
                  }
                  return
                }
                case 'set':
                  await cache.set(step.key, step.value)
                  return
                case 'delete':
                  await cache.delete(step.key)
                  return
                case 'dropL1':
                  lru.delete(step.key)
                  return
                case 'advance':
                  clock.advance(step.ms)
              }
            }),
          )
        }
        const stats = cache.stats()
        expect(answers(stats)).toBe(answered)
        expect(stats.negativeHits).toBeLessThanOrEqual(stats.l1Hits + stats.l2Hits)
        expect(stats.loads + stats.loaderErrors).toBe(stats.loaderCalls)
        expect(stats.lockTimeouts).toBeLessThanOrEqual(stats.lockWaits)
        expect(stats.resurrections).toBeLessThanOrEqual(stats.loaderErrors)
        // After a reset, only what follows is counted.
        cache.stats({ reset: true })
        expect(answers(cache.stats())).toBe(0)
        await cache.close()
      }),
      { numRuns: 300 },
    )
  })
})
