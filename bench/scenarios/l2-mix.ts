/**
 * T2 with realistic key distributions: `get()` over the 10k keys of the L2
 * scenario through an L1 of 1k, with uniformly random and Zipf 0.99 reads
 * (seeded sequences). Unlike the `l2` scenario, some reads hit L1: the
 * table gives each distribution's L1/L2 split from `cache.stats()`.
 */
import { MLCache, SharedDict } from '../../src/index.js'
import { L2_LRU_SIZE, USER, keySequence, l2Keys } from '../fixtures.js'
import { formatOps } from '../harness.js'
import type { Report } from '../report.js'

export async function l2Mix(report: Report): Promise<void> {
  const store = SharedDict.create({ size: '64m' })
  const distributions = [
    { label: 'uniform', sequence: keySequence('uniform') },
    { label: 'Zipf 0.99', sequence: keySequence({ zipf: 0.99 }) },
  ]
  const caches = distributions.map(({ label }) => new MLCache(`bench-l2-mix-${label}`, { lruSize: L2_LRU_SIZE, store, ttl: 0 }))
  for (const cache of caches) for (const key of l2Keys()) await cache.set(key, USER)
  const tasks: Record<string, () => unknown> = {}
  distributions.forEach(({ label, sequence }, index) => {
    const cache = caches[index] as MLCache
    let next = 0
    tasks[`MLCache.get, ${label} keys`] = () => cache.get(sequence[next++ & (sequence.length - 1)] as string)
  })
  for (const cache of caches) cache.stats({ reset: true })
  const name = 'get() over 10k keys, L1 of 1k, uniform and Zipf 0.99 reads'
  const measured = await report.scenario(name, tasks)
  report.table({
    title: `${name}: where the reads were served`,
    header: ['keys', 'ops/s', 'L1 %', 'L2 %'],
    rows: distributions.map(({ label }, index) => {
      const { l1Hits, l2Hits } = (caches[index] as MLCache).stats()
      const total = l1Hits + l2Hits
      return [label, formatOps(measured.get(`MLCache.get, ${label} keys`) ?? 0), ((100 * l1Hits) / total).toFixed(1), ((100 * l2Hits) / total).toFixed(1)]
    }),
    note: 'every key is in L2 (TTL 0); an L1 miss reads, decodes and promotes from the SharedDict; sequences of 65,536 reads from a fixed seed',
  })
  await Promise.all(caches.map((cache) => cache.close()))
}
