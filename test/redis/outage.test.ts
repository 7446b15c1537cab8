/**
 * The README's outage table, row by row, against a real redis-server that
 * the tests kill (SIGKILL), pause (SIGSTOP) and restart on the same port,
 * and whose pub/sub clients they kick (`CLIENT KILL TYPE pubsub`). The
 * caches use a short `commandTimeout`, so that a call that would hang shows
 * as one that does not settle within a generous bound. No test may leave
 * an unhandled rejection (vitest fails the run on one) or an ioredis
 * `'error'` event without a listener (checked after each test).
 */
import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { L2Error } from '../../src/errors.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { MLCache } from '../../src/mlcache.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

/** The Redis calls' bound in these tests (ms). */
const COMMAND_TIMEOUT = 200
/** A bound that only a hang exceeds: several command timeouts and loader runs. */
const HANG = 5_000

/** Answers what `promise` rejected with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (error: unknown) => error,
  )
}

/** Resolves `true` when `promise` settles before {@link HANG}. */
async function settlesInTime(promise: Promise<unknown>): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hung = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HANG)
  })
  try {
    return await Promise.race([promise.then(() => true, () => true), hung])
  } finally {
    clearTimeout(timer)
  }
}

function expectL2Error(error: unknown): void {
  expect(error).toBeInstanceOf(L2Error)
  expect(error).toHaveProperty('code', 'E_L2')
  expect((error as L2Error).cause).toBeDefined()
}

