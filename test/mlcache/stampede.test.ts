import { describe, expect, it } from 'vitest'
import { LoaderError, LockTimeoutError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import type { Lookup } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, l2CallsSettled, testCache, testDict } from '../helpers/cache-factory.js'

function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

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

  it('get() returns the value another holder stored while this caller waited past lockTimeout', async () => {
    const { cache, store } = testCache('c', { lockTimeout: 50 })
    store.tryLock('c', 'k', 'other', 60_000)
    const pending = cache.lookup('k', () => 'mine')
    const other = new MLCache('c', { store: cacheStore(store), lru: { get: () => undefined, set: () => undefined, delete: () => false, clear: () => undefined } })
    await other.set('k', 'theirs')
    expect(await pending).toMatchObject({ value: 'theirs', hitLevel: 2 })
    await other.close()
  })

  it('get() takes over a lock whose lease (lockExptime) has expired', async () => {
    const { cache, store, clock } = testCache('c', { lockTimeout: 1_000 })
    store.tryLock('c', 'k', 'dead worker', 100)
    clock.advance(100)
    expect(await cache.lookup('k', () => 'v')).toMatchObject({ value: 'v', hitLevel: 3 })
  })

  it('get() loads without the lock when the lock store is full rather than failing', async () => {
    const clock = fakeClock()
    const lockStore = testDict(clock, 16 * 1024)
    for (let i = 0; lockStore.tryLock('filler', String(i), 'x', 60_000) === 'acquired'; i++);
    const { cache } = testCache('c', { lockStore })
    expect(await cache.lookup('k', () => 'v')).toMatchObject({ value: 'v', hitLevel: 3 })
  })
})
