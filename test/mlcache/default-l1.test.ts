/**
 * The default L1 (an lru-cache on the cache's `clock`), which the other
 * tests mostly replace with an inspectable `lru`: it must expire an entry at
 * the very instant L2 does (lru-cache keeps an entry while `now - start <=
 * ttl`, L2 while `now < expiresAt`), share one L1 per name and store in a
 * thread, disappear with `lruSize: 0`, and never turn a finite TTL, however
 * small, into lru-cache's "no TTL".
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { encodeValue, entryFlags } from '../../src/codec/codec.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import type { LoaderContext, MLCacheOptions } from '../../src/types.js'
import { type FakeClock, cacheStore, countingLoader, fakeClock, testDict } from '../helpers/cache-factory.js'

const HOUR = 3_600_000

const fail = (): never => {
  throw new Error('database down')
}

/** A cache named `name` with the default L1, on `dict` (through the factory's store) and `clock`. */
function defaultL1Cache<V = unknown>(clock: FakeClock, dict: SharedDict, options: MLCacheOptions<V> = {}, name = 'c'): MLCache<V> {
  const cache = new MLCache<V>(name, { store: cacheStore(dict), clock: clock.now, ...options })
  onTestFinished(() => cache.close())
  return cache
}

/** Writes `value` for `ttl` ms straight into L2, behind every L1's back (no bus event). */
function writeL2(dict: SharedDict, key: string, value: unknown, ttl: number, name = 'c'): void {
  expect(dict.writeEntry(name, key, encodeValue(value), ttl, entryFlags(false, false))).toBe('ok')
}

