/**
 * The default store: caches created without a `store` share one SharedDict
 * per thread (and clock), made on first use with a size that can be set
 * once before. Each test imports a fresh copy of the library
 * (`vi.resetModules`), so each starts with no default store, as a new thread does.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MLCache as MLCacheClass } from '../../src/mlcache.js'
import { fakeClock } from '../helpers/cache-factory.js'

const MIB = 1024 * 1024
/** The documented default size of the default store. */
const DEFAULT_BYTES = 16 * MIB

let MLCache: typeof MLCacheClass
let SharedDict: typeof import('../../src/l2/shared-dict/shared-dict.js').SharedDict
const opened: MLCacheClass[] = []
/** The process's 'worker' listeners before the test: each fresh copy of the library adds its own thread reaper. */
let workerListeners: ReturnType<typeof process.listeners> = []

beforeEach(async () => {
  workerListeners = process.listeners('worker')
  vi.resetModules()
  ;({ MLCache, SharedDict } = await import('../../src/index.js'))
})

afterEach(async () => {
  await Promise.all(opened.splice(0).map((cache) => cache.close()))
  // The copy goes with the test: so does its reaper (else Node warns of a listener leak).
  for (const listener of process.listeners('worker')) {
    if (!workerListeners.includes(listener)) process.off('worker', listener as (...args: unknown[]) => void)
  }
})

/** A cache of the fresh library copy, closed after the test. */
function cache<V = unknown>(name: string, options?: ConstructorParameters<typeof MLCacheClass<V>>[1]): MLCacheClass<V> {
  const made = new MLCache<V>(name, options)
  opened.push(made as MLCacheClass)
  return made
}

describe('the default store', () => {
  // First in the file: nothing earlier left buffers for a GC to free inside the measured window.
  it('new MLCache() without a store shares one default SharedDict per thread: 50 caches, one buffer', async () => {
    const before = process.memoryUsage().arrayBuffers
    const caches = Array.from({ length: 50 }, (_, i) => cache<number>(`cache-${i}`))
    const growth = process.memoryUsage().arrayBuffers - before
    // One 16 MiB dict, not 50 (800 MiB): the bound leaves room for noise, far below 50x.
    expect(growth).toBeGreaterThanOrEqual(DEFAULT_BYTES * 0.9)
    expect(growth).toBeLessThan(DEFAULT_BYTES * 3)
    // They all work, each in its own namespace.
    await Promise.all(caches.map((c, i) => c.set('k', i)))
    for (const [i, c] of caches.entries()) expect(await c.peek('k')).toMatchObject({ value: i })
  })

  it('two caches of the same name without a store share L2: a value set through one is an L2 hit in the other', async () => {
    // lruSize 0: no L1 in the way, so the read shows where the value lives.
    const writer = cache<string>('users', { lruSize: 0 })
    const reader = cache<string>('users', { lruSize: 0 })
    await writer.set('alice', 'v1')
    expect(await reader.lookup('alice')).toEqual({ value: 'v1', hitLevel: 2, stale: false })
    // A load through one is not repeated through the other.
    const loader = vi.fn(() => 'loaded')
    expect(await writer.lookup('bob', loader)).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
    expect(await reader.lookup('bob', loader)).toEqual({ value: 'loaded', hitLevel: 2, stale: false })
    expect(loader).toHaveBeenCalledTimes(1)
  })

  it('caches with different names on the default store never see or purge each other\'s keys', async () => {
    const a = cache<string>('a', { lruSize: 0 })
    const b = cache<string>('b', { lruSize: 0 })
    await a.set('k', 'of a')
    expect(await b.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    await b.set('k', 'of b')
    await b.purge({ flushExpired: true })
    expect(await a.lookup('k')).toEqual({ value: 'of a', hitLevel: 2, stale: false })
  })

  it('close() of one cache leaves the default store to the others', async () => {
    const first = cache<string>('users', { lruSize: 0 })
    const other = cache<string>('orders', { lruSize: 0 })
    await first.set('k', 'kept')
    await other.set('k', 'also kept')
    await first.close()
    expect(await other.lookup('k')).toEqual({ value: 'also kept', hitLevel: 2, stale: false })
    expect(await cache<string>('users', { lruSize: 0 }).lookup('k')).toEqual({ value: 'kept', hitLevel: 2, stale: false })
  })

  it('caches given the same clock share a default store on that clock, apart from the Date.now one', async () => {
    const clock = fakeClock()
    const writer = cache<string>('users', { lruSize: 0, clock: clock.now })
    const reader = cache<string>('users', { lruSize: 0, clock: clock.now })
    const onDateNow = cache<string>('users', { lruSize: 0 })
    await writer.set('k', 'v', { ttl: 100 })
    expect(await reader.lookup('k')).toEqual({ value: 'v', hitLevel: 2, stale: false })
    expect(await onDateNow.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    // The store's TTLs run on the cache's clock, as the clock option promises.
    clock.advance(100)
    expect(await reader.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
  })

  describe('MLCache.configureDefaultStore()', () => {
    it('sizes the default store made afterwards', async () => {
      MLCache.configureDefaultStore({ size: '1m' })
      const before = process.memoryUsage().arrayBuffers
      const small = cache<Uint8Array>('blobs', { lruSize: 0 })
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(DEFAULT_BYTES / 2)
      // 40 values of 64 KiB (2.5 MiB) fit in 16 MiB, not in 1 MiB: the first ones are evicted.
      for (let i = 0; i < 40; i++) await small.set(`k${i}`, new Uint8Array(64 * 1024))
      expect(small.stats().forcibleEvictions).toBeGreaterThan(0)
      expect(await small.peek('k0')).toBeUndefined()
      expect(await small.peek('k39')).toBeDefined()
    })

    it('is rejected once a cache without a store made the default store, which keeps its size', async () => {
      cache('first')
      expect(() => MLCache.configureDefaultStore({ size: '1m' })).toThrow(
        new Error('the default store already exists in this thread: configure it before the first MLCache created without a store'),
      )
      // Still 16 MiB: 2.5 MiB of values evict nothing.
      const later = cache<Uint8Array>('blobs', { lruSize: 0 })
      for (let i = 0; i < 40; i++) await later.set(`k${i}`, new Uint8Array(64 * 1024))
      expect(later.stats().forcibleEvictions).toBe(0)
    })

    it('is accepted after caches given a store, which do not make the default store', () => {
      cache('own', { store: SharedDict.create({ size: '64k' }) })
      expect(() => MLCache.configureDefaultStore({ size: '1m' })).not.toThrow()
    })

    it.each([
      ['null', null, TypeError, 'options must be an object'],
      ['no size', {}, TypeError, 'options.size must be a number or a string'],
      ['a malformed size', { size: 'lots' }, RangeError, "options.size must be a byte count or a size like '64m' or '512k', got 'lots'"],
      ['a fractional byte count', { size: 1.5 }, RangeError, 'options.size must be an integer number of bytes'],
      ['a size below 8 KiB', { size: 1024 }, RangeError, 'options.size must be >= 8192 bytes'],
      ['an unknown option', { size: '1m', clock: Date.now }, TypeError, 'options.clock is not a known option'],
    ])('rejects %s with a typed error naming it, and keeps the size it had', async (_, options, type, message) => {
      expect(() => MLCache.configureDefaultStore(options as never)).toThrow(new type(message))
      const blobs = cache<Uint8Array>('blobs', { lruSize: 0 })
      for (let i = 0; i < 40; i++) await blobs.set(`k${i}`, new Uint8Array(64 * 1024))
      expect(blobs.stats().forcibleEvictions).toBe(0)
    })
  })
})
