/**
 * The single-thread scenarios: mlcache against the physical floor (Map, raw
 * lru-cache, msgpackr) and a peer (bentocache), each scenario's tasks
 * measured side by side in this process.
 */
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { LRUCache } from 'lru-cache'
import { unpack } from 'msgpackr'
import { encodeValue } from '../../src/codec/codec.js'
import { MLCache, SharedDict } from '../../src/index.js'
import { KEY, L2_LRU_SIZE, SHORT, USER, l2Keys } from '../fixtures.js'
import type { Report } from '../report.js'

export async function l1Hit(report: Report): Promise<void> {
  const lru = new LRUCache<string, object>({ max: 1_000 })
  lru.set(KEY, USER)
  const cache = new MLCache('bench-l1', { lruSize: 1_000 })
  await cache.get(KEY, () => USER)
  const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) } })
  await bento.getOrSet({ key: KEY, factory: () => USER })
  const name = 'L1 hit'
  const measured = await report.scenario(name, {
    'lru-cache get (raw, sync)': () => lru.get(KEY),
    'MLCache.get (L1 hit)': () => cache.get(KEY),
    'bentocache getOrSet (memory hit)': () => bento.getOrSet({ key: KEY, factory: () => USER }),
  })
  report.compare(measured, name, 'MLCache.get (L1 hit)', 'lru-cache get (raw, sync)', 0.25)
  report.compare(measured, name, 'MLCache.get (L1 hit)', 'bentocache getOrSet (memory hit)', 15)
  await Promise.all([cache.close(), bento.disconnectAll()])
}

export async function l2Hit(report: Report): Promise<void> {
  // 10k keys read in order through an L1 of 1k: every read misses L1 and hits L2.
  const keys = l2Keys()
  const cache = new MLCache('bench-l2', { lruSize: L2_LRU_SIZE, store: SharedDict.create({ size: '64m' }), ttl: 0 })
  for (const key of keys) await cache.set(key, USER)
  const bytes = encodeValue(USER)
  process.stdout.write(`\n(the L2 value encodes to ${bytes.length} bytes)`)
  let next = 0
  const name = 'L2 hit (L1 missed), ~100-byte object'
  const measured = await report.scenario(name, {
    'msgpackr unpack (same bytes)': () => unpack(bytes),
    'MLCache.get (L2 hit)': () => cache.get(keys[next++ % keys.length] as string),
  })
  report.compare(measured, name, 'MLCache.get (L2 hit)', 'msgpackr unpack (same bytes)', 0.4)
  await cache.close()
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
