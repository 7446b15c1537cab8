/**
 * T2 with realistic key distributions: `get()` over the 10k keys of the L2
 * scenario through an L1 of 1k, with uniformly random and Zipf 0.99 reads
 * (seeded sequences). Unlike the `l2` scenario, some reads hit L1: the
 * table gives each distribution's L1/L2 split.
 *
 * Measured side by side with the same reads over a real Redis (a
 * redis-server the scenario starts on a free loopback port and always
 * stops): MLCache over RedisStore (L1 of 1k), bentocache (memory L1 of
 * 1,000 items + Redis L2) and cache-manager (a Keyv over an LRU of 1,000
 * entries + a Keyv over Redis), over the same key sequences. Without
 * `redis-server` on PATH only the SharedDict rows run.
 */
import { MLCache, SharedDict } from '../../src/index.js'
import { L2_LRU_SIZE, USER, keySequence, l2Keys } from '../fixtures.js'
import { formatOps, scaled } from '../harness.js'
import { type RedisReader, bentocacheReader, cacheManagerReader, mlcacheReader, startBenchRedis } from '../redis-readers.js'
import type { RedisServer } from '../redis-server.js'
import type { Report } from '../report.js'

/** How many more reads of each sequence a Redis reader makes after the measured run (not timed), to count where it served them. */
const REPLAY_READS = scaled(16_384, 1_024)

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
  // Every reader over Redis: MLCache over RedisStore first, then the peers.
  const overRedis: RedisReader[] = []
  try {
    for (const cache of caches) for (const key of l2Keys()) await cache.set(key, USER)
    redis = await startBenchRedis(report)
    if (redis !== undefined) {
      const fill = { keys: l2Keys(), value: USER }
      overRedis.push(await mlcacheReader(redis, 'bench-l2-mix-redis', fill))
      overRedis.push(await bentocacheReader(redis, fill))
      overRedis.push(await cacheManagerReader(redis, fill))
    }
    const tasks: Record<string, () => unknown> = {}
    // Where each Redis task's reads stopped: the replay that counts where reads were served continues from there.
    const cursors = new Map<string, { next: number }>()
    distributions.forEach(({ label, sequence }, index) => {
      const cache = caches[index] as MLCache
      let next = 0
      tasks[mlcacheTask(label)] = () => cache.get(sequence[next++ & (sequence.length - 1)] as string)
      for (const reader of overRedis) {
        const cursor = { next: 0 }
        cursors.set(reader.task(label), cursor)
        tasks[reader.task(label)] = () => reader.get(sequence[cursor.next++ & (sequence.length - 1)] as string)
      }
    })
    for (const cache of caches) cache.stats({ reset: true })
    const name = 'get() over 10k keys, L1 of 1k, uniform and Zipf 0.99 reads'
    const measured = await report.scenario(name, tasks)

    const rows: string[][] = []
    for (const [index, { label, sequence }] of distributions.entries()) {
      const { l1Hits, l2Hits } = (caches[index] as MLCache).stats()
      const total = l1Hits + l2Hits
      rows.push([mlcacheTask(label), formatOps(measured.get(mlcacheTask(label)) ?? 0), percent(l1Hits, total), percent(l2Hits, total)])
      for (const reader of overRedis) {
        const start = cursors.get(reader.task(label))?.next ?? 0
        const { l1, l2 } = await reader.served(Array.from({ length: REPLAY_READS }, (_, i) => sequence[(start + i) & (sequence.length - 1)] as string))
        rows.push([reader.task(label), formatOps(measured.get(reader.task(label)) ?? 0), percent(l1, l1 + l2), percent(l2, l1 + l2)])
      }
      // MLCache on its default SharedDict, then MLCache over RedisStore, against each peer over Redis.
      const [mlcacheRedis, ...peers] = overRedis
      for (const subject of mlcacheRedis === undefined ? [] : [mlcacheTask(label), mlcacheRedis.task(label)]) {
        for (const peer of peers) report.compare(measured, name, subject, peer.task(label), 0)
      }
    }
    report.table({
      title: `${name}: where the reads were served`,
      header: ['task', 'ops/s', 'L1 %', 'L2 %'],
      rows,
      note:
        'every key is in L2 (TTL 0); an MLCache L1 miss reads, decodes and promotes from the SharedDict; sequences of 65,536 reads from a fixed seed; ' +
        (redis === undefined
          ? 'redis-server was not installed, so the Redis rows did not run'
          : `the RedisStore and peer rows' L2 is Redis; MLCache's split over the SharedDict is over the measured run (cache.stats()), the Redis ` +
            `rows' over the next ${REPLAY_READS.toLocaleString('en-US')} reads of each sequence after it, not timed (MLCache's from cache.stats(), ` +
            `bentocache's tier from its tracing channel, cache-manager's from its get event's store label)`),
    })
    report.notes.push(
      redis === undefined
        ? '*get() over 10k keys, L1 of 1k*: redis-server was not installed, so the MLCache (RedisStore), bentocache and cache-manager rows over Redis did not run.'
        : `*get() over 10k keys, L1 of 1k, with peers over Redis*: redis-server ${redis.version} started by the bench for the run on a free ` +
            `loopback port (127.0.0.1, no config file, no persistence: \`--save '' --appendonly no\`), filled with the same 10k keys and ` +
            'value; every read over Redis that misses its L1 is a network round trip to it (a GET and a decode). ' +
            'MLCache over RedisStore: `new MLCache(name, { lruSize: 1_000, store: new RedisStore({ url }), ttl: 0 })` (msgpack; an L2 hit ' +
            'is written to its L1). ' +
            'bentocache 1.6.1 `bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })).useL2Layer(redisDriver(...))` over ioredis 5.11.1 ' +
            '(`bento.get({ key })`; an L2 hit is written back to its L1, which stores JSON by default). cache-manager 7.2.9 ' +
            '`createCache({ stores: [new Keyv({ store: new LRUCache({ max: 1_000 }) }), new Keyv({ store: new KeyvRedis(url) })] })` ' +
            '(keyv 5.6.0 with its default JSON serializer in both stores, @keyv/redis 5.1.6 over node-redis; `cache.get(key)`): its get() ' +
            'tries the stores in order and answers the first hit without writing a Redis hit back to the memory store (only wrap() ' +
            'backfills), so its L1 keeps the last 1,000 keys the fill wrote (user:9000 to user:9999) and every other read goes to Redis.',
    )
  } finally {
    await Promise.allSettled(overRedis.map((reader) => reader.close()))
    await redis?.stop()
    await Promise.all(caches.map((cache) => cache.close()))
  }
}
