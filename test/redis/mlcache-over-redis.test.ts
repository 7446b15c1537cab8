/**
 * MLCache over RedisStore and RedisBus on a real redis-server, as the rest
 * of the suite runs it over a SharedDict: values keep their types through
 * L2, "not found" is cached, a stale value is resurrected on Redis's clock,
 * and getBulk reads L2 in one round trip.
 */
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { MLCache } from '../../src/mlcache.js'
import type { MLCacheOptions } from '../../src/types.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('MLCache over RedisStore and RedisBus', () => {
  const server = useRedisServer()
  let raw: Redis
  let run = 0
  const opened: { close(): Promise<void> }[] = []
  beforeAll(() => {
    raw = new Redis(server().url)
  })
  afterAll(() => raw.disconnect())
  afterEach(async () => {
    for (const resource of opened.splice(0)) await resource.close()
  })

  /** `count` caches named 'users', each with its own store and bus (as in separate processes), on one fresh prefix. */
  function caches<V>(count: number, options: MLCacheOptions<V> = {}): MLCache<V>[] {
    const prefix = `over${++run}:`
    return Array.from({ length: count }, () => {
      const store = new RedisStore({ url: server().url, prefix })
      const bus = new RedisBus({ url: server().url, prefix })
      const cache = new MLCache<V>('users', { store, bus, ...options })
      opened.push(cache, bus, store)
      return cache
    })
  }

  const commandCalls = async (command: string): Promise<number> =>
    Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await raw.info('commandstats'))?.[1] ?? 0)

  it('get() returns hitLevel 2 from L2 in another cache, with every value type intact', async () => {
    const value = {
      map: new Map<unknown, unknown>([['a', 1], [2, { b: [3n] }]]),
      set: new Set(['x', 'y']),
      date: new Date('2026-12-06T00:00:00.123Z'),
      big: 2n ** 70n,
      bytes: new Uint8Array([0, 1, 255]),
      odd: [Number.NaN, false, 0, '', null],
      text: 'naïve ☃ 𝄞',
    }
    const [one, two] = caches<typeof value>(2)
    await one!.get('k', () => value)
    const found = await two!.lookup('k')
    expect(found.hitLevel).toBe(2)
    expect(found.value).toEqual(value)
    expect(found.value?.map).toBeInstanceOf(Map)
    expect(found.value?.bytes).toBeInstanceOf(Uint8Array)
  })

  it('get() caches "not found" in Redis for negTtl: the other cache gets undefined from L2, the loader runs once', async () => {
    const [one, two] = caches<string>(2, { negTtl: 60_000 })
    const loader = vi.fn(async () => undefined)
    expect(await one!.get('missing', loader)).toBeUndefined()
    expect(await two!.lookup('missing', loader)).toMatchObject({ value: undefined, hitLevel: 2 })
    expect(loader).toHaveBeenCalledTimes(1)
  })

  it('get() with resurrectTtl serves the expired value (hitLevel 4) when the loader fails, on Redis\'s clock', async () => {
    const [one, two] = caches<string>(2, { ttl: 100, resurrectTtl: 60_000 })
    await one!.get('k', () => 'old')
    // Expired on the server: the other cache finds it stale in L2, its loader fails, the stale value comes back.
    await vi.waitFor(async () => {
      const found = await two!.lookup('k', () => {
        throw new Error('database down')
      })
      expect(found).toMatchObject({ value: 'old', hitLevel: 4 })
    }, { timeout: 5_000, interval: 20 })
  })

  it('getBulk() reads every L1 miss from Redis in one MGET', async () => {
    const [one, two] = caches<number>(2)
    for (let i = 0; i < 20; i++) await one!.set(`k${i}`, i)
    const before = await commandCalls('mget')
    const results = await two!.getBulk(Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, loader: () => -1 })))
    expect(results.map((result) => result.value)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect((await commandCalls('mget')) - before).toBe(1)
  })
})
