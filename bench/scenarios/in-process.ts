/**
 * The single-thread scenarios: mlcache against the physical floor (Map, raw
 * and awaited lru-cache, msgpackr) and its peers (bentocache, cache-manager,
 * cacheable), each scenario's tasks measured side by side in this process.
 */
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { createCache } from 'cache-manager'
import { Cacheable } from 'cacheable'
import { LRUCache } from 'lru-cache'
import { pack, unpack } from 'msgpackr'
import { encodeValue } from '../../src/codec/codec.js'
import { MLCache, SharedDict } from '../../src/index.js'
import { KEY, L2_LRU_SIZE, PROFILE, SHORT, USER, VALUES, l2Keys } from '../fixtures.js'
import type { Tasks } from '../harness.js'
import type { Report } from '../report.js'
import { mlcacheWithoutStats, mlcacheWithoutTracing } from '../without-stats.js'

/** The L2 of the miss scenario: room for every key a run writes (the run checks nothing was evicted). */
const MISS_DICT_SIZE = '1g'

/**
 * T1: one hot key (`user:12345`) read from each library's in-memory level,
 * once with the short string and once with the ~1 KB object. Map.get and
 * raw lru-cache.get are the synchronous floor, an awaited async
 * lru-cache.get the Promise floor every async API pays.
 */
export async function l1Hit(report: Report): Promise<void> {
  const MLCacheWithoutStats = await mlcacheWithoutStats()
  const MLCacheWithoutTracing = await mlcacheWithoutTracing()
  for (const { label, tag, value } of VALUES) {
    const map = new Map<string, unknown>([[KEY, value]])
    const lru = new LRUCache<string, object>({ max: 1_000 })
    lru.set(KEY, value as object)
    const cache = new MLCache(`bench-l1-${tag}`, { lruSize: 1_000 })
    await cache.get(KEY, () => value)
    const uncounted = new MLCacheWithoutStats(`bench-l1-uncounted-${tag}`, { lruSize: 1_000 })
    await uncounted.get(KEY, () => value)
    const untraced = new MLCacheWithoutTracing(`bench-l1-untraced-${tag}`, { lruSize: 1_000 })
    await untraced.get(KEY, () => value)
    const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) } })
    await bento.getOrSet({ key: KEY, factory: () => value })
    const cacheManager = createCache()
    await cacheManager.set(KEY, value)
    const cacheable = new Cacheable()
    await cacheable.set(KEY, value)
    const name = `L1 hit, ${label} (key ${KEY})`
    const t = (task: string) => `${task}, ${tag}`
    const mlcache = t('MLCache.get (L1 hit)')
    const measured = await report.scenario(name, {
      [t('Map.get')]: () => map.get(KEY),
      [t('lru-cache get (raw, sync)')]: () => lru.get(KEY),
      [t('lru-cache get (async, awaited)')]: async () => lru.get(KEY),
      [mlcache]: () => cache.get(KEY),
      [t('MLCache.get (L1 hit, no counters)')]: () => uncounted.get(KEY),
      [t('MLCache.get (L1 hit, no tracing checks)')]: () => untraced.get(KEY),
      [t('bentocache get (memory hit)')]: () => bento.get({ key: KEY }),
      [t('bentocache getOrSet (memory hit)')]: () => bento.getOrSet({ key: KEY, factory: () => value }),
      [t('cache-manager get (memory)')]: () => cacheManager.get(KEY),
      [t('cacheable get (memory)')]: () => cacheable.get(KEY),
    })
    report.compare(measured, name, mlcache, t('lru-cache get (raw, sync)'), 0.25)
    report.compare(measured, name, mlcache, t('bentocache getOrSet (memory hit)'), 15)
    // stats() is always on: its counters must cost under 5 % of an L1 hit.
    report.compare(measured, name, mlcache, t('MLCache.get (L1 hit, no counters)'), 0.95)
    // diagnostics_channel: nobody subscribed, the checks must cost under 5 % of an L1 hit.
    report.compare(measured, name, mlcache, t('MLCache.get (L1 hit, no tracing checks)'), 0.95)
    report.compare(measured, name, mlcache, t('lru-cache get (async, awaited)'), 0)
    report.compare(measured, name, mlcache, t('bentocache get (memory hit)'), 0)
    report.compare(measured, name, mlcache, t('cache-manager get (memory)'), 0)
    report.compare(measured, name, mlcache, t('cacheable get (memory)'), 0)
    await Promise.all([cache.close(), uncounted.close(), untraced.close(), bento.disconnectAll(), cacheManager.disconnect(), cacheable.disconnect()])
  }
  report.notes.push(
    `*L1 hit*: one hot key (\`${KEY}\`), measured with the short string and the ~1 KB object (${encodeValue(PROFILE).length} bytes of msgpack); ` +
      'the async lru-cache row is `async () => lru.get(key)`, the Promise floor; the "no counters" row is MLCache built ' +
      'from `src/mlcache.ts` with every statistics counter update removed (`bench/without-stats.ts`), what `stats()` costs, ' +
      'and the "no tracing checks" row the same with its `diagnostics_channel` checks removed, what tracing costs when nobody subscribes; ' +
      'bentocache 1.6.1 memory L1 (its default `serialize: true`: ' +
      'it stores JSON and parses it on every hit), cache-manager 7.2.9 `createCache()` (default memory store, answers the stored reference), ' +
      'cacheable 2.5.0 `new Cacheable()` (default in-memory primary, `useClone: true`: it answers a clone of an object).',
  )
}

