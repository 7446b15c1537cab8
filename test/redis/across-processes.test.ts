/**
 * One cache across processes: real child processes, each with its own
 * MLCache over RedisStore and RedisBus on one real redis-server. One loader
 * call in total for a cold key, invalidations seen everywhere after
 * `update()`, a killed lock holder that frees its key after `lockExptime`,
 * and a unique event handled once across processes.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type CacheProcess, useCacheProcesses } from '../helpers/cache-processes.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('MLCache across processes (RedisStore + RedisBus)', () => {
  const server = useRedisServer()
  const start = useCacheProcesses()
  let raw: Redis
  let run = 0
  beforeAll(() => {
    raw = new Redis(server().url)
  })
  afterAll(() => raw.disconnect())

  /** `count` processes on a prefix of their own (with the given lock options). */
  async function processes(count: number, options: { lockExptime?: number; lockTimeout?: number; staleWhileRevalidate?: number } = {}): Promise<{ all: CacheProcess[]; prefix: string }> {
    const prefix = `across${++run}:`
    const all = await Promise.all(Array.from({ length: count }, () => start({ url: server().url, prefix, ...options })))
    return { all, prefix }
  }

  const loads = async (prefix: string, key: string) => Number((await raw.get(`${prefix}test:loads:${key}`)) ?? 0)

  it('get() runs one loader in total for a cold key fetched concurrently by 4 processes', async () => {
    const { all, prefix } = await processes(4)
    const levels = await Promise.all(all.map((child) => child.call<number[]>({ op: 'stampede', key: 'cold', calls: 50, loaderDelay: 200 })))
    expect(await loads(prefix, 'cold')).toBe(1)
    const flat = levels.flat()
    expect(flat).toHaveLength(200)
    expect(flat.filter((level) => level === 3)).toHaveLength(1)
    expect(flat.every((level) => level === 2 || level === 3)).toBe(true)
  })

  it('get() of a stale key by 4 processes inside staleWhileRevalidate answers at once and runs one background reload in total', async () => {
    // The window is the caches': a store that deletes expired keys (Redis) keeps an entry as long as its writer asked.
    const { all, prefix } = await processes(4, { staleWhileRevalidate: 60_000 })
    const [first] = all as [CacheProcess]
    // Expires 1 ms after it is written: stale by the time the processes read it.
    await first.call({ op: 'set', key: 'hot', value: 'old', ttl: 1 })
    await new Promise((resolve) => setTimeout(resolve, 10))
    const levels = await Promise.all(all.map((child) => child.call<number[]>({ op: 'revalidate', key: 'hot', calls: 50, loaderDelay: 500 })))
    expect(await loads(prefix, 'hot')).toBe(1)
    // The stale value at once; a process slow enough to start after the reload landed reads the new one.
    expect(levels.flat().every((level) => level === 4 || level === 2)).toBe(true)
    expect(levels.flat().filter((level) => level === 4).length).toBeGreaterThan(0)
    for (const child of all) expect(await child.call({ op: 'lookup', key: 'hot' })).toMatchObject({ value: { key: 'hot' }, hitLevel: 2 })
  })

  it('set(), delete() and purge() in one process are seen by another after update()', async () => {
    const { all: [a, b] } = await processes(2)
    if (a === undefined || b === undefined) throw new Error('two processes expected')
    await a.call({ op: 'lookup', key: 'k', loaderDelay: 0 })
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 2 })
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 1 })

    await a.call({ op: 'set', key: 'k', value: 'new' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ value: 'new', hitLevel: 2 })

    await a.call({ op: 'delete', key: 'k' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 })

    await a.call({ op: 'set', key: 'p', value: 'before' })
    expect(await b.call({ op: 'lookup', key: 'p' })).toMatchObject({ value: 'before' })
    await a.call({ op: 'purge' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'p' })).toEqual({ hitLevel: -1 })
  })

  it('a lock holder killed with SIGKILL frees the key after lockExptime, and a waiter in another process loads it', async () => {
    const { all: [holder, waiter], prefix } = await processes(2, { lockExptime: 1_000, lockTimeout: 20_000 })
    if (holder === undefined || waiter === undefined) throw new Error('two processes expected')
    void holder.call({ op: 'lookup', key: 'held', loaderDelay: 60_000 }).catch(() => undefined)
    expect(await holder.nextEvent()).toEqual({ loading: 'held' })
    const waited = waiter.call<{ value: { by: number }; hitLevel: number }>({ op: 'lookup', key: 'held', loaderDelay: 0 })
    await holder.kill('SIGKILL')
    const found = await waited
    expect(found.hitLevel).toBe(3)
    expect(found.value.by).toBe(waiter.child.pid)
    expect(await loads(prefix, 'held')).toBe(2)
  })

  it('a unique event is handled by exactly one process, and dropped when published again within uniqueTimeout', async () => {
    const { all, prefix } = await processes(3)
    await Promise.all(all.map((child) => child.call({ op: 'subscribe-unique', event: 'job' })))
    const [publisher] = all
    if (publisher === undefined) throw new Error('a process expected')
    await publisher.call({ op: 'publish-unique', hash: 'job-1', event: 'job' })
    await vi.waitFor(async () => expect(Number(await raw.get(`${prefix}test:handled:job`))).toBe(1), { timeout: 5_000, interval: 20 })
    await publisher.call({ op: 'publish-unique', hash: 'job-1', event: 'job' })
    await all[1]?.call({ op: 'publish-unique', hash: 'job-1', event: 'job' })
    // Every member has seen everything published so far once update() resolves.
    await Promise.all(all.map((child) => child.call({ op: 'update' })))
    expect(Number(await raw.get(`${prefix}test:handled:job`))).toBe(1)
  })

  it('workers() lists every process, and a killed one leaves the list', async () => {
    const { all } = await processes(3)
    const ids = all.map((child) => child.workerId).sort((x, y) => x - y)
    const [first, , last] = all
    if (first === undefined || last === undefined) throw new Error('three processes expected')
    await vi.waitFor(async () => expect((await first.call<number[]>({ op: 'workers' })).sort((x, y) => x - y)).toEqual(ids), { timeout: 5_000, interval: 50 })
    await last.kill('SIGKILL')
    await vi.waitFor(async () => expect(await first.call<number[]>({ op: 'workers' })).not.toContain(last.workerId), { timeout: 5_000, interval: 50 })
  })
})
