import { describe, expect, it } from 'vitest'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, countingLoader, fakeClock, testCache, testDict } from '../helpers/cache-factory.js'

describe('get()', () => {
  it('get() returns hitLevel 3 when it ran the loader, then 1 from L1', async () => {
    const { cache } = testCache()
    const loader = countingLoader(() => 'value')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'value', hitLevel: 3, stale: false })
    expect(await cache.lookup('k', loader)).toEqual({ value: 'value', hitLevel: 1, stale: false })
    expect(await cache.get('k', loader)).toBe('value')
    expect(loader.calls).toBe(1)
  })

  it('get() returns hitLevel 2 from L2 after L1 is dropped', async () => {
    const { cache, lru } = testCache()
    await cache.get('k', () => ({ a: 1 }))
    lru.delete('k')
    expect(await cache.lookup('k', () => ({ a: 2 }))).toEqual({ value: { a: 1 }, hitLevel: 2, stale: false })
    expect(await cache.lookup('k')).toEqual({ value: { a: 1 }, hitLevel: 1, stale: false })
  })

  it('get() returns hitLevel -1 without a loader when nothing is cached', async () => {
    const { cache } = testCache()
    expect(await cache.lookup('missing')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    expect(await cache.get('missing')).toBeUndefined()
  })

  it('get() returns the same reference from L1 and a fresh copy from L2', async () => {
    const { cache, lru } = testCache()
    const value = { nested: { list: [1, 2] } }
    const first = await cache.get('k', () => value)
    expect(first).toBe(value)
    expect(await cache.get('k')).toBe(value)
    lru.delete('k')
    const fromL2 = await cache.get('k')
    expect(fromL2).toEqual(value)
    expect(fromL2).not.toBe(value)
    expect(await cache.get('k')).toBe(fromL2)
  })

  it('get() caches false, 0 and empty string as hits', async () => {
    const { cache, lru } = testCache()
    for (const [key, value] of [['f', false], ['z', 0], ['e', '']] as const) {
      expect(await cache.lookup(key, () => value)).toMatchObject({ value, hitLevel: 3 })
      expect(await cache.lookup(key, () => 'other')).toMatchObject({ value, hitLevel: 1 })
      lru.delete(key)
      expect(await cache.lookup(key, () => 'other')).toMatchObject({ value, hitLevel: 2 })
    }
  })

  it('get() round-trips Map, Set, Date, bigint and Uint8Array through L2', async () => {
    const { cache, lru } = testCache()
    const value = { map: new Map([['a', 1]]), set: new Set([1]), date: new Date(5), big: 2n ** 70n, bytes: Uint8Array.of(9) }
    await cache.get('k', () => value)
    lru.delete('k')
    expect(await cache.get('k')).toStrictEqual(value)
  })

  it('get() caches a loader result of undefined or null as a negative entry for negTtl', async () => {
    const { cache, clock, lru } = testCache('c', { negTtl: 1_000, ttl: 60_000 })
    const loader = countingLoader(() => null)
    expect(await cache.lookup('k', loader)).toEqual({ value: undefined, hitLevel: 3, stale: false })
    expect(await cache.lookup('k', loader)).toEqual({ value: undefined, hitLevel: 1, stale: false })
    lru.delete('k')
    expect(await cache.lookup('k', loader)).toEqual({ value: undefined, hitLevel: 2, stale: false })
    // Past the boundary: a custom lru-cache keeps an entry while now - start <= ttl.
    clock.advance(1_001)
    expect(await cache.lookup('k', loader)).toEqual({ value: undefined, hitLevel: 3, stale: false })
    expect(loader.calls).toBe(2)
  })

  it('get() expires values after ttl in L1 and L2 alike', async () => {
    const clock = fakeClock()
    const cache = new MLCache('c', { store: cacheStore(testDict(clock)), clock: clock.now, ttl: 1_000 })
    const loader = countingLoader(() => 'v')
    await cache.get('k', loader)
    clock.advance(999)
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 1 })
    clock.advance(1)
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 3 })
    expect(loader.calls).toBe(2)
    await cache.close()
  })

  it('get() promotes an L2 hit into L1 with the remaining TTL, not the full one', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 1_000 })
    await cache.get('k', () => 'v')
    clock.advance(600)
    lru.delete('k')
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 2 })
    clock.advance(399)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 1 })
    clock.advance(2)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: -1 })
  })

  it('get() with ttl 0 caches forever', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 0 })
    await cache.get('k', () => 'v')
    clock.advance(10 ** 12)
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 1 })
    lru.delete('k')
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
  })

  it('get() uses ctx.ttl set by the loader instead of ttl', async () => {
    const { cache, clock } = testCache('c', { ttl: 60_000 })
    const loader = countingLoader<string>(() => 'v')
    await cache.get('k', (key, ctx) => {
      ctx.ttl = 100
      return loader(key)
    })
    clock.advance(99)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 1 })
    clock.advance(2)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: -1 })
  })

  it('get() returns but does not cache a value when the loader sets ctx.ttl < 0', async () => {
    const { cache } = testCache()
    const loader = countingLoader(() => 'v')
    const load = async (key: string, ctx: { ttl?: number | undefined }) => {
      ctx.ttl = -1
      return loader(key)
    }
    expect(await cache.lookup('k', load)).toEqual({ value: 'v', hitLevel: 3, stale: false })
    expect(await cache.lookup('k', load)).toEqual({ value: 'v', hitLevel: 3, stale: false })
    expect(await cache.peek('k')).toBeUndefined()
    expect(loader.calls).toBe(2)
  })

  it('get() lets per-call ttl and negTtl override the cache options, 0 included', async () => {
    const { cache, clock } = testCache('c', { ttl: 100, negTtl: 100 })
    await cache.get('forever', () => 'v', { ttl: 0 })
    await cache.get('neg', () => undefined, { negTtl: 0 })
    clock.advance(10_000)
    expect(await cache.lookup('forever')).toMatchObject({ value: 'v', hitLevel: 1 })
    expect(await cache.lookup('neg')).toMatchObject({ value: undefined, hitLevel: 1 })
  })

  it('get() passes the stale L2 value to the loader as ctx.stale', async () => {
    const { cache, clock } = testCache('c', { ttl: 100 })
    await cache.get('k', () => ({ version: 1 }))
    clock.advance(200)
    let seen: unknown
    await cache.get('k', (_key, ctx) => {
      seen = ctx.stale
      return { version: 2 }
    })
    expect(seen).toEqual({ version: 1 })
  })

  it('get() does not validate options on an L1 hit, as upstream', async () => {
    const { cache } = testCache()
    await cache.get('k', () => 'v')
    await expect(cache.get('k', () => 'v', { ttl: -1 })).resolves.toBe('v')
    await expect(cache.get('cold', () => 'v', { ttl: -1 })).rejects.toThrow(RangeError)
  })

  it('get() keeps caches of different names apart whatever the keys contain', async () => {
    const clock = fakeClock()
    const store = cacheStore(testDict(clock))
    const ab = new MLCache('ab', { store, clock: clock.now })
    const a = new MLCache('a', { store, clock: clock.now })
    await ab.get('c', () => 'from ab')
    expect(await a.lookup('bc')).toMatchObject({ hitLevel: -1 })
    expect(await a.get('bc', () => 'from a')).toBe('from a')
    expect(await ab.get('c')).toBe('from ab')
    await Promise.all([ab.close(), a.close()])
  })

  it('get() shares one L1 between caches of the same name and store in a thread', async () => {
    const clock = fakeClock()
    const store = cacheStore(testDict(clock))
    const first = new MLCache('shared', { store, clock: clock.now })
    const second = new MLCache('shared', { store, clock: clock.now })
    const value = { shared: true }
    await first.get('k', () => value)
    expect(await second.lookup('k')).toEqual({ value, hitLevel: 1, stale: false })
    await first.close()
    expect(await second.lookup('k')).toEqual({ value, hitLevel: 1, stale: false })
    await second.close()
  })

  it('get() with lruSize 0 reads L2 every time', async () => {
    const { cache } = testCache('c', { lru: undefined, lruSize: 0 })
    await cache.get('k', () => 'v')
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
  })

  it('get() stores entries in a custom lru under the plain key with the remaining TTL', async () => {
    const { cache, lru, clock } = testCache('c', { ttl: 1_000 })
    const value = { v: 1 }
    await cache.get('plain key', () => value)
    expect(lru.get('plain key')).toBe(value)
    expect(lru.getRemainingTTL('plain key')).toBe(1_000)
    clock.advance(1)
    expect(lru.getRemainingTTL('plain key')).toBe(999)
  })

  it('get() rejects a loader that is not a function', async () => {
    const { cache } = testCache()
    await expect(cache.get('k', 'nope' as never)).rejects.toThrow(new TypeError('loader must be a function'))
  })
})