describe.runIf(redisServerInstalled)('MLCache over Redis during an outage', () => {
  const server = useRedisServer()
  let run = 0
  const opened: { close(): Promise<void> }[] = []
  // ioredis prints an 'error' event that has no listener to console.error: none may happen.
  let consoleError: MockInstance<typeof console.error>
  beforeEach(() => {
    consoleError = vi.spyOn(console, 'error')
  })
  afterEach(async () => {
    const unheard = consoleError.mock.calls.filter((call) => String(call[0]).includes('Unhandled error event'))
    consoleError.mockRestore()
    expect(unheard).toEqual([])
    server().resume()
    // Caches first, then their buses and stores.
    for (const resource of opened.splice(0)) await resource.close()
  })

  /** A cache with its own RedisStore and RedisBus on a prefix shared by the caches of one test. */
  function cacheOn(prefix: string): { cache: MLCache<unknown>; store: RedisStore; bus: RedisBus } {
    const store = new RedisStore({ url: server().url, prefix, commandTimeout: COMMAND_TIMEOUT })
    const bus = new RedisBus({ url: server().url, prefix, commandTimeout: COMMAND_TIMEOUT, heartbeatInterval: 100 })
    const cache = new MLCache<unknown>('users', { store, bus })
    opened.push(cache, bus, store)
    return { cache, store, bus }
  }
  const freshPrefix = () => `outage${++run}:`

  it('get() serves an L1 hit while Redis is down, without calling the store', async () => {
    const { cache, store } = cacheOn(freshPrefix())
    await cache.get('k', () => 'v')
    await server().kill()
    const read = vi.spyOn(store, 'readEntry')
    expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 1, stale: false })
    expect(read).not.toHaveBeenCalled()
    await server().restart()
  })

  it('get() with a loader runs it while Redis is down: hitLevel 3, and the value is kept in L1', async () => {
    const { cache } = cacheOn(freshPrefix())
    await server().kill()
    const loader = vi.fn(() => 'loaded')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'loaded', hitLevel: 3 })
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'loaded', hitLevel: 1 })
    expect(loader).toHaveBeenCalledTimes(1)
    await server().restart()
  })

  it('get() without a loader rejects with L2Error while Redis is down or paused', async () => {
    const { cache } = cacheOn(freshPrefix())
    await cache.get('warm', () => 1)
    server().pause()
    expectL2Error(await rejection(cache.get('paused')))
    server().resume()
    await server().kill()
    expectL2Error(await rejection(cache.get('killed')))
    await server().restart()
  })

  it('set(), delete() and purge() drop the key from the local L1, then reject with L2Error', async () => {
    const { cache } = cacheOn(freshPrefix())
    await cache.get('a', () => 'a')
    await cache.get('b', () => 'b')
    await cache.get('c', () => 'c')
    await server().kill()
    expectL2Error(await rejection(cache.set('a', 'new')))
    expectL2Error(await rejection(cache.delete('b')))
    // Dropped from L1: the loader runs again (Redis is still down).
    expect(await cache.lookup('a', () => 'reloaded')).toMatchObject({ value: 'reloaded', hitLevel: 3 })
    expect(await cache.lookup('b', () => 'reloaded')).toMatchObject({ value: 'reloaded', hitLevel: 3 })
    expect(await cache.lookup('c')).toMatchObject({ value: 'c', hitLevel: 1 })
    expectL2Error(await rejection(cache.purge()))
    expect(await cache.lookup('c', () => 'reloaded')).toMatchObject({ value: 'reloaded', hitLevel: 3 })
    await server().restart()
  })

  it('a burst of 300 gets while Redis is paused all settle: loaded ones with hitLevel 3, the rest with L2Error', async () => {
    const { cache } = cacheOn(freshPrefix())
    await cache.get('warm', () => 1)
    server().pause()
    const burst = Promise.allSettled(
      Array.from({ length: 300 }, (_, i) => (i % 2 === 0 ? cache.lookup(`k${i}`, async () => i) : cache.lookup(`k${i}`))),
    )
    expect(await settlesInTime(burst)).toBe(true)
    const results = await burst
    results.forEach((result, i) => {
      if (i % 2 === 0) expect(result).toMatchObject({ status: 'fulfilled', value: { value: i, hitLevel: 3 } })
      else expect(result.status === 'rejected' && result.reason instanceof L2Error).toBe(true)
    })
    server().resume()
  })

  it('the cache resumes by itself when Redis is back: each store and bus announces it once, and every L1 is cleared', async () => {
    const prefix = freshPrefix()
    const one = cacheOn(prefix)
    const two = cacheOn(prefix)
    const signals: string[] = []
    for (const [name, { store, bus }] of [['one', one], ['two', two]] as const) {
      store.onRecovered(() => void signals.push(`${name} store`))
      bus.subscribe('bus', 'resync', (data) => {
        signals.push(`${name} bus ${(data as { reason: string }).reason}`)
      })
    }
    await one.cache.get('k', () => 'v1')
    expect(await two.cache.lookup('k')).toMatchObject({ value: 'v1', hitLevel: 2 })
    await server().kill()
    // A set that fails on L2 while the other cache's L1 still holds the old value.
    expectL2Error(await rejection(one.cache.set('k', 'v2')))
    await two.cache.get('other').catch(() => undefined)
    signals.splice(0)
    await server().restart()
    // Nothing to call: both stores and both buses come back by themselves. (A bus may also have
    // announced its silence while Redis was down: that resync belongs to the outage, not to the recovery.)
    const expected = ['one bus reconnect', 'one store', 'two bus reconnect', 'two store']
    const recoveries = () => signals.filter((signal) => !signal.endsWith('silence')).sort()
    await vi.waitFor(() => expect([...new Set(recoveries())]).toEqual(expected), { timeout: HANG, interval: 20 })
    const seen = signals.length
    // The L1s were cleared: L2 (emptied by the restart) misses, and the loader runs.
    expect(await two.cache.lookup('k', () => 'fresh')).toMatchObject({ value: 'fresh', hitLevel: 3 })
    await one.cache.update()
    expect(await one.cache.lookup('k')).toMatchObject({ value: 'fresh', hitLevel: 2 })
    // Announced once each, not over and over: L1 keeps what it read from now on.
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(signals.slice(seen)).toEqual([])
    expect(recoveries()).toEqual(expected)
    expect(await one.cache.lookup('k')).toMatchObject({ value: 'fresh', hitLevel: 1 })
    expect(await two.cache.lookup('k')).toMatchObject({ value: 'fresh', hitLevel: 1 })
  })

  it('CLIENT KILL TYPE pubsub cannot leave a missed invalidation behind: the bus resyncs and every L1 clears', async () => {
    const prefix = freshPrefix()
    const one = cacheOn(prefix)
    const two = cacheOn(prefix)
    await one.cache.get('k', () => 'old')
    expect(await two.cache.lookup('k')).toMatchObject({ value: 'old', hitLevel: 2 })
    expect(await two.cache.lookup('k')).toMatchObject({ hitLevel: 1 })
    await one.cache.set('other', 'new')
    const encoded = await one.store.readEntry('users', 'other')
    if (encoded === undefined) throw new Error('the entry of other was not written')
    const admin = new Redis(server().url)
    try {
      await admin.client('KILL', 'TYPE', 'pubsub')
    } finally {
      admin.disconnect()
    }
    // Written straight to L2, with no event at all: only a resync can take the old value out of the L1s.
    expect(await one.store.writeEntry('users', 'k', encoded.value, 0, encoded.flags)).toBe('ok')
    await vi.waitFor(async () => expect(await two.cache.lookup('k')).toMatchObject({ value: 'new' }), { timeout: HANG, interval: 50 })
  })

  it('close() leaves no connection and no timer behind, also after an outage', async () => {
    const before = process.getActiveResourcesInfo()
    const count = (list: string[], kind: string) => list.filter((name) => name === kind).length
    const { cache, store, bus } = cacheOn(freshPrefix())
    await cache.get('k', () => 'v')
    await server().kill()
    await rejection(cache.set('k', 'w'))
    await server().restart()
    opened.splice(0)
    await cache.close()
    await bus.close()
    await store.close()
    // Polled by hand: vi.waitFor's own timers would count among the Timeouts while it checks.
    const left = () => {
      const after = process.getActiveResourcesInfo()
      return { sockets: count(after, 'TCPSocketWrap') - count(before, 'TCPSocketWrap'), timers: count(after, 'Timeout') - count(before, 'Timeout') }
    }
    // A closed socket leaves the list once the event loop has run its close callbacks.
    for (let turn = 0; turn < 25 && (left().sockets > 0 || left().timers > 0); turn++) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(left().sockets).toBeLessThanOrEqual(0)
    expect(left().timers).toBeLessThanOrEqual(0)
  })
})
