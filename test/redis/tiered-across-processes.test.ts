/**
 * TieredStore across hosts: real child processes, each an MLCache whose
 * store is a TieredStore, a SharedDict of the process's own in front of one
 * RedisStore on a real redis-server, with a RedisBus. One loader call in
 * total for a cold key; another host's changes drop both the L1 and the
 * near copy; an L2 hit after the first read is a near hit, with no Redis
 * read (counted by the server: `INFO commandstats`, MGET being the only
 * command a RedisStore read sends).
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheProcess, useCacheProcesses } from '../helpers/cache-processes.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('MLCache across processes over TieredStore (SharedDict + RedisStore) and RedisBus', () => {
  const server = useRedisServer()
  const start = useCacheProcesses()
  let raw: Redis
  let run = 0
  beforeAll(() => {
    raw = new Redis(server().url)
  })
  afterAll(() => raw.disconnect())

  /** Two hosts on a prefix of their own, each with an L1 of one entry (so that a second key pushes the first out). */
  async function hosts(): Promise<{ a: CacheProcess; b: CacheProcess; prefix: string }> {
    const prefix = `tiered${++run}:`
    const [a, b] = await Promise.all([0, 1].map(() => start({ url: server().url, prefix, l2: 'tiered', lruSize: 1 })))
    if (a === undefined || b === undefined) throw new Error('two processes expected')
    return { a, b, prefix }
  }

  const loads = async (prefix: string, key: string) => Number((await raw.get(`${prefix}test:loads:${key}`)) ?? 0)

  /** How many MGETs (RedisStore reads) the server has answered. */
  async function redisReads(): Promise<number> {
    const stats = await raw.info('commandstats')
    return Number(/cmdstat_mget:calls=(\d+)/.exec(stats)?.[1] ?? 0)
  }

  it('get() runs one loader in total for a cold key fetched concurrently by two hosts', async () => {
    const { a, b, prefix } = await hosts()
    const levels = await Promise.all([a, b].map((host) => host.call<number[]>({ op: 'stampede', key: 'cold', calls: 20, loaderDelay: 200 })))
    expect(await loads(prefix, 'cold')).toBe(1)
    const flat = levels.flat()
    expect(flat.filter((level) => level === 3)).toHaveLength(1)
    expect(flat.every((level) => level === 2 || level === 3)).toBe(true)
  })

  it('after the first read, an L2 hit on another host is served by its near copy, without reading Redis', async () => {
    const { a, b } = await hosts()
    await a.call({ op: 'lookup', key: 'k', loaderDelay: 0 })
    // B's first read goes to Redis and copies the entry into B's SharedDict.
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 2 })
    // Another key pushes 'k' out of B's L1 of one entry.
    await b.call({ op: 'lookup', key: 'other', loaderDelay: 0 })
    const before = await redisReads()
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 2 })
    expect(await redisReads()).toBe(before)
  })

  it("one host's delete(), set() and purge() make another, after update(), serve neither its L1 nor its near copy", async () => {
    const { a, b, prefix } = await hosts()
    await a.call({ op: 'lookup', key: 'k', loaderDelay: 0 })
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 2 })
    expect(await b.call({ op: 'lookup', key: 'k' })).toMatchObject({ hitLevel: 1 })

    await a.call({ op: 'delete', key: 'k' })
    await b.call({ op: 'update' })
    // Neither B's L1 nor its SharedDict answers: Redis has nothing, so B loads again.
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 })
    expect(await b.call({ op: 'lookup', key: 'k', loaderDelay: 0 })).toMatchObject({ hitLevel: 3 })
    expect(await loads(prefix, 'k')).toBe(2)

    await a.call({ op: 'set', key: 'k', value: 'new' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ value: 'new', hitLevel: 2 })

    // Out of B's L1, still the new value: B's near copy is the new one.
    await b.call({ op: 'lookup', key: 'other', loaderDelay: 0 })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ value: 'new', hitLevel: 2 })

    await a.call({ op: 'purge' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 })
  })
})
