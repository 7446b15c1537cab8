/**
 * The bench's Redis: a throwaway redis-server (see `redis-server.ts`), and
 * the libraries read over it side by side, each behind one small
 * {@link RedisReader} shape: MLCache over RedisStore, bentocache (memory L1 +
 * Redis L2) and cache-manager (an LRU + Redis through Keyv). Every reader
 * has an L1 of 1,000 entries in front of Redis and is filled with the same
 * keys and value, so a read that misses its L1 is a network round trip.
 */
import { tracingChannel } from 'node:diagnostics_channel'
import KeyvRedis from '@keyv/redis'
import { BentoCache, type CacheOperationMessage, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'
import { createCache } from 'cache-manager'
import { Keyv } from 'keyv'
import { LRUCache } from 'lru-cache'
import { MLCache } from '../src/index.js'
import { RedisStore } from '../src/l2/redis/redis-store.js'
import { L2_LRU_SIZE } from './fixtures.js'
import { type RedisServer, startRedisServer } from './redis-server.js'
import type { Report } from './report.js'

/** Keys written to Redis concurrently while filling. */
const FILL_CHUNK = 500

/**
 * Starts the bench's redis-server, or answers `undefined` (after printing
 * how to install it) when `redis-server` is not on PATH. With
 * `MLCACHE_REQUIRE_REDIS=1` (CI sets it, as for the tests) a missing
 * redis-server throws instead: there the Redis rows must run, not quietly
 * drop out.
 */
export async function startBenchRedis(report: Report): Promise<RedisServer | undefined> {
  const redis = await startRedisServer()
  if (redis === undefined && process.env.MLCACHE_REQUIRE_REDIS === '1') {
    throw new Error('MLCACHE_REQUIRE_REDIS=1 but redis-server is not on PATH: install it (apt-get install -y redis-server)')
  }
  if (redis === undefined) report.line('redis-server is not installed: skipping the Redis rows (apt-get install -y redis-server)')
  return redis
}

/** Where reads were served. */
export interface Served {
  l1: number
  l2: number
}

/** One library reading over Redis. */
export interface RedisReader {
  /** The task name for the reads of key sequence `label` (`uniform`, `in-order`...). */
  task(label: string): string
  get(key: string): Promise<unknown>
  /** Reads `keys` once more (not timed), counting where each read was served; throws if one missed. */
  served(keys: readonly string[]): Promise<Served>
  close(): Promise<void>
}

/** What every reader is filled with. */
export interface Fill {
  keys: readonly string[]
  value: unknown
}

/** Splits `keys` into chunks of `size`. */
function chunks(keys: readonly string[], size: number): (readonly string[])[] {
  return Array.from({ length: Math.ceil(keys.length / size) }, (_, i) => keys.slice(i * size, (i + 1) * size))
}

/** Throws unless every replayed read was a hit. */
function checkHits(reader: string, keys: readonly string[], served: Served): Served {
  if (served.l1 + served.l2 !== keys.length) throw new Error(`${reader}: ${keys.length - served.l1 - served.l2} of ${keys.length} replayed reads missed`)
  return served
}

/**
 * MLCache with an L1 of 1,000 entries over a RedisStore (TTL 0): a read
 * that misses L1 is one GET, a msgpack decode and the L1 write. `name` is
 * its namespace: two readers over one Redis never share entries.
 */
export async function mlcacheReader(redis: RedisServer, name: string, fill: Fill): Promise<RedisReader> {
  const store = new RedisStore({ url: redis.url })
  const cache = new MLCache(name, { lruSize: L2_LRU_SIZE, store, ttl: 0 })
  const close = async () => {
    await cache.close()
    await store.close()
  }
  try {
    for (const chunk of chunks(fill.keys, FILL_CHUNK)) await Promise.all(chunk.map((key) => cache.set(key, fill.value)))
  } catch (error) {
    await close()
    throw error
  }
  return {
    task: (label) => `MLCache.get (L1 1k + RedisStore), ${label} keys`,
    get: (key) => cache.get(key),
    async served(keys) {
      const before = cache.stats()
      for (const key of keys) await cache.get(key)
      const after = cache.stats()
      return checkHits('MLCache', keys, { l1: after.l1Hits - before.l1Hits, l2: after.l2Hits - before.l2Hits })
    },
    close,
  }
}

/**
 * bentocache: a memory L1 of 1,000 items (its default `serialize: true`:
 * JSON in L1, parsed on every hit) and a Redis L2 through ioredis. A read
 * that misses L1 and hits L2 writes the entry back to L1.
 */
export async function bentocacheReader(redis: RedisServer, fill: Fill): Promise<RedisReader> {
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: L2_LRU_SIZE }))
        .useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port: redis.port } })),
    },
  })
  try {
    for (const chunk of chunks(fill.keys, FILL_CHUNK)) await Promise.all(chunk.map((key) => bento.setForever({ key, value: fill.value })))
  } catch (error) {
    await bento.disconnectAll()
    throw error
  }
  return {
    task: (label) => `bentocache get (memory L1 1k + Redis L2), ${label} keys`,
    get: (key) => bento.get({ key }),
    async served(keys) {
      // Its `cache:hit` event names no layer for a plain L2 hit; its tracing channel does (`tier`).
      const served: Served = { l1: 0, l2: 0 }
      const channel = tracingChannel<'bentocache.cache.operation', CacheOperationMessage>('bentocache.cache.operation')
      const onEnd = (data: unknown) => {
        const message = data as CacheOperationMessage
        if (message.operation === 'get' && message.hit === true) served[message.tier === 'l1' ? 'l1' : 'l2']++
      }
      channel.asyncEnd.subscribe(onEnd)
      try {
        for (const key of keys) await bento.get({ key })
      } finally {
        channel.asyncEnd.unsubscribe(onEnd)
      }
      return checkHits('bentocache', keys, served)
    },
    close: () => bento.disconnectAll(),
  }
}