/**
 * T3: a miss around an immediately resolving loader, a fresh key every
 * iteration (`user:<n>`, n counting up and never reused). For MLCache that
 * is an L1 miss, an L2 miss, the loader lock, the loader, the L2 write and
 * the L1 write. The SharedDict is large enough that no entry of the run is
 * evicted (checked after the run): deleting the key between iterations
 * instead would time a delete, and its bus message, with every miss. Every
 * library has an L1 of 1,000 entries, so from the 1,001st key on each miss
 * also evicts one L1 entry: the steady state of a bounded cache.
 */
export async function missPath(report: Report): Promise<void> {
  for (const { label, tag, value } of VALUES) {
    const loader = async () => value
    const dict = SharedDict.create({ size: MISS_DICT_SIZE })
    const cache = new MLCache(`bench-miss-${tag}`, { lruSize: 1_000, store: dict, ttl: 0 })
    const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) } })
    const lru = new LRUCache<string, object>({ max: 1_000, fetchMethod: loader as () => Promise<object> })
    let mlcacheKeys = 0
    let bentoKeys = 0
    let lruKeys = 0
    const name = `Miss path, ${label} (a fresh key user:<n> per call, loader resolves at once)`
    const t = (task: string) => `${task}, ${tag}`
    const mlcache = t('MLCache.get (miss)')
    const measured = await report.scenario(name, {
      [mlcache]: () => cache.get(`user:${mlcacheKeys++}`, loader),
      [t('bentocache getOrSet (miss)')]: () => bento.getOrSet({ key: `user:${bentoKeys++}`, factory: loader }),
      [t('lru-cache fetch (miss)')]: () => lru.fetch(`user:${lruKeys++}`),
    })
    const stats = cache.stats()
    const dictStats = dict.stats()
    if (stats.loaderCalls !== mlcacheKeys || stats.l1Hits + stats.l2Hits !== 0) {
      throw new Error(`MLCache miss path: ${mlcacheKeys} fresh keys but ${stats.loaderCalls} loader calls, ${stats.l1Hits + stats.l2Hits} hits`)
    }
    report.line(
      `MLCache wrote ${mlcacheKeys.toLocaleString('en-US')} fresh keys: L2 ${(dictStats.usedBytes / 2 ** 20).toFixed(0)} MiB used of ${MISS_DICT_SIZE}, ` +
        `${dictStats.forcibleEvictions} evicted, ${dictStats.noMemory} "no memory"`,
    )
    if (dictStats.forcibleEvictions + dictStats.noMemory > 0) report.line('WARNING: the L2 evicted or ran out of memory; the miss figures include it')
    report.compare(measured, name, mlcache, t('bentocache getOrSet (miss)'), 0)
    report.compare(measured, name, mlcache, t('lru-cache fetch (miss)'), 0)
    await Promise.all([cache.close(), bento.disconnectAll()])
  }
  report.notes.push(
    `*Miss path*: every call reads a key never used before (\`user:<n>\`, n counting up), the loader \`async () => value\`; MLCache.get ` +
      `is an L1 miss, an L2 miss, the loader lock, the load, the L2 write (msgpack) and the L1 write, over a ` +
      `${MISS_DICT_SIZE} SharedDict (TTL 0) that evicts nothing during the run; every library with an L1 of 1,000 entries, so each miss also ` +
      'evicts one L1 entry (bentocache memory L1 `getOrSet`; lru-cache `fetch` with that loader as `fetchMethod`).',
  )
}

