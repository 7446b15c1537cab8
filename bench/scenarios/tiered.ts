/**
 * TieredStore: what a SharedDict in front of Redis buys. MLCache with an L1
 * of 1k over three stores holding the same 10k keys: a plain SharedDict (no
 * network), a plain RedisStore (every L1 miss a round trip) and a
 * TieredStore of a SharedDict in front of that Redis (an L1 miss is a near
 * hit), each read in order (every read misses L1: an L2 hit every time) and
 * with Zipf 0.99 reads (some L1 hits), against `msgpackr.unpack` of the
 * value's plain msgpack (no records) as the raw floor of an L2 hit. A redis-server is started on a free
 * loopback port and always stopped; without `redis-server` on PATH the
 * scenario is skipped with a notice.
 */
import { Redis } from 'ioredis'
import { pack, unpack } from 'msgpackr'
import { encodeValue } from '../../src/codec/codec.js'
import { type L2Store, LocalBus, MLCache, SharedDict, TieredStore } from '../../src/index.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { L2_LRU_SIZE, USER, keySequence, l2Keys } from '../fixtures.js'
import { formatOps, scaled } from '../harness.js'
import { startBenchRedis } from '../redis-readers.js'
import type { RedisServer } from '../redis-server.js'
import type { Report } from '../report.js'

/** How many in-order reads of the TieredStore cache after the run (not timed) check that none read Redis. */
const REPLAY_READS = scaled(2_048, 256)
/** Keys written to L2 concurrently while filling. */
const FILL_CHUNK = 500

const percent = (part: number, total: number) => ((100 * part) / total).toFixed(1)

/** How many MGETs (RedisStore reads) the server has answered. */
async function redisReads(raw: Redis): Promise<number> {
  return Number(/cmdstat_mget:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0)
}

export async function tiered(report: Report): Promise<void> {
  let redis: RedisServer | undefined
  let far: RedisStore | undefined
  let raw: Redis | undefined
  const caches: MLCache[] = []
  try {
    redis = await startBenchRedis(report)
    if (redis === undefined) return
    far = new RedisStore({ url: redis.url })
    raw = new Redis(redis.url)
    const tieredLabel = 'TieredStore (SharedDict + RedisStore)'
    const stores: { label: string; store: L2Store }[] = [
      { label: 'SharedDict', store: SharedDict.create({ size: '64m' }) },
      { label: 'RedisStore', store: far },
      { label: tieredLabel, store: new TieredStore({ near: SharedDict.create({ size: '64m' }), far }) },
    ]
    const keys = l2Keys()
    const zipf = keySequence({ zipf: 0.99 })
    const workloads = [
      { tag: 'in-order', next: (i: number) => keys[i % keys.length] as string },
      { tag: 'Zipf 0.99', next: (i: number) => zipf[i & (zipf.length - 1)] as string },
    ]
    const task = (label: string, tag: string) => `MLCache.get over ${label}, ${tag} keys`
    const floor = 'msgpackr unpack (plain msgpack)'
    // A copy: the default packr reuses its buffer for the next value.
    const plain = Buffer.from(pack(USER))
    const tasks: Record<string, () => unknown> = { [floor]: () => unpack(plain) }
    const byTask = new Map<string, MLCache>()
    for (const { label, store } of stores) {
      for (const { tag, next } of workloads) {
        // One cache per store and workload: each has an L1 of its own (a name and store share one per thread),
        // and a bus of its own, so the fill's invalidations do not queue up for the other caches.
        const cache = new MLCache(`bench-tiered-${tag}`, { lruSize: L2_LRU_SIZE, store, ttl: 0, bus: new LocalBus() })
        caches.push(cache)
        for (let i = 0; i < keys.length; i += FILL_CHUNK) await Promise.all(keys.slice(i, i + FILL_CHUNK).map((key) => cache.set(key, USER)))
        cache.stats({ reset: true })
        let cursor = 0
        tasks[task(label, tag)] = () => cache.get(next(cursor++))
        byTask.set(task(label, tag), cache)
      }
    }
    const name = `L2 hit over SharedDict, RedisStore and TieredStore, L1 of 1k, ~100-byte object (${encodeValue(USER).length} bytes of msgpack)`
    const measured = await report.scenario(name, tasks)

    const rows: string[][] = []
    for (const [taskName, cache] of byTask) {
      const { l1Hits, l2Hits } = cache.stats()
      rows.push([taskName, formatOps(measured.get(taskName) ?? 0), percent(l1Hits, l1Hits + l2Hits), percent(l2Hits, l1Hits + l2Hits)])
      if (taskName.endsWith('in-order keys') && l1Hits !== 0) throw new Error(`${taskName}: ${l1Hits} reads in order hit L1`)
    }
    // The near hits are near hits: in-order reads of the tiered cache after the run send no read to Redis.
    const tieredInOrder = byTask.get(task(tieredLabel, 'in-order')) as MLCache
    const before = await redisReads(raw)
    for (let i = 0; i < REPLAY_READS; i++) await tieredInOrder.get(keys[i % keys.length] as string)
    const farReads = (await redisReads(raw)) - before
    if (farReads !== 0) throw new Error(`TieredStore: ${farReads} of ${REPLAY_READS} in-order reads after the run read Redis`)
    report.table({
      title: `${name}: where the reads were served`,
      header: ['task', 'ops/s', 'L1 %', 'L2 %'],
      rows,
      note: `every key is in L2 (TTL 0); over the measured run (cache.stats()); ${REPLAY_READS.toLocaleString('en-US')} in-order reads of the TieredStore cache after it read Redis ${farReads} times (INFO commandstats)`,
    })
    for (const { tag } of workloads) {
      const [dict, redisOnly, tier] = stores.map(({ label }) => task(label, tag)) as [string, string, string]
      for (const subject of [dict, redisOnly, tier]) report.compare(measured, name, subject, floor, 0)
      report.compare(measured, name, tier, redisOnly, 0)
      report.compare(measured, name, tier, dict, 0)
    }
    report.notes.push(
      `*L2 hit over SharedDict, RedisStore and TieredStore*: redis-server ${redis.version} started by the bench on a free loopback port, ` +
        'without persistence. Six caches `new MLCache(name, { lruSize: 1_000, store, ttl: 0 })`, each filled with the 10k keys of the L2 ' +
        'scenario and the ~100-byte object through `set()`: over a 64 MiB SharedDict, over `new RedisStore({ url })`, and over ' +
        '`new TieredStore({ near: SharedDict.create({ size: "64m" }), far })` with that RedisStore as far (its `set()` wrote far and near, so ' +
        'every L1 miss is a near hit). In-order keys miss L1 on every read (checked: no L1 hit; and no Redis read over the in-order reads ' +
        'of the tiered cache after the run); Zipf 0.99 is the seeded sequence of the l2-mix scenario. The floor: `msgpackr.unpack` of the ' +
        "value's plain msgpack (no records), the least a decode of it costs. Ratios against it, and the TieredStore's against RedisStore and SharedDict.",
    )
  } finally {
    await Promise.allSettled(caches.map((cache) => cache.close()))
    await far?.close()
    raw?.disconnect()
    await redis?.stop()
  }
}
