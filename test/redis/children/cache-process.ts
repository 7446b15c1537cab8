/**
 * A child process with one MLCache over RedisStore and RedisBus, driven by
 * the parent over IPC (test/helpers/cache-processes.ts); with `l2:
 * 'tiered'` its store is a TieredStore, a SharedDict of its own (the
 * process is a host) in front of that RedisStore. Each message
 * `{ id, op, ...args }` is answered `{ id, result }` or `{ id, error }`.
 * Loader calls are counted in Redis (`INCR`), so counts span processes.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { RedisBus } from '../../../src/bus/redis-bus.js'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../../src/l2/tiered/tiered-store.js'
import { MLCache } from '../../../src/mlcache.js'

/** What the parent passes in `MLCACHE_CHILD` (JSON). */
export interface CacheProcessConfig {
  url: string
  prefix: string
  lockExptime?: number
  lockTimeout?: number
  /**
   * Where L2 is: the RedisStore (default), a SharedDict of this process (Kong's per-host L2; the bus stays Redis),
   * or a TieredStore, a SharedDict of this process in front of the RedisStore.
   */
  l2?: 'redis' | 'shared-dict' | 'tiered'
  /** The cache's L1 size (MLCache's default when absent). */
  lruSize?: number
  /** The cache's stale-while-revalidate window (off when absent). */
  staleWhileRevalidate?: number
}

/** The requests the child understands. */
export type CacheProcessRequest =
  | { op: 'lookup'; key: string; loaderDelay?: number }
  | { op: 'stampede'; key: string; calls: number; loaderDelay: number }
  /** `calls` concurrent lookups; resolves once this process's background reload, if it started one, landed. */
  | { op: 'revalidate'; key: string; calls: number; loaderDelay: number }
  | { op: 'set'; key: string; value: unknown; ttl?: number }
  | { op: 'delete'; key: string }
  | { op: 'purge' }
  | { op: 'update' }
  | { op: 'subscribe-unique'; event: string }
  | { op: 'publish-unique'; hash: string; event: string }
  | { op: 'workers' }
  | { op: 'close' }

const config = JSON.parse(process.env.MLCACHE_CHILD ?? '{}') as CacheProcessConfig
const store = config.l2 === 'shared-dict' ? SharedDict.create({ size: '4m' }) : new RedisStore({ url: config.url, prefix: config.prefix })
const bus = new RedisBus({ url: config.url, prefix: config.prefix, heartbeatInterval: 200 })
const l2 = config.l2 === 'tiered' ? new TieredStore({ near: SharedDict.create({ size: '4m' }), far: store }) : store
const cache = new MLCache<unknown>('users', { store: l2, bus, lockExptime: config.lockExptime, lockTimeout: config.lockTimeout, lruSize: config.lruSize, staleWhileRevalidate: config.staleWhileRevalidate })
const counter = new Redis(config.url)
// The outage tests kill the server: the counter's reconnect errors are expected.
counter.on('error', () => undefined)

/** The key counting the loader calls of `key` across every process. */
const loadsKey = (key: string) => `${config.prefix}test:loads:${key}`

function loaderOf(delay: number) {
  return async (key: string) => {
    await counter.incr(loadsKey(key))
    process.send?.({ loading: key })
    await sleep(delay)
    return { key, by: process.pid }
  }
}

async function handle(request: CacheProcessRequest): Promise<unknown> {
  switch (request.op) {
    case 'lookup': {
      const found = await cache.lookup(request.key, request.loaderDelay === undefined ? undefined : loaderOf(request.loaderDelay))
      return { value: found.value, hitLevel: found.hitLevel }
    }
    case 'stampede': {
      const loader = loaderOf(request.loaderDelay)
      const found = await Promise.all(Array.from({ length: request.calls }, () => cache.lookup(request.key, loader)))
      return found.map((lookup) => lookup.hitLevel)
    }
    case 'revalidate': {
      const loader = loaderOf(request.loaderDelay)
      const found = await Promise.all(Array.from({ length: request.calls }, () => cache.lookup(request.key, loader)))
      await cache.update()
      return found.map((lookup) => lookup.hitLevel)
    }
    case 'set':
      return cache.set(request.key, request.value, request.ttl === undefined ? undefined : { ttl: request.ttl })
    case 'delete':
      return cache.delete(request.key)
    case 'purge':
      return cache.purge()
    case 'update':
      return cache.update()
    case 'subscribe-unique':
      bus.subscribe('test', request.event, (data) => {
        void counter.incr(`${config.prefix}test:handled:${request.event}`).then(() => process.send?.({ handled: data }))
      })
      return undefined
    case 'publish-unique':
      return bus.publish(request.hash, 'test', request.event, { from: process.pid })
    case 'workers':
      return bus.workers()
    case 'close':
      await cache.close()
      await bus.close()
      if (store instanceof RedisStore) await store.close()
      counter.disconnect()
      return undefined
  }
}

process.on('message', (message: { id: number } & CacheProcessRequest) => {
  handle(message).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: { name: (error as Error).name, code: (error as { code?: string }).code, message: String((error as Error).message) } }),
  )
})
process.send?.({ ready: true, workerId: bus.workerId })
