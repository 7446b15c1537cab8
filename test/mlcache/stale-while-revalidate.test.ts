import { describe, expect, it, onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { ClosedError, LoaderError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, countingLoader, fakeClock, testCache, testDict, testLru } from '../helpers/cache-factory.js'
import { deferred } from '../helpers/deferred.js'
import { eventually, watchTimers } from '../helpers/eventually.js'
import { wrapStore } from '../helpers/wrap-store.js'

/** A loader whose calls the test answers one by one; it keeps each call's `ctx.signal`. */
function heldLoader<V>() {
  const calls: { answer: ReturnType<typeof deferred<V>>; signal: AbortSignal }[] = []
  const loader = (_key: string, ctx: { signal: AbortSignal }): Promise<V> => {
    const answer = deferred<V>()
    calls.push({ answer, signal: ctx.signal })
    return answer.promise
  }
  return Object.assign(loader, { calls })
}

const fail = (): never => {
  throw new Error('database down')
}

/** Two caches of one name on one store and one bus (two workers), both with `options`. */
function twoWorkers(options: ConstructorParameters<typeof MLCache<string>>[1]) {
  const clock = fakeClock()
  const dict = testDict(clock)
  const store = cacheStore(dict)
  const bus = new LocalBus()
  const a = new MLCache<string>('c', { store, bus, clock: clock.now, lru: testLru(clock), ...options })
  const b = new MLCache<string>('c', { store, bus, clock: clock.now, lru: testLru(clock), ...options })
  onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => bus.close()))
  return { a, b, clock, dict }
}

