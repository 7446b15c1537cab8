/**
 * The README's outage rows for a TieredStore, against a real redis-server
 * paused with SIGSTOP: an MLCache over a SharedDict in front of a
 * RedisStore, with a RedisBus. A fresh near copy is served; what near lacks
 * fails as over a RedisStore, and nothing is copied into near; once Redis
 * answers again the near copies are forgotten, so a change made meanwhile
 * (whose invalidation could not arrive) is seen.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { L2Error } from '../../src/errors.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../src/l2/tiered/tiered-store.js'
import { MLCache } from '../../src/mlcache.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

/** The Redis calls' bound in these tests (ms). */
const COMMAND_TIMEOUT = 200

describe.runIf(redisServerInstalled)('MLCache over TieredStore during a Redis outage', () => {
  const server = useRedisServer()
  let run = 0
  const opened: { close(): Promise<void> }[] = []
  afterEach(async () => {
    server().resume()
    for (const resource of opened.splice(0)) await resource.close()
  })

  /** A host: a cache over its own SharedDict in front of a RedisStore, with a RedisBus, on a prefix of its own. */
  function host(): { cache: MLCache<unknown>; near: SharedDict; far: RedisStore } {
    const prefix = `tiered-outage${++run}:`
    const far = new RedisStore({ url: server().url, prefix, commandTimeout: COMMAND_TIMEOUT })
    const bus = new RedisBus({ url: server().url, prefix, commandTimeout: COMMAND_TIMEOUT, heartbeatInterval: 100 })
    const near = SharedDict.create({ size: '1m' })
    const cache = new MLCache<unknown>('users', { store: new TieredStore({ near, far }), bus, lruSize: 1 })
    opened.push(cache, bus, far)
    return { cache, near, far }
  }

  it('a fresh near copy is served; what near lacks is loaded or fails as over a RedisStore, and is not copied into near', async () => {
    const { cache, near } = host()
    await cache.get('cached', () => 'value')
    // Out of the L1 of one entry: the next read of 'cached' is an L2 read.
    await cache.get('other', () => 'other')
    server().pause()
    expect(await cache.lookup('cached')).toEqual({ value: 'value', hitLevel: 2, stale: false })
    const error = await cache.lookup('missing').catch((failure: unknown) => failure)
    expect(error).toBeInstanceOf(L2Error)
    expect(await cache.lookup('loaded', () => 'fresh')).toEqual({ value: 'fresh', hitLevel: 3, stale: false })
    expect(near.readEntry('users', 'missing')).toBeUndefined()
    expect(near.readEntry('users', 'loaded')).toBeUndefined()
  })

  it('once Redis answers again, the near copies are forgotten: a change made meanwhile is seen', async () => {
    const { cache, near, far } = host()
    await cache.get('k', () => 'old')
    await cache.get('other', () => 'other')
    expect(near.readEntry('users', 'k')?.stale).toBe(false)
    // Another host's change whose invalidation never arrives: written straight to Redis.
    const elsewhere = new MLCache<unknown>('users', { store: far })
    await elsewhere.set('k', 'new')
    await elsewhere.close()
    expect((await cache.lookup('k')).value).toBe('old')
    // An outage: a call fails, the store and the bus then recover by themselves.
    server().pause()
    await cache.lookup('missing').catch(() => undefined)
    server().resume()
    await vi.waitFor(
      async () => {
        expect(await cache.lookup('k')).toEqual({ value: 'new', hitLevel: 2, stale: false })
      },
      { timeout: 10_000, interval: 50 },
    )
  })
})
