/**
 * Kong's topology across hosts: each "host" (a real child process) keeps a
 * SharedDict of its own as L2, and RedisBus on a real redis-server carries
 * invalidations between them. A change on host A is never followed, after
 * `update()` on host B, by B serving the old value from its L1 or its L2;
 * an event lost while the bus was down is made up for by the resync, which
 * forgets B's copy.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type CacheProcess, useCacheProcesses } from '../helpers/cache-processes.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

const WAIT = { timeout: 15_000, interval: 50 }

describe.runIf(redisServerInstalled)('MLCache with a SharedDict per host and RedisBus between hosts', () => {
  const server = useRedisServer()
  const start = useCacheProcesses()
  let raw: Redis
  let run = 0
  beforeAll(() => {
    raw = new Redis(server().url)
    raw.on('error', () => undefined) // the server is killed in one test
  })
  afterAll(() => raw.disconnect())

  async function hosts(): Promise<{ a: CacheProcess; b: CacheProcess; prefix: string }> {
    const prefix = `hosts${++run}:`
    const [a, b] = await Promise.all([start({ url: server().url, prefix, l2: 'shared-dict' }), start({ url: server().url, prefix, l2: 'shared-dict' })])
    return { a: a!, b: b!, prefix }
  }

  /** Both hosts load `key` into their own L2 and L1. */
  async function warm(a: CacheProcess, b: CacheProcess, key: string): Promise<void> {
    for (const host of [a, b]) expect(await host.call({ op: 'lookup', key, loaderDelay: 0 })).toMatchObject({ hitLevel: 3 })
    for (const host of [a, b]) expect(await host.call({ op: 'lookup', key })).toMatchObject({ hitLevel: 1 })
  }

  it('get() of a cold key runs one loader per host: the loader lock is per copy of L2', async () => {
    const { a, b, prefix } = await hosts()
    await warm(a, b, 'k')
    expect(Number(await raw.get(`${prefix}test:loads:k`))).toBe(2)
  })

  it('delete(), set() and purge() on host A: after update(), host B serves neither its L1 nor its own L2 copy', async () => {
    const { a, b } = await hosts()
    await warm(a, b, 'k')
    await a.call({ op: 'delete', key: 'k' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 })

    await warm(a, b, 's')
    await a.call({ op: 'set', key: 's', value: 'new' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 's' })).toEqual({ hitLevel: -1 })

    await warm(a, b, 'p')
    await a.call({ op: 'purge' })
    await b.call({ op: 'update' })
    expect(await b.call({ op: 'lookup', key: 'p' })).toEqual({ hitLevel: -1 })
  })

  it('a delete on host A while redis-server is down is lost on the bus, and host B forgets its copy on the resync when Redis is back', async () => {
    const { a, b } = await hosts()
    await warm(a, b, 'k')
    await server().kill()
    // A's own copy and L1 drop the key; the invalidation cannot reach B.
    await expect(a.call({ op: 'delete', key: 'k' })).rejects.toMatchObject({ name: 'BusError' })
    expect(await a.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 })
    await server().restart()
    // B reconnects by itself; its resync clears its L1 and forgets its copy of L2.
    await vi.waitFor(async () => expect(await b.call({ op: 'lookup', key: 'k' })).toEqual({ hitLevel: -1 }), WAIT)
  })
})
