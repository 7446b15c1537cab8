import { describe, expect, it, onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { LoaderError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import type { HitLevel } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, testCache, testDict, testLru } from '../helpers/cache-factory.js'

describe('get() with refreshAhead', () => {
  it('get() in the last part of a value life answers it with hitLevel 2 and reloads it in the background', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 1_000, refreshAhead: 0.8 })
    let version = 1
    const loader = countingLoader(() => `v${version}`)
    await cache.get('k', loader)
    version = 2
    // L1 keeps the value until its refresh point (800 ms), not for its whole TTL.
    clock.advance(800)
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 1, stale: false })
    clock.advance(1)
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 2, stale: false })
    await cache.update()
    expect(loader.calls).toBe(2)
    // The reload dropped the old value from this L1: the next read takes the new one from L2, with a whole TTL.
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 2, stale: false })
    expect(await cache.peek('k')).toMatchObject({ ttl: 1_000 })
    expect(cache.stats()).toMatchObject({ backgroundReloads: 1, loads: 1 })
  })

  it('a hot key under refreshAhead is never a miss over 10 TTLs', async () => {
    const ttl = 1_000
    const { cache, clock } = testCache<number>('c', { ttl, refreshAhead: 0.8 })
    let version = 0
    const loader = countingLoader(() => ++version)
    await cache.get('k', loader)
    const levels = new Map<HitLevel, number>()
    const served: number[] = []
    // A read every 10 ms for 10 TTLs; background reloads finish between reads (a fast database).
    for (let elapsed = 0; elapsed < 10 * ttl; elapsed += 10) {
      clock.advance(10)
      const { value, hitLevel, stale } = await cache.lookup('k', loader)
      expect(stale).toBe(false)
      levels.set(hitLevel, (levels.get(hitLevel) ?? 0) + 1)
      served.push(value as number)
      await cache.update()
    }
    // Only L1 and L2 hits: no caller ever waited for the loader.
    expect([...levels.keys()].sort()).toEqual([1, 2])
    // One reload per 800 ms of life: 12 over 10 s, after the first load.
    expect(loader.calls).toBe(1 + 12)
    expect(cache.stats()).toMatchObject({ loads: 1, backgroundReloads: 12, staleServed: 0 })
    // Values only move forward.
    expect(served).toEqual([...served].sort((x, y) => x - y))
  })

  it('refreshAhead measures the life the entry was written with (ctx.ttl), not the cache ttl', async () => {
    const { cache, clock, lru } = testCache<string>('c', { ttl: 10_000, refreshAhead: 0.5 })
    const loader = countingLoader(() => 'v')
    await cache.get('k', (_key, ctx) => {
      ctx.ttl = 1_000
      return 'v'
    })
    clock.advance(400)
    lru.clear()
    // 600 ms left of 1,000: not yet in the last half of its life.
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 2 })
    await cache.update()
    expect(loader.calls).toBe(0)
    clock.advance(101)
    lru.clear()
    expect(await cache.lookup('k', loader)).toMatchObject({ hitLevel: 2 })
    await cache.update()
    expect(loader.calls).toBe(1)
  })

  it('set() keeps the value in L1 until its refresh point only, then a read with a loader refreshes it', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 1_000, refreshAhead: 0.8 })
    await cache.set('k', 'v1')
    clock.advance(800)
    const loader = countingLoader(() => 'v2')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 1 })
    clock.advance(1)
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 2 })
    await cache.update()
    expect(loader.calls).toBe(1)
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v2', hitLevel: 2 })
  })

  it('refreshAhead never reloads a value that never expires (ttl 0)', async () => {
    const { cache, clock, lru } = testCache<string>('c', { ttl: 0, refreshAhead: 0.5 })
    const loader = countingLoader(() => 'v')
    await cache.get('k', loader)
    clock.advance(1e9)
    lru.clear()
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 2 })
    await cache.update()
    expect(loader.calls).toBe(1)
  })

  it('a failing refresh keeps the value until it expires and is counted', async () => {
    const reported: string[] = []
    const { cache, clock } = testCache<string>('c', { ttl: 1_000, refreshAhead: 0.8, onBackgroundError: (error, key) => reported.push(`${key}: ${error.name}`) })
    await cache.get('k', () => 'v1')
    clock.advance(801)
    const fail = () => {
      throw new Error('database down')
    }
    expect(await cache.lookup('k', fail)).toEqual({ value: 'v1', hitLevel: 2, stale: false })
    await cache.update()
    expect(reported).toEqual([`k: ${LoaderError.name}`])
    // Kept in L1 for the rest of its life: no reload is tried again before it expires.
    expect(await cache.lookup('k', fail)).toEqual({ value: 'v1', hitLevel: 1, stale: false })
    expect(cache.stats()).toMatchObject({ backgroundErrors: 1, resurrections: 0 })
  })

  it('get() in another worker after a refresh answers the new value: the refresh dropped its L1 copy', async () => {
    const clock = fakeClock()
    const store = cacheStore(testDict(clock))
    const bus = new LocalBus()
    const options = { store, bus, clock: clock.now, ttl: 1_000, refreshAhead: 0.8 }
    const a = new MLCache<string>('c', { ...options, lru: testLru(clock) })
    const b = new MLCache<string>('c', { ...options, lru: testLru(clock) })
    onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => bus.close()))
    await a.get('k', () => 'v1')
    clock.advance(801)
    // B reads without a loader: it keeps v1 in its L1 for the rest of its life, and reloads nothing.
    expect(await b.lookup('k')).toEqual({ value: 'v1', hitLevel: 2, stale: false })
    expect(await b.lookup('k')).toEqual({ value: 'v1', hitLevel: 1, stale: false })
    expect(await a.lookup('k', () => 'v2')).toEqual({ value: 'v1', hitLevel: 2, stale: false })
    await a.update()
    await b.update()
    expect(await b.lookup('k')).toEqual({ value: 'v2', hitLevel: 2, stale: false })
  })
})
