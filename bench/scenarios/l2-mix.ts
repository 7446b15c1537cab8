/**
 * T2 with realistic key distributions: `get()` over the 10k keys of the L2
 * scenario through an L1 of 1k, with uniformly random and Zipf 0.99 reads
 * (seeded sequences). Unlike the `l2` scenario, some reads hit L1: the
 * table gives each distribution's L1/L2 split.
 *
 * Measured side by side with the peers over a real Redis (a redis-server
 * the scenario starts on a free loopback port and always stops): bentocache
 * (memory L1 of 1,000 items + Redis L2) and cache-manager (a Keyv over an
 * LRU of 1,000 entries + a Keyv over Redis), over the same key sequences.
 * Without `redis-server` on PATH only the MLCache rows run.
 */
import { tracingChannel } from 'node:diagnostics_channel'
import KeyvRedis from '@keyv/redis'
import { BentoCache, type CacheOperationMessage, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'
import { createCache } from 'cache-manager'
import { Keyv } from 'keyv'
import { LRUCache } from 'lru-cache'
import { MLCache, SharedDict } from '../../src/index.js'
import { L2_LRU_SIZE, USER, keySequence, l2Keys } from '../fixtures.js'
import { formatOps, scaled } from '../harness.js'
import { type RedisServer, startRedisServer } from '../redis-server.js'
import type { Report } from '../report.js'

/** How many more reads of each sequence a peer makes after the measured run (not timed), to count where it served them. */
const REPLAY_READS = scaled(16_384, 1_024)
/** Keys written to Redis concurrently while filling. */
const FILL_CHUNK = 500

/** Where reads were served. */
interface Served {
  l1: number
  l2: number
}

/** A peer read over Redis. */
interface Peer {
  /** The task name for the reads of distribution `label`. */
  task(label: string): string
  get(key: string): Promise<unknown>
  /** Reads `keys` once more (not timed), counting where each read was served. */
  served(keys: readonly string[]): Promise<Served>
  close(): Promise<void>
}

/** Splits `keys` into chunks of `size`. */
function chunks(keys: readonly string[], size: number): string[][] {
  return Array.from({ length: Math.ceil(keys.length / size) }, (_, i) => keys.slice(i * size, (i + 1) * size))
}

/** Throws unless every replayed read was a hit. */
function checkHits(peer: string, keys: readonly string[], served: Served): Served {
  if (served.l1 + served.l2 !== keys.length) throw new Error(`${peer}: ${keys.length - served.l1 - served.l2} of ${keys.length} replayed reads missed`)
  return served
}

/**
 * bentocache: a memory L1 of 1,000 items (its default `serialize: true`:
 * JSON in L1, parsed on every hit) and a Redis L2 through ioredis. A read
 * that misses L1 and hits L2 writes the entry back to L1.
 */
async function bentocachePeer(redis: RedisServer): Promise<Peer> {
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 1_000 }))
        .useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port: redis.port } })),
    },
  })
  try {
    for (const chunk of chunks(l2Keys(), FILL_CHUNK)) await Promise.all(chunk.map((key) => bento.setForever({ key, value: USER })))
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
 * back to the memory store (only `wrap()` does that), so its L1 keeps the
 * last 1,000 keys the fill wrote.
 */
async function cacheManagerPeer(redis: RedisServer): Promise<Peer> {
  const cache = createCache({
    stores: [new Keyv({ store: new LRUCache<string, string>({ max: 1_000 }) }), new Keyv({ store: new KeyvRedis(redis.url) })],
  })
  try {
    for (const chunk of chunks(l2Keys(), FILL_CHUNK)) await cache.mset(chunk.map((key) => ({ key, value: USER })))
  } catch (error) {
    await cache.disconnect()
    throw error
  }
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

const percent = (part: number, total: number) => ((100 * part) / total).toFixed(1)

export async function l2Mix(report: Report): Promise<void> {
  const store = SharedDict.create({ size: '64m' })
  const distributions = [
    { label: 'uniform', sequence: keySequence('uniform') },
    { label: 'Zipf 0.99', sequence: keySequence({ zipf: 0.99 }) },
  ]
  const caches = distributions.map(({ label }) => new MLCache(`bench-l2-mix-${label}`, { lruSize: L2_LRU_SIZE, store, ttl: 0 }))
  const mlcacheTask = (label: string) => `MLCache.get, ${label} keys`
  let redis: RedisServer | undefined
  const peers: Peer[] = []
  try {
    for (const cache of caches) for (const key of l2Keys()) await cache.set(key, USER)
    redis = await startRedisServer()
    // CI sets it (as for the tests): there the Redis rows must run, not quietly drop out.
    if (redis === undefined && process.env.MLCACHE_REQUIRE_REDIS === '1') {
      throw new Error('MLCACHE_REQUIRE_REDIS=1 but redis-server is not on PATH: install it (apt-get install -y redis-server)')
    }
    if (redis !== undefined) {
      peers.push(await bentocachePeer(redis))
      peers.push(await cacheManagerPeer(redis))
    }
    const tasks: Record<string, () => unknown> = {}
    // Where each peer task's reads stopped: the replay that counts where reads were served continues from there.
    const cursors = new Map<string, { next: number }>()
    distributions.forEach(({ label, sequence }, index) => {
      const cache = caches[index] as MLCache
      let next = 0
      tasks[mlcacheTask(label)] = () => cache.get(sequence[next++ & (sequence.length - 1)] as string)
      for (const peer of peers) {
        const cursor = { next: 0 }
        cursors.set(peer.task(label), cursor)
        tasks[peer.task(label)] = () => peer.get(sequence[cursor.next++ & (sequence.length - 1)] as string)
      }
    })
    for (const cache of caches) cache.stats({ reset: true })
    const name = 'get() over 10k keys, L1 of 1k, uniform and Zipf 0.99 reads'
    const measured = await report.scenario(name, tasks)
    if (redis === undefined) report.line('redis-server is not installed: skipping the Redis rows (apt-get install -y redis-server)')

    const rows: string[][] = []
    for (const [index, { label, sequence }] of distributions.entries()) {
      const { l1Hits, l2Hits } = (caches[index] as MLCache).stats()
      const total = l1Hits + l2Hits
      rows.push([mlcacheTask(label), formatOps(measured.get(mlcacheTask(label)) ?? 0), percent(l1Hits, total), percent(l2Hits, total)])
      for (const peer of peers) {
        const start = cursors.get(peer.task(label))?.next ?? 0
        const { l1, l2 } = await peer.served(Array.from({ length: REPLAY_READS }, (_, i) => sequence[(start + i) & (sequence.length - 1)] as string))
        rows.push([peer.task(label), formatOps(measured.get(peer.task(label)) ?? 0), percent(l1, l1 + l2), percent(l2, l1 + l2)])
        report.compare(measured, name, mlcacheTask(label), peer.task(label), 0)
      }
    }
    report.table({
      title: `${name}: where the reads were served`,
      header: ['task', 'ops/s', 'L1 %', 'L2 %'],
      rows,
      note:
        'every key is in L2 (TTL 0); an MLCache L1 miss reads, decodes and promotes from the SharedDict; sequences of 65,536 reads from a fixed seed; ' +
        (redis === undefined
          ? 'redis-server was not installed, so the Redis peers did not run'
          : `the peers' L2 is Redis; MLCache's split is over the measured run (cache.stats()), the peers' over the next ` +
            `${REPLAY_READS.toLocaleString('en-US')} reads of each sequence after it, not timed (bentocache's tier from its tracing channel, ` +
            `cache-manager's from its get event's store label)`),
    })
    report.notes.push(
      redis === undefined
        ? '*get() over 10k keys, L1 of 1k*: redis-server was not installed, so the bentocache and cache-manager rows over Redis did not run.'
        : `*get() over 10k keys, L1 of 1k, with peers over Redis*: redis-server ${redis.version} started by the bench for the run on a free ` +
            `loopback port (127.0.0.1, no config file, no persistence: \`--save '' --appendonly no\`), filled with the same 10k keys and ` +
            'value; every peer read that misses its L1 is a network round trip to it (a GET and a JSON parse). ' +
            'bentocache 1.6.1 `bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })).useL2Layer(redisDriver(...))` over ioredis 5.11.1 ' +
            '(`bento.get({ key })`; an L2 hit is written back to its L1, which stores JSON by default). cache-manager 7.2.9 ' +
            '`createCache({ stores: [new Keyv({ store: new LRUCache({ max: 1_000 }) }), new Keyv({ store: new KeyvRedis(url) })] })` ' +
            '(keyv 5.6.0 with its default JSON serializer in both stores, @keyv/redis 5.1.6 over node-redis; `cache.get(key)`): its get() ' +
            'tries the stores in order and answers the first hit without writing a Redis hit back to the memory store (only wrap() ' +
            'backfills), so its L1 keeps the last 1,000 keys the fill wrote (user:9000 to user:9999) and every other read goes to Redis.',
    )
  } finally {
    await Promise.allSettled(peers.map((peer) => peer.close()))
    await redis?.stop()
    await Promise.all(caches.map((cache) => cache.close()))
  }
}
