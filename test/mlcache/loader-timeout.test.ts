/**
 * loaderTimeout: soft and hard limits of a load, on real time (as lock
 * waits are). No outcome depends on how fast the machine is: the loaders
 * here answer only when the test (or their aborted signal) says so.
 */
import { describe, expect, it } from 'vitest'
import { LoaderTimeoutError, LockTimeoutError } from '../../src/errors.js'
import type { LoaderContext } from '../../src/types.js'
import { countingLoader, testCache } from '../helpers/cache-factory.js'
import { deferred } from '../helpers/deferred.js'
import { eventually, watchTimers } from '../helpers/eventually.js'

/** A loader that honours `ctx.signal`: it rejects with the signal's reason when aborted, and never answers otherwise. */
function cancellableLoader() {
  const signals: AbortSignal[] = []
  const loader = (_key: string, ctx: LoaderContext<string>): Promise<string> => {
    signals.push(ctx.signal)
    return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error)))
  }
  return Object.assign(loader, { signals })
}

/** A loader that ignores its signal and answers when the test resolves it. */
function stubbornLoader() {
  const answer = deferred<string>()
  const signals: AbortSignal[] = []
  const loader = (_key: string, ctx: LoaderContext<string>): Promise<string> => {
    signals.push(ctx.signal)
    return answer.promise
  }
  return Object.assign(loader, { signals, answer })
}