/**
 * T2 in order: the 10k keys read in order through an L1 of 1k, so every
 * read misses L1, hits L2 (SharedDict, TTL 0) and evicts an L1 entry;
 * against `msgpackr.unpack` of the value's plain msgpack (msgpackr's default
 * `pack`, no records): the least any decoder of that value pays, whatever
 * mlcache stores. The ratios of the two objects are held to 0.4; the short
 * string is measured as well. Measured with the ~100-byte object (the
 * target's value) and with the short string and ~1 KB object of the other
 * scenarios. Through the L1, also against `unpack` plus a raw lru-cache of
 * 1k doing the L1's work on the same reads (the miss, the `set`, the
 * eviction), for information: what the L2 path adds over its parts.
 */
export const l2Hit = (report: Report): Promise<void> => l2HitScenario(report, { lruSize: L2_LRU_SIZE, keys: l2Keys() })

/**
 * T2 without L1 (`lruSize: 0`): 1k keys read in order, the L2 hit alone, as
 * {@link l2Hit} otherwise. A scenario of its own: one process running caches
 * with and without an L1 makes MLCache's calls on its L1 polymorphic, which
 * slows both.
 */
export const l2HitAlone = (report: Report): Promise<void> => l2HitScenario(report, { lruSize: 0, keys: l2Keys().slice(0, L2_LRU_SIZE) })

async function l2HitScenario(report: Report, { lruSize, keys }: { lruSize: number; keys: string[] }): Promise<void> {
  const values = [{ label: '~100-byte object', tag: '100 B obj', value: USER as unknown }, ...VALUES]
  const how = lruSize === 0 ? 'no L1' : 'L1 of 1k'
  for (const { label, tag, value } of values) {
    const cache = new MLCache(`bench-l2-${tag}`, { lruSize, store: SharedDict.create({ size: '64m' }), ttl: 0 })
    for (const key of keys) await cache.set(key, value)
    // A copy: the default packr reuses its buffer for the next value.
    const plain = Buffer.from(pack(value))
    const stored = encodeValue(value).length
    let next = 0
    const name = `L2 hit (${lruSize === 0 ? 'L1 off' : 'L1 missed'}), ${label} (${plain.length} bytes of plain msgpack, ${stored} stored)`
    const t = (task: string) => `${task}, ${tag}`
    const mlcache = t(`MLCache.get (L2 hit, ${how})`)
    const baseline = t('msgpackr unpack (plain msgpack)')
    const withL1 = lruSize > 0 ? t('msgpackr unpack + lru-cache of 1k') : undefined
    const tasks: Tasks = {
      [baseline]: () => unpack(plain),
      [mlcache]: () => cache.get(keys[next++ % keys.length] as string),
    }
    if (withL1 !== undefined) {
      // The L1's share, for information: what any cache with this L1 pays on the same reads besides the L2 read.
      const lru = new LRUCache<string, NonNullable<unknown>>({ max: lruSize })
      let at = 0
      tasks[withL1] = () => {
        const key = keys[at++ % keys.length] as string
        if (lru.get(key) === undefined) lru.set(key, unpack(plain) as NonNullable<unknown>)
      }
    }
    const measured = await report.scenario(name, tasks)
    if (cache.stats().l1Hits !== 0) throw new Error('the L2 hit scenario hit L1')
    report.compare(measured, name, mlcache, baseline, value === SHORT ? 0 : 0.4)
    if (withL1 !== undefined) report.compare(measured, name, mlcache, withL1, 0)
    await cache.close()
  }
}

export async function sharedDict(report: Report): Promise<void> {
  const dict = SharedDict.create({ size: '64m' })
  const map = new Map<string, string>()
  dict.set(KEY, SHORT)
  map.set(KEY, SHORT)
  const name = 'SharedDict vs Map, short string'
  const measured = await report.scenario(name, {
    'Map.get': () => map.get(KEY),
    'SharedDict.get': () => dict.get(KEY),
    'Map.set': () => map.set(KEY, SHORT),
    'SharedDict.set': () => dict.set(KEY, SHORT),
  })
  report.compare(measured, name, 'SharedDict.get', 'Map.get', 0.1)
  report.compare(measured, name, 'SharedDict.set', 'Map.set', 0)
}