describe('get() with staleWhileRevalidate', () => {
  it('get() within the window answers the stale value at once with hitLevel 4 and reloads it in the background', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 1_000 })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    const loader = heldLoader<string>()
    // The loader has not answered: the stale value is served without waiting for it.
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 4, stale: true })
    await eventually(() => loader.calls.length === 1, 'the background reload called the loader')
    loader.calls[0]?.answer.resolve('v2')
    await cache.update()
    // The new value is in L2 with a full TTL: the next reader takes it from there, fresh.
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 2, stale: false })
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 1, stale: false })
    expect(loader.calls).toHaveLength(1)
    // The first get loaded v1 (hitLevel 3); the reload is the second loader call, in the background.
    expect(cache.stats()).toMatchObject({ backgroundReloads: 1, backgroundErrors: 0, staleServed: 1, loaderCalls: 2, loads: 1 })
  })

  it('get() past the window waits for the loader, as without staleWhileRevalidate', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 1_000 })
    await cache.get('k', () => 'v1')
    clock.advance(100 + 1_000)
    expect(await cache.lookup('k', () => 'v2')).toEqual({ value: 'v2', hitLevel: 3, stale: false })
    expect(cache.stats().backgroundReloads).toBe(0)
  })

  it('get() by 1,000 callers of one thread inside the window starts one background reload, which asks for the lock once', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    let lockAttempts = 0
    const store = wrapStore(dict, {
      tryLock: (...args) => {
        lockAttempts++
        return dict.tryLock(...args)
      },
    })
    const { cache } = testCache<string>('c', { store: cacheStore(store), ttl: 100, staleWhileRevalidate: 1_000 }, clock)
    await cache.get('k', () => 'v1')
    lockAttempts = 0
    clock.advance(150)
    const loader = heldLoader<string>()
    const answers = await Promise.all(Array.from({ length: 1_000 }, () => cache.lookup('k', loader)))
    expect(answers.every((answer) => answer.value === 'v1' && answer.hitLevel === 4)).toBe(true)
    await eventually(() => loader.calls.length === 1, 'the reload called the loader')
    loader.calls[0]?.answer.resolve('v2')
    await cache.update()
    expect(loader.calls).toHaveLength(1)
    expect(cache.stats().backgroundReloads).toBe(1)
    expect(lockAttempts).toBe(1)
  })

  it('get() in a second worker while the first one reloads serves the stale value and runs no loader of its own', async () => {
    const { a, b, clock } = twoWorkers({ ttl: 100, staleWhileRevalidate: 1_000 })
    await a.get('k', () => 'v1')
    clock.advance(150)
    const loader = heldLoader<string>()
    expect(await a.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await eventually(() => loader.calls.length === 1, 'worker A reloads')
    // Worker B finds the loader lock taken by A's reload: it does not wait for it, and does not load.
    expect(await b.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await b.update()
    expect(loader.calls).toHaveLength(1)
    loader.calls[0]?.answer.resolve('v2')
    await a.update()
    expect(await b.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 2, stale: false })
    expect(a.stats().backgroundReloads + b.stats().backgroundReloads).toBe(1)
  })

  it('a background reload that takes the lock after another worker reloaded the key runs no loader (it re-reads L2 under the lock)', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const bus = new LocalBus()
    // Worker B's lock attempts wait until the test lets them through: B read the stale value before A's reload
    // landed, and asks for the lock only after A released it.
    const gate = deferred<void>()
    const bStore = wrapStore(dict, { tryLock: async (...args) => gate.promise.then(() => dict.tryLock(...args)) })
    const options = { bus, clock: clock.now, ttl: 100, staleWhileRevalidate: 1_000 }
    const a = new MLCache<string>('c', { ...options, store: dict, lru: testLru(clock) })
    const b = new MLCache<string>('c', { ...options, store: bStore, lru: testLru(clock) })
    onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => bus.close()))
    await a.get('k', () => 'v1')
    clock.advance(150)
    const loader = countingLoader(() => 'v2')
    expect(await b.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 4 })
    expect(await a.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await a.update()
    expect(loader.calls).toBe(1)
    gate.resolve()
    await b.update()
    expect(loader.calls).toBe(1)
    expect(b.stats().backgroundReloads).toBe(0)
    expect(await b.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 2, stale: false })
  })

  it('a failing background reload keeps the stale value, is counted and reaches onBackgroundError', async () => {
    const reported: [Error, string][] = []
    const { cache, clock } = testCache<string>('c', {
      ttl: 100,
      staleWhileRevalidate: 1_000,
      onBackgroundError: (error, key) => reported.push([error, key]),
    })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await cache.update()
    expect(reported).toHaveLength(1)
    expect(reported[0]?.[0]).toBeInstanceOf(LoaderError)
    expect((reported[0]?.[0].cause as Error).message).toBe('database down')
    expect(reported[0]?.[1]).toBe('k')
    expect(cache.stats()).toMatchObject({ backgroundReloads: 1, backgroundErrors: 1, loaderErrors: 1 })
    // Still within the window: served stale again, and the next reload is tried.
    const loader = countingLoader(() => 'v2')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await cache.update()
    expect(loader.calls).toBe(1)
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v2', hitLevel: 2, stale: false })
  })

  it('an onBackgroundError hook that throws is ignored, and a failing reload rejects nothing', async () => {
    const { cache, clock } = testCache<string>('c', {
      ttl: 100,
      staleWhileRevalidate: 1_000,
      onBackgroundError: () => {
        throw new Error('the hook failed too')
      },
    })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await cache.update()
    // An unhandled rejection would fail this test run.
    expect(cache.stats().backgroundErrors).toBe(1)
  })

  it('a failing background reload with resurrectTtl writes the stale value back for resurrectTtl', async () => {
    const { cache, clock, lru } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 1_000, resurrectTtl: 500 })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toMatchObject({ value: 'v1', hitLevel: 4 })
    await cache.update()
    expect(cache.stats()).toMatchObject({ resurrections: 1, backgroundErrors: 1 })
    // Resurrected in L2: fresh for 500 ms, so no reload is tried meanwhile.
    lru.clear()
    const loader = countingLoader(() => 'v2')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 4, stale: true })
    await cache.update()
    expect(loader.calls).toBe(0)
  })

  it('get() after purge() waits for the loader: a purged value is never served stale', async () => {
    // A clock near 0 (a test's), where the purge's expiry instant is only milliseconds in the past.
    const { cache, clock } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 60_000 }, fakeClock(10))
    await cache.get('k', () => 'v1')
    clock.advance(10)
    await cache.purge()
    expect(await cache.peek('k', { stale: true })).toMatchObject({ value: 'v1', stale: true })
    expect(await cache.lookup('k', () => 'v2')).toEqual({ value: 'v2', hitLevel: 3, stale: false })
    expect(cache.stats().backgroundReloads).toBe(0)
  })

  it('get() after delete() waits for the loader', async () => {
    const { cache } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 60_000 })
    await cache.get('k', () => 'v1')
    await cache.delete('k')
    expect(await cache.lookup('k', () => 'v2')).toEqual({ value: 'v2', hitLevel: 3, stale: false })
  })

  it('get() with staleWhileRevalidate per call serves stale where the cache has none', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100 })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(await cache.lookup('k', () => 'v2', { staleWhileRevalidate: 1_000 })).toMatchObject({ value: 'v1', hitLevel: 4 })
    await cache.update()
    expect(await cache.lookup('k', () => 'v3')).toEqual({ value: 'v2', hitLevel: 2, stale: false })
  })

  it('staleWhileRevalidate keeps an entry readable as stale for the window even when it is longer than the TTL', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 10_000 })
    await cache.set('k', 'v1')
    clock.advance(5_000)
    expect(await cache.peek('k', { stale: true })).toMatchObject({ value: 'v1', stale: true })
    expect(await cache.lookup('k', () => 'v2')).toMatchObject({ value: 'v1', hitLevel: 4 })
  })

  it('a "not found" within the window is served stale too, and reloaded', async () => {
    const { cache, clock } = testCache<string>('c', { negTtl: 100, staleWhileRevalidate: 1_000 })
    await cache.get('k', () => null)
    clock.advance(150)
    expect(await cache.lookup('k', () => 'found')).toEqual({ value: undefined, hitLevel: 4, stale: true })
    await cache.update()
    expect(await cache.lookup('k', () => 'other')).toEqual({ value: 'found', hitLevel: 2, stale: false })
  })

  it('close() cancels a background reload: the loader signal aborts, nothing is written, the lock is released and no timer is left', async () => {
    const { cache, clock, store } = testCache<string>('c', { ttl: 100, staleWhileRevalidate: 1_000, loaderTimeout: { hard: 60_000 } })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    const timers = watchTimers()
    const loader = heldLoader<string>()
    await cache.lookup('k', loader)
    await eventually(() => loader.calls.length === 1, 'the reload called the loader')
    // The reload's hard timeout is running.
    expect(timers.pending()).toBe(1)
    await cache.close()
    expect(timers.pending()).toBe(0)
    const { signal, answer } = loader.calls[0] as (typeof loader.calls)[0]
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBeInstanceOf(ClosedError)
    // The loader ignored its signal and answers after close(): the answer is dropped.
    answer.resolve('late')
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.readEntry('c', 'k')).toMatchObject({ stale: true })
    expect(store.tryLock('c', 'k', 'another-owner', 1_000)).toBe('acquired')
    expect(cache.stats().backgroundErrors).toBe(0)
  })
})
