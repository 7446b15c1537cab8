/**
 * T2 over Redis: the L2 hit of each library whose L2 is Redis, its L1
 * missing on every read. The 10k keys of the L2 scenario are read in order
 * through an L1 of 1,000 entries, so each read misses L1 and is one round
 * trip to a redis-server the scenario starts (and always stops): MLCache
 * over RedisStore against bentocache (memory L1 + Redis L2) and
 * cache-manager (an LRU + Redis through Keyv, its LRU emptied after the
 * fill: its `get()` never copies a Redis hit into it), beside the floor
 * of one round trip: a bare ioredis GET of the same value's JSON. Without
 * `redis-server` on PATH the scenario is skipped with a notice.
 */
import { Redis } from 'ioredis'
import { encodeValue } from '../../src/codec/codec.js'
import { USER, l2Keys } from '../fixtures.js'
import { scaled } from '../harness.js'
import { type RedisReader, bentocacheReader, cacheManagerReader, mlcacheReader, startBenchRedis } from '../redis-readers.js'
import type { RedisServer } from '../redis-server.js'
import type { Report } from '../report.js'

/** How many reads after the measured run (not timed) check that every reader still missed its L1. */
const REPLAY_READS = scaled(2_048, 256)

export async function redisL2Hit(report: Report): Promise<void> {
  const keys = l2Keys()
  const name = `L2 hit over Redis (L1 missed), ~100-byte object (${encodeValue(USER).length} bytes of msgpack)`
  let redis: RedisServer | undefined
  const readers: RedisReader[] = []
  let raw: Redis | undefined
  try {
    redis = await startBenchRedis(report)
    if (redis === undefined) return
    raw = new Redis(redis.url)
    const rawKey = (key: string) => `bench:raw:${key}`
    await raw.mset(Object.fromEntries(keys.map((key) => [rawKey(key), JSON.stringify(USER)])))
    const fill = { keys, value: USER }
    const mlcache = await mlcacheReader(redis, 'bench-redis-l2', fill)
    readers.push(mlcache)
    const bento = await bentocacheReader(redis, fill)
    readers.push(bento)
    const cacheManager = await cacheManagerReader(redis, fill, { emptyL1: true })
    readers.push(cacheManager)
    const label = 'in-order'
    const cursors = new Map<RedisReader, { next: number }>()
    const floor = 'ioredis GET (raw round trip, no cache), in-order keys'
    let rawNext = 0
    const rawClient = raw
    const tasks: Record<string, () => unknown> = { [floor]: () => rawClient.get(rawKey(keys[rawNext++ % keys.length] as string)) }
    for (const reader of readers) {
      const cursor = { next: 0 }
      cursors.set(reader, cursor)
      tasks[reader.task(label)] = () => reader.get(keys[cursor.next++ % keys.length] as string)
    }
    const measured = await report.scenario(name, tasks)
    // The figures are L2 hits only if no reader served a read from its L1: check on the reads that follow the run.
    for (const reader of readers) {
      const start = cursors.get(reader)?.next ?? 0
      const { l1 } = await reader.served(Array.from({ length: REPLAY_READS }, (_, i) => keys[(start + i) % keys.length] as string))
      if (l1 > 0) throw new Error(`${reader.task(label)}: ${l1} of ${REPLAY_READS} reads in order hit its L1`)
    }
    // The target: MLCache's L2 hit over Redis at least as fast as bentocache's.
    report.compare(measured, name, mlcache.task(label), bento.task(label), 1)
    report.compare(measured, name, mlcache.task(label), cacheManager.task(label), 0)
    report.compare(measured, name, mlcache.task(label), floor, 0)
    report.notes.push(
      `*L2 hit over Redis (L1 missed)*: redis-server ${redis.version} started by the bench on a free loopback port, without persistence, ` +
        'filled with the 10k keys of the L2 scenario and the ~100-byte object, read in order through an L1 of 1,000 entries: every read ' +
        `misses L1 and is one Redis GET, a decode and the L1 write (checked over ${REPLAY_READS.toLocaleString('en-US')} reads after the run: ` +
        'none hit L1). MLCache: `new MLCache(name, { lruSize: 1_000, store: new RedisStore({ url }), ttl: 0 })`, msgpack; bentocache: ' +
        'memory L1 of 1,000 items + Redis L2 over ioredis, JSON; cache-manager: its LRU of 1,000 emptied after the fill (its get() never ' +
        'backfills it), so it reads the LRU, misses, then Redis through @keyv/redis, JSON. The floor: a bare ioredis `GET` of the same ' +
        'value\'s JSON, not parsed, one round trip and nothing else.',
    )
  } finally {
    await Promise.allSettled(readers.map((reader) => reader.close()))
    raw?.disconnect()
    await redis?.stop()
  }
}
