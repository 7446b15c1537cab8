/**
 * Page swapping over RedisStore and RedisBus on a real redis-server: each
 * cache has its own store and bus, as separate processes or hosts would.
 */
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { BusyError, NoMemoryError } from '../../src/errors.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { MLCache } from '../../src/mlcache.js'
import type { PageWriter } from '../../src/types.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('page swapping over RedisStore and RedisBus', () => {
  const server = useRedisServer()
  let raw: Redis
  let run = 0
  let prefix = ''
  const opened: { close(): Promise<void> }[] = []
  beforeAll(() => {
    raw = new Redis(server().url)
  })
  afterAll(() => raw.disconnect())
  afterEach(async () => {
    for (const resource of opened.splice(0).reverse()) await resource.close()
    prefix = `swap${++run}:`
  })
  prefix = `swap${++run}:`

  /** A cache named 'routes' with its own store and bus on this test's prefix, as another process would have. */
  function open(): { cache: MLCache<string>; store: RedisStore } {
    const store = new RedisStore({ url: server().url, prefix })
    const bus = new RedisBus({ url: server().url, prefix, heartbeatInterval: 100 })
    const cache = new MLCache<string>('routes', { store, bus })
    opened.push(store, bus, cache)
    return { cache, store }
  }

  const generation = (value: string) => (page: PageWriter<string>) => {
    for (const key of ['a', 'b', 'c']) void page.set(key, value)
  }

  /** Waits until every bus of the test lists `count` members (their heartbeats have been seen). */
  async function membersSeen(count: number, buses: RedisBus[]): Promise<void> {
    while (buses.some((bus) => bus.workers().length < count)) await new Promise((resolve) => setTimeout(resolve, 20))
  }

  it('swap() switches every process: each one serves the new generation and the old page leaves Redis', async () => {
    const all = [open(), open(), open()]
    await membersSeen(3, opened.filter((resource): resource is RedisBus => resource instanceof RedisBus))
    for (const { cache } of all) expect(await cache.get('a', () => 'gen1')).toBe('gen1')
    await all[0]!.cache.swap(generation('gen2'))
    for (const { cache } of all) {
      expect(cache.page).toBe(2)
      expect(await cache.lookup('a')).toEqual({ value: 'gen2', hitLevel: 2, stale: false })
    }
    expect(await all[1]!.store.readEntry('routes', 'a')).toBeUndefined()
  })

  it('a process that starts after the swap opens on the current page (read from Redis before its first read)', async () => {
    const first = open()
    await first.cache.swap(generation('gen2'))
    await first.cache.swap(generation('gen3'))
    const late = open()
    expect(await late.cache.lookup('b')).toEqual({ value: 'gen3', hitLevel: 2, stale: false })
    expect(late.cache.page).toBe(3)
  })

  it('a second swap() from another process while one runs rejects with BusyError', async () => {
    const [one, two] = [open(), open()]
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    let started: () => void = () => undefined
    const filling = new Promise<void>((resolve) => (started = resolve))
    const running = one.cache.swap(async (page) => {
      await page.set('a', 'one')
      started()
      await gate
    })
    await filling
    await expect(two.cache.swap(generation('two'))).rejects.toBeInstanceOf(BusyError)
    release()
    await running
    await two.cache.swap(generation('two'))
    expect(await one.cache.get('a')).toBe('two')
  })

  it('swap() of a page Redis has no memory for rejects with NoMemoryError and leaves the current page serving', async () => {
    const { cache, store } = open()
    await cache.set('a', 'gen1')
    const [, maxmemory] = (await raw.config('GET', 'maxmemory')) as [string, string]
    const [, policy] = (await raw.config('GET', 'maxmemory-policy')) as [string, string]
    try {
      await expect(
        cache.swap(async (page) => {
          await page.set('a', 'written before Redis filled up')
          await raw.config('SET', 'maxmemory-policy', 'noeviction')
          await raw.config('SET', 'maxmemory', '1')
          await page.set('b', 'gen2')
        }),
      ).rejects.toBeInstanceOf(NoMemoryError)
    } finally {
      await raw.config('SET', 'maxmemory', maxmemory)
      await raw.config('SET', 'maxmemory-policy', policy)
    }
    expect(cache.page).toBe(1)
    expect(await cache.get('a')).toBe('gen1')
    expect(await store.readEntry('routes\u00002', 'a')).toBeUndefined()
  })

  it('a snapshot keeps reading its page over Redis after a swap, and warmup() loads with writes in flight', async () => {
    const [one, two] = [open(), open()]
    const report = await one.cache.warmup(
      Array.from({ length: 200 }, (_, i) => [`k${i}`, `gen1-${i}`] as const),
      { concurrency: 8 },
    )
    expect(report).toMatchObject({ entries: 200, full: false })
    const view = two.cache.snapshot()
    await one.cache.swap(generation('gen2'), { grace: 60_000 })
    expect(await view.get('k199')).toBe('gen1-199')
    expect(await two.cache.get('k199')).toBeUndefined()
    view.release()
  })
})
