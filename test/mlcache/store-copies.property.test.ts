/**
 * Property: with an L2 per host (two SharedDicts, two caches on each, one
 * bus), random batches of concurrent gets (whose loader reads a "database"
 * Map when it starts and answers a few turns later), sets, deletes and
 * purges leave no cache serving a value the database no longer holds,
 * once every cache has applied the bus events (`update()`). Writes of one
 * key never overlap (two concurrent writers of one key race in any cache);
 * everything else does, so loads straddle invalidations from both copies.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'

const KEYS = ['a', 'b', 'c'] as const

type Op =
  | { kind: 'get'; cache: number; key: string; turns: number }
  | { kind: 'set'; cache: number; key: string; value: number }
  | { kind: 'delete'; cache: number; key: string }
  | { kind: 'purge'; cache: number }

const cacheIndex = fc.integer({ min: 0, max: 3 })
const key = fc.constantFrom(...KEYS)
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('get' as const), cache: cacheIndex, key, turns: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('set' as const), cache: cacheIndex, key, value: fc.integer({ min: 1, max: 99 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), cache: cacheIndex, key }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), cache: cacheIndex }) },
)

/** Keeps at most one write per key in a batch (and one purge): concurrent writers of one key race by design. */
function oneWriterPerKey(batch: Op[]): Op[] {
  const written = new Set<string>()
  return batch.filter((o) => {
    if (o.kind === 'get') return true
    const target = o.kind === 'purge' ? '\0purge' : o.key
    if (written.has(target)) return false
    written.add(target)
    return true
  })
}

const turns = async (count: number) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('caches on two copies of L2 against a database', () => {
  it('no cache serves a value the database no longer holds once every cache has applied the bus events', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 }), async (batches) => {
        const clock = fakeClock()
        const bus = new LocalBus()
        const dicts = [testDict(clock, '64k'), testDict(clock, '64k')]
        const caches = [0, 0, 1, 1].map((host) => new MLCache<number>('users', { store: cacheStore(dicts[host]!), bus, clock: clock.now, lru: testLru(clock) }))
        const db = new Map<string, number>()
        try {
          for (const batch of batches) {
            await Promise.all(
              oneWriterPerKey(batch).map(async (o) => {
                const cache = caches[o.cache]!
                if (o.kind === 'get') {
                  await cache.get(o.key, async (k) => {
                    const read = db.get(k)
                    await turns(o.turns)
                    return read
                  })
                } else if (o.kind === 'set') {
                  db.set(o.key, o.value)
                  await cache.set(o.key, o.value)
                } else if (o.kind === 'delete') {
                  db.delete(o.key)
                  await cache.delete(o.key)
                } else {
                  await cache.purge()
                }
              }),
            )
          }
          for (const cache of caches) await cache.update()
          for (const [index, cache] of caches.entries()) {
            for (const k of KEYS) {
              const found = await cache.lookup(k)
              if (found.hitLevel !== -1) expect({ cache: index, key: k, value: found.value }).toEqual({ cache: index, key: k, value: db.get(k) })
            }
          }
        } finally {
          await Promise.all(caches.map((cache) => cache.close()))
          await bus.close()
        }
      }),
      { numRuns: 150 },
    )
  })
})