/**
 * cache-manager: `stores` [a Keyv over an LRU of 1,000 entries, a Keyv over
 * @keyv/redis], both with Keyv's default JSON serializer. Its `get()` reads
 * the stores in order and answers the first hit: a Redis hit is not written
 * back to the memory store (only `wrap()` does that), so after the fill its
 * L1 keeps the last 1,000 keys written, or nothing with `emptyL1` (every
 * read then goes to Redis).
 */
export async function cacheManagerReader(redis: RedisServer, fill: Fill, { emptyL1 = false } = {}): Promise<RedisReader> {
  const lru = new LRUCache<string, string>({ max: L2_LRU_SIZE })
  const cache = createCache({ stores: [new Keyv({ store: lru }), new Keyv({ store: new KeyvRedis(redis.url) })] })
  try {
    for (const chunk of chunks(fill.keys, FILL_CHUNK)) await cache.mset(chunk.map((key) => ({ key, value: fill.value })))
  } catch (error) {
    await cache.disconnect()
    throw error
  }
  if (emptyL1) lru.clear()
  return {
    task: (label) => `cache-manager get (LRU 1k + Redis), ${label} keys`,
    get: (key) => cache.get(key),
    async served(keys) {
      const served: Served = { l1: 0, l2: 0 }
      // Its get event names the store that answered: 'primary' (the LRU), 'secondary:0' (Redis).
      const listener = (data: { key: string }) => {
        const { store } = data as { store?: string }
        if (store === 'primary') served.l1++
        else if (store !== undefined) served.l2++
      }
      cache.on('get', listener)
      try {
        for (const key of keys) await cache.get(key)
      } finally {
        cache.off('get', listener)
      }
      return checkHits('cache-manager', keys, served)
    },
    close: () => cache.disconnect(),
  }
}
