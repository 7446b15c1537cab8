import { describe, expect, it } from 'vitest'
import { LoaderError, LockTimeoutError } from '../../src/errors.js'
import { encodeValue, entryFlags } from '../../src/codec/codec.js'
import { MLCache } from '../../src/mlcache.js'
import type { Lookup } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, l2CallsSettled, testCache, testDict } from '../helpers/cache-factory.js'
import { wrapStore } from '../helpers/wrap-store.js'
import { deferred } from '../helpers/deferred.js'

function hitLevels(lookups: Lookup<unknown>[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const { hitLevel } of lookups) counts[hitLevel] = (counts[hitLevel] ?? 0) + 1
  return counts
}

describe('stampede protection', () => {
  it('lookup() of one cold key by 1000 concurrent callers runs the loader once: one hitLevel 3, the rest 2', async () => {
    const { cache } = testCache()
    const gate = deferred<string>()
    const loader = countingLoader(() => gate.promise)
    const lookups = Array.from({ length: 1000 }, () => cache.lookup('cold', loader))
    gate.resolve('value')
    const results = await Promise.all(lookups)
    expect(loader.calls).toBe(1)
    expect(hitLevels(results)).toEqual({ 3: 1, 2: 999 })
    expect(results.every((r) => r.value === 'value')).toBe(true)
  })

  it('lookup() callers sharing a failed load all get the same LoaderError, and the lock is released', async () => {
    const { cache, store } = testCache()
    const gate = deferred<string>()
    const loader = countingLoader(() => gate.promise)
    const lookups = Array.from({ length: 100 }, () => cache.lookup('cold', loader).catch((e: unknown) => e))
    // Callers join the load once their L2 read is answered: let every read land before the load fails.
    await l2CallsSettled()
    gate.reject(new Error('boom'))
    const errors = await Promise.all(lookups)
    expect(loader.calls).toBe(1)
    expect(errors[0]).toBeInstanceOf(LoaderError)
    expect(new Set(errors).size).toBe(1)
    expect(store.tryLock('cache', 'cold', 'probe', 1_000)).toBe('acquired')
  })

  it('get() of caches that share a lock store but not an L1 waits for the lock holder and reads its value from L2', async () => {
    const clock = fakeClock()
    const store = cacheStore(testDict(clock))
    const first = new MLCache('same', { store, clock: clock.now, lruSize: 0 })
    const second = new MLCache('same', { store, clock: clock.now, lru: { get: () => undefined, set: () => undefined, delete: () => false, clear: () => undefined } })
    const gate = deferred<string>()
    const slow = countingLoader(() => gate.promise)
    const fast = countingLoader(() => 'never used')
    const holder = first.lookup('k', slow)
    // Let the first cache take the lock before the second asks.
    await l2CallsSettled()
    const waiter = second.lookup('k', fast)
    gate.resolve('loaded once')
    expect(await holder).toMatchObject({ value: 'loaded once', hitLevel: 3 })
    expect(await waiter).toMatchObject({ value: 'loaded once', hitLevel: 2 })
    expect(fast.calls).toBe(0)
    await Promise.all([first.close(), second.close()])
  })

  it('get() rejects with LockTimeoutError when the lock is held past lockTimeout and nothing is stale', async () => {
    const { cache, store } = testCache('c', { lockTimeout: 20 })
    expect(store.tryLock('c', 'k', 'someone else', 60_000)).toBe('acquired')
    const loader = countingLoader(() => 'v')
    const error = await cache.get('k', loader).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LockTimeoutError)
    expect((error as LockTimeoutError).code).toBe('E_LOCK_TIMEOUT')
    expect(loader.calls).toBe(0)
    expect(cache.stats().lockTimeouts).toBe(1)
  })

  it('get() with lockTimeout 0 fails at once when the lock is held', async () => {
    const { cache, store } = testCache('c', { lockTimeout: 0 })
    store.tryLock('c', 'k', 'someone else', 60_000)
    await expect(cache.get('k', () => 'v')).rejects.toBeInstanceOf(LockTimeoutError)
  })

  it('get() serves the stale value with hitLevel 4 on a lock timeout with resurrectTtl, writing nothing', async () => {
    const { cache, store, clock, lru } = testCache('c', { ttl: 100, resurrectTtl: 5_000, lockTimeout: 10 })
    await cache.get('k', () => 'stale one')
    clock.advance(200)
    lru.delete('k')
    store.tryLock('c', 'k', 'someone else', 60_000)
    expect(await cache.lookup('k', () => 'fresh')).toEqual({ value: 'stale one', hitLevel: 4, stale: true })
    expect(await cache.peek('k', { stale: true })).toMatchObject({ stale: true })
  })

  it('get() re-reads L2 after taking the lock and serves a value stored between its first read and the lock', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const writer = new MLCache('c', { store: dict, clock: clock.now, lruSize: 0 })
    // Another worker stores the value and releases its lock right before this caller's tryLock.
    const store = wrapStore(dict, {
      tryLock: async (...args) => {
        await writer.set('k', 'stored meanwhile')
        return dict.tryLock(...args)
      },
    })
    const { cache } = testCache('c', { store })
    const loader = countingLoader(() => 'loaded')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'stored meanwhile', hitLevel: 2, stale: false })
    expect(loader.calls).toBe(0)
    await writer.close()
  })

  it('get() re-reads L2 after its lock wait times out and serves a value the holder stored meanwhile', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    expect(dict.tryLock('c', 'k', 'holder', 60_000)).toBe('acquired')
    let tries = 0
    // The holder stores its value after the waiter's wait ran out and its re-read found nothing,
    // right before the waiter's last try: only the re-read of the timeout path can find it.
    const store = wrapStore(dict, {
      tryLock: (...args) => {
        if (++tries === 2) dict.writeEntry('c', 'k', encodeValue('the holder value'), 0, entryFlags(false, false))
        return dict.tryLock(...args)
      },
      // Never wakes before the wait's end, so the second try comes after the deadline.
      waitForUnlock: (_namespace, _key, timeout) => new Promise((resolve) => setTimeout(resolve, timeout + 10)),
    })
    const { cache } = testCache('c', { store, lockTimeout: 30 })
    const loader = countingLoader(() => 'mine')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'the holder value', hitLevel: 2, stale: false })
    expect(tries).toBe(2)
    expect(loader.calls).toBe(0)
    expect(cache.stats()).toMatchObject({ lockWaits: 1, lockTimeouts: 1, l2Hits: 1 })
  })

  it("get() takes over a dead holder's lock once its lease ends in real time, though the cache's clock stands still", async () => {
    const { cache, store } = testCache('c', { lockTimeout: 5_000 })
    expect(store.tryLock('c', 'k', 'dead worker', 50)).toBe('acquired')
    expect(await cache.lookup('k', () => 'v')).toMatchObject({ value: 'v', hitLevel: 3 })
  })

  it("get() never takes a live holder's lock when the cache's clock jumps past the lease", async () => {
    const { cache, store, clock } = testCache('c', { lockTimeout: 30 })
    expect(store.tryLock('c', 'k', 'live worker', 60_000)).toBe('acquired')
    clock.advance(3_600_000)
    const loader = countingLoader(() => 'second load')
    await expect(cache.get('k', loader)).rejects.toBeInstanceOf(LockTimeoutError)
    expect(loader.calls).toBe(0)
  })

  it('get() loads without the lock when the lock store is full rather than failing', async () => {
    const clock = fakeClock()
    const lockStore = testDict(clock, 16 * 1024)
    for (let i = 0; lockStore.tryLock('filler', String(i), 'x', 60_000) === 'acquired'; i++);
    const { cache } = testCache('c', { lockStore })
    expect(await cache.lookup('k', () => 'v')).toMatchObject({ value: 'v', hitLevel: 3 })
  })
})