describe('get() with loaderTimeout', () => {
  it('get() rejects with LoaderTimeoutError after the hard timeout, aborts ctx.signal and releases the lock', async () => {
    const { cache, store } = testCache<string>('c', { loaderTimeout: { hard: 30 } })
    const loader = cancellableLoader()
    const error = await cache.get('k', loader).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LoaderTimeoutError)
    expect(error).toMatchObject({ code: 'E_LOADER_TIMEOUT', key: 'k' })
    expect(loader.signals[0]?.aborted).toBe(true)
    expect(loader.signals[0]?.reason).toBe(error)
    expect(store.tryLock('c', 'k', 'another owner', 1_000)).toBe('acquired')
    expect(cache.stats()).toMatchObject({ loaderTimeouts: 1, loaderErrors: 0, loaderCalls: 1 })
  })

  it('get() past the hard timeout drops what a loader that ignores ctx.signal answers later', async () => {
    const { cache, store } = testCache<string>('c', { loaderTimeout: { hard: 30 } })
    const loader = stubbornLoader()
    await expect(cache.get('k', loader)).rejects.toBeInstanceOf(LoaderTimeoutError)
    expect(loader.signals[0]?.aborted).toBe(true)
    loader.answer.resolve('too late')
    await new Promise((resolve) => setImmediate(resolve))
    expect(store.readEntry('c', 'k')).toBeUndefined()
    // The next get loads again (the lock was released).
    expect(await cache.lookup('k', () => 'fresh')).toEqual({ value: 'fresh', hitLevel: 3, stale: false })
  })

  it('get() after the soft timeout answers the stale value, and the load fills L2 when it finishes', async () => {
    const { cache, clock, store } = testCache<string>('c', { ttl: 100, loaderTimeout: { soft: 20 } })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    const loader = stubbornLoader()
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 4, stale: true })
    loader.answer.resolve('v2')
    await eventually(() => store.readEntry('c', 'k')?.stale === false, 'the load landed')
    expect(await cache.peek('k')).toMatchObject({ value: 'v2', stale: false })
    expect(await cache.lookup('k', () => 'v3')).toEqual({ value: 'v2', hitLevel: 2, stale: false })
    expect(loader.signals[0]?.aborted).toBe(false)
  })

  it('get() without a stale value keeps waiting past the soft timeout', async () => {
    const { cache } = testCache<string>('c', { loaderTimeout: { soft: 5 } })
    const loader = stubbornLoader()
    let settled = false
    const lookup = cache.lookup('k', loader).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(settled).toBe(false)
    loader.answer.resolve('v')
    expect(await lookup).toEqual({ value: 'v', hitLevel: 3, stale: false })
  })

  it('get() with a hard timeout and resurrectTtl resurrects the stale value as for a failing loader', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100, resurrectTtl: 1_000, loaderTimeout: { hard: 20 } })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(await cache.lookup('k', cancellableLoader())).toEqual({ value: 'v1', hitLevel: 4, stale: true })
    expect(cache.stats()).toMatchObject({ loaderTimeouts: 1, resurrections: 1 })
    expect(await cache.peek('k')).toMatchObject({ value: 'v1', stale: false })
  })

  it('a waiter for another worker lock gets the stale value after its soft timeout', async () => {
    const { cache, clock, store } = testCache<string>('c', { ttl: 100, loaderTimeout: { soft: 10 } })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    expect(store.tryLock('c', 'k', 'another worker', 60_000)).toBe('acquired')
    const loader = countingLoader(() => 'v2')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'v1', hitLevel: 4, stale: true })
    expect(loader.calls).toBe(0)
    // The wait goes on in the background: once the holder lets go, it takes the lock and loads.
    store.unlock('c', 'k', 'another worker')
    await eventually(() => loader.calls === 1, 'the waiting load took the lock')
  })

  it('a waiter for another worker lock rejects with LoaderTimeoutError after its hard timeout, before lockTimeout', async () => {
    const { cache, store } = testCache<string>('c', { lockTimeout: 60_000, loaderTimeout: { hard: 20 } })
    expect(store.tryLock('c', 'k', 'another worker', 60_000)).toBe('acquired')
    const error = await cache.get('k', () => 'v').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LoaderTimeoutError)
    expect(cache.stats()).toMatchObject({ loaderTimeouts: 1, lockTimeouts: 0, lockWaits: 1 })
  })

  it('a lockTimeout shorter than the hard timeout still rejects with LockTimeoutError', async () => {
    const { cache, store } = testCache<string>('c', { lockTimeout: 20, loaderTimeout: { hard: 60_000 } })
    expect(store.tryLock('c', 'k', 'another worker', 60_000)).toBe('acquired')
    await expect(cache.get('k', () => 'v')).rejects.toBeInstanceOf(LockTimeoutError)
    expect(cache.stats()).toMatchObject({ loaderTimeouts: 0, lockTimeouts: 1 })
  })

  it('a load that answers before its limits leaves no timer running', async () => {
    const { cache, clock } = testCache<string>('c', { ttl: 100, loaderTimeout: { soft: 60_000, hard: 120_000 } })
    await cache.get('k', () => 'v1')
    clock.advance(150)
    const timers = watchTimers()
    expect(await cache.lookup('k', async () => 'v2')).toMatchObject({ value: 'v2', hitLevel: 3 })
    expect(timers.pending()).toBe(0)
  })

  it('ctx.signal of a loader without limits is never aborted', async () => {
    const { cache } = testCache<string>('c')
    let signal: AbortSignal | undefined
    await cache.get('k', (_key, ctx) => {
      signal = ctx.signal
      return 'v'
    })
    expect(signal).toBeInstanceOf(AbortSignal)
    expect(signal?.aborted).toBe(false)
  })

  it('loaderTimeout options are validated', () => {
    const bad: [unknown, RegExp][] = [
      [{ soft: -1 }, /options\.loaderTimeout\.soft/],
      [{ hard: 'x' }, /options\.loaderTimeout\.hard/],
      [{ soft: 50, hard: 50 }, /options\.loaderTimeout\.soft must be < options\.loaderTimeout\.hard/],
      [{ sfot: 1 }, /options\.loaderTimeout\.sfot is not a known option/],
      [10, /options\.loaderTimeout must be an object/],
    ]
    for (const [loaderTimeout, message] of bad) {
      expect(() => testCache('c', { loaderTimeout } as never)).toThrow(message)
    }
    expect(() => testCache('c', { refreshAhead: 1 })).toThrow(/options\.refreshAhead must be > 0 and < 1/)
    expect(() => testCache('c', { refreshAhead: 0 })).toThrow(RangeError)
    expect(() => testCache('c', { staleWhileRevalidate: -1 })).toThrow(/options\.staleWhileRevalidate/)
    expect(() => testCache('c', { onBackgroundError: 'log' as never })).toThrow(/options\.onBackgroundError/)
  })

  it('get() rejects bad per-call loaderTimeout, staleWhileRevalidate and refreshAhead with a RangeError or TypeError', async () => {
    const { cache } = testCache<string>('c')
    await expect(cache.get('k', () => 'v', { loaderTimeout: { soft: 10, hard: 5 } })).rejects.toThrow(RangeError)
    await expect(cache.get('k', () => 'v', { refreshAhead: 2 })).rejects.toThrow(RangeError)
    await expect(cache.get('k', () => 'v', { staleWhileRevalidate: Number.NaN })).rejects.toThrow(/staleWhileRevalidate/)
  })
})