describe('the default L1', () => {
  describe.each([
    ['set()', async (cache: MLCache<string>) => cache.set('k', 'v', { ttl: 100 })],
    ['a load', async (cache: MLCache<string>) => void (await cache.get('k', () => 'v', { ttl: 100 }))],
  ])('a value stored by %s with ttl 100', (_, store) => {
    it('lookup() serves it from L1 at 99 ms and from the loader at 100 ms, when L2 expired with it', async () => {
      const clock = fakeClock()
      const cache = defaultL1Cache<string>(clock, testDict(clock))
      await store(cache)
      clock.advance(99)
      expect(await cache.lookup('k', fail)).toEqual({ value: 'v', hitLevel: 1, stale: false })
      clock.advance(1)
      expect(await cache.lookup('k', () => 'reloaded')).toEqual({ value: 'reloaded', hitLevel: 3, stale: false })
    })

    it('lookup() serves it from L1 at 99 ms and from L2 at 100 ms, when L2 got a longer-lived value meanwhile', async () => {
      const clock = fakeClock()
      const dict = testDict(clock)
      const cache = defaultL1Cache<string>(clock, dict)
      await store(cache)
      writeL2(dict, 'k', 'newer', 1_000)
      clock.advance(99)
      expect(await cache.lookup('k', fail)).toEqual({ value: 'v', hitLevel: 1, stale: false })
      clock.advance(1)
      expect(await cache.lookup('k', fail)).toEqual({ value: 'newer', hitLevel: 2, stale: false })
    })
  })

  it('get() serves a "not found" from L1 until its negTtl ends, and not at that instant', async () => {
    const clock = fakeClock()
    const cache = defaultL1Cache(clock, testDict(clock))
    await cache.get('k', () => null, { negTtl: 50 })
    clock.advance(49)
    expect(await cache.lookup('k', fail)).toEqual({ value: undefined, hitLevel: 1, stale: false })
    clock.advance(1)
    expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
  })

  it('lookup() promotes an L2 entry into L1 until the instant it expires in L2', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const cache = defaultL1Cache(clock, dict)
    writeL2(dict, 'k', 'v', 1_000)
    clock.advance(300)
    expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 2, stale: false })
    clock.advance(699)
    expect(await cache.peek('k')).toMatchObject({ ttl: 1, stale: false })
    expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 1, stale: false })
    clock.advance(1)
    expect(await cache.peek('k')).toBeUndefined()
    expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
  })

  it('lookup() keeps an L2 entry that never expires in L1 forever', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const cache = defaultL1Cache(clock, dict)
    writeL2(dict, 'k', 'v', 0)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 2 })
    clock.advance(1_000 * HOUR)
    expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 1, stale: false })
  })

  it('lruSize 0 disables L1: every hit is level 2', async () => {
    const clock = fakeClock()
    const cache = defaultL1Cache(clock, testDict(clock), { lruSize: 0 })
    const loader = countingLoader(() => 'v')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 3 })
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 2 })
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 2 })
    await cache.set('s', 'set')
    expect(await cache.lookup('s')).toMatchObject({ value: 'set', hitLevel: 2 })
    await cache.get('absent', () => null)
    expect(await cache.lookup('absent')).toEqual({ value: undefined, hitLevel: 2, stale: false })
    expect(loader.calls).toBe(1)
    expect(cache.stats().l1Hits).toBe(0)
  })

  it('caches of the same name and store share one L1; another store or another name does not', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const otherDict = testDict(clock)
    const first = defaultL1Cache(clock, dict)
    const second = defaultL1Cache(clock, dict)
    const otherStore = defaultL1Cache(clock, otherDict)
    const otherName = defaultL1Cache(clock, dict, {}, 'other')
    const value = { shared: true }
    await first.get('k', () => value)
    expect(await second.lookup('k')).toEqual({ value, hitLevel: 1, stale: false })
    await second.set('k2', 'from second')
    expect(await first.lookup('k2')).toEqual({ value: 'from second', hitLevel: 1, stale: false })
    // Same name on another store: its own L1, which never saw `value`.
    writeL2(otherDict, 'k', 'other store', 0)
    expect(await otherStore.lookup('k')).toEqual({ value: 'other store', hitLevel: 2, stale: false })
    expect(await first.lookup('k')).toEqual({ value, hitLevel: 1, stale: false })
    // Another name on the same store: its own L1 and its own L2 namespace.
    expect(await otherName.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
  })

  describe('a finite TTL never becomes "never" in L1', () => {
    const TINY = [1e-6, 1.5e-6, 2e-6, 1e-9, Number.MIN_VALUE]

    it.each(TINY)('get() with ttl %d: an hour later lookup() is not an L1 hit', async (ttl) => {
      const clock = fakeClock()
      const cache = defaultL1Cache(clock, testDict(clock))
      expect(await cache.lookup('k', () => 'v', { ttl })).toMatchObject({ value: 'v', hitLevel: 3 })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })

    it.each(TINY)('get() of "not found" with negTtl %d: an hour later lookup() is not an L1 hit', async (negTtl) => {
      const clock = fakeClock()
      const cache = defaultL1Cache(clock, testDict(clock))
      await cache.get('k', () => null, { negTtl })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
      expect(cache.stats().negativeHits).toBe(0)
    })

    it.each(TINY)('set() with ttl %d: an hour later lookup() is not an L1 hit', async (ttl) => {
      const clock = fakeClock()
      const cache = defaultL1Cache(clock, testDict(clock))
      await cache.set('k', 'v', { ttl })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })

    it.each(TINY)('a loader setting ctx.ttl = %d: an hour later lookup() is not an L1 hit', async (ttl) => {
      const clock = fakeClock()
      const cache = defaultL1Cache(clock, testDict(clock), { ttl: 60_000 })
      const loader = (_key: string, ctx: LoaderContext<unknown>) => {
        ctx.ttl = ttl
        return 'v'
      }
      expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 3 })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })

    it.each(TINY)('resurrectTtl %d after a failing loader: an hour later lookup() is not an L1 hit', async (resurrectTtl) => {
      const clock = fakeClock()
      const dict = testDict(clock)
      const cache = defaultL1Cache(clock, dict, { ttl: 100 })
      await cache.get('k', () => 'old')
      clock.advance(150)
      expect(await cache.lookup('k', fail, { resurrectTtl })).toEqual({ value: 'old', hitLevel: 4, stale: true })
      expect(cache.stats().resurrections).toBe(1)
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })

    it('lookup() promoting an L2 entry with 1e-6 ms left: an hour later it is not an L1 hit', async () => {
      // Exact in binary floating point: at 0 an entry of 2e-6 ms expires at
      // 2e-6, and 2e-6 - 1e-6 === 1e-6 (2e-6 is twice 1e-6 as doubles), so L2
      // answers exactly 1e-6 ms left, the amount the default L1 shortens TTLs by.
      expect(2e-6 - 1e-6).toBe(1e-6)
      const clock = fakeClock(0)
      const dict = testDict(clock)
      const cache = defaultL1Cache(clock, dict)
      writeL2(dict, 'k', 'v', 2e-6)
      clock.advance(1e-6)
      expect(clock.now()).toBe(1e-6)
      expect(await cache.peek('k')).toEqual({ ttl: 1e-6, value: 'v', stale: false })
      expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 2, stale: false })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })

    it.each([1.5e-6, 2e-6, 1e-3])('lookup() promoting an L2 entry with %d ms left: an hour later it is not an L1 hit', async (left) => {
      const clock = fakeClock(0)
      const dict = testDict(clock)
      const cache = defaultL1Cache(clock, dict)
      writeL2(dict, 'k', 'v', 1 + left)
      clock.advance(1)
      expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
      clock.advance(HOUR)
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    })
  })
})
