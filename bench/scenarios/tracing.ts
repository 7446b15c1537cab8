/**
 * What tracing costs when someone listens: the L1 hit of T1 with a
 * subscriber on every phase of `tracing:mlcache:get:*` (each doing
 * nothing), beside the same hit built without the tracing checks (the
 * subscriber never sees it) and the raw lru-cache floor. The scenario runs
 * in a process of its own, so the subscriber touches no other scenario.
 * What it costs when nobody listens is a row of the L1 scenario.
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { LRUCache } from 'lru-cache'
import { MLCache } from '../../src/index.js'
import { KEY, USER } from '../fixtures.js'
import type { Report } from '../report.js'
import { mlcacheWithoutTracing } from '../without-stats.js'

export async function tracing(report: Report): Promise<void> {
  const MLCacheWithoutTracing = await mlcacheWithoutTracing()
  let seen = 0
  const count = () => void seen++
  const subscriber = { start: count, end: count, asyncStart: count, asyncEnd: count, error: count }
  tracingChannel('mlcache:get').subscribe(subscriber)
  const lru = new LRUCache<string, object>({ max: 1_000 })
  lru.set(KEY, USER)
  const traced = new MLCache('bench-traced', { lruSize: 1_000 })
  await traced.get(KEY, () => USER)
  const untraced = new MLCacheWithoutTracing('bench-untraced', { lruSize: 1_000 })
  await untraced.get(KEY, () => USER)
  const name = `L1 hit with a subscriber on tracing:mlcache:get (key ${KEY}, ~100-byte object)`
  const mlcache = 'MLCache.get (L1 hit, traced: one subscriber)'
  const before = seen
  const measured = await report.scenario(name, {
    'lru-cache get (raw, sync)': () => lru.get(KEY),
    'MLCache.get (L1 hit, no tracing checks)': () => untraced.get(KEY),
    [mlcache]: () => traced.get(KEY),
  })
  if (seen === before) throw new Error('the traced cache published nothing: the subscriber saw no event')
  report.compare(measured, name, mlcache, 'MLCache.get (L1 hit, no tracing checks)', 0)
  report.compare(measured, name, mlcache, 'lru-cache get (raw, sync)', 0)
  tracingChannel('mlcache:get').unsubscribe(subscriber)
  await Promise.all([traced.close(), untraced.close()])
}
