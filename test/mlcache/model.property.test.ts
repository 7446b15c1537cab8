/**
 * Model-based test of one MLCache: random get/lookup (with loaders that
 * return, return nothing or throw), set, delete, purge, peek, L1 drops and
 * clock moves over a handful of keys, checked against a Map of entries with
 * absolute expiry times (B5.1 of the reference: keys 1..4, values 1..10, so
 * collisions are common).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LoaderError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'

const TTL = 100
const NEG_TTL = 40

interface ModelEntry {
  value: number | undefined
  expiresAt: number
}

type Command =
  | { op: 'get'; key: string; result: number | undefined | 'throw' }
  | { op: 'getNoLoader'; key: string }
  | { op: 'set'; key: string; value: number | undefined }
  | { op: 'delete'; key: string }
  | { op: 'purge' }
  | { op: 'peek'; key: string }
  | { op: 'dropL1'; key: string }
  | { op: 'advance'; ms: number }

const key = fc.constantFrom('1', '2', '3', '4')
const value = fc.option(fc.integer({ min: 1, max: 10 }), { nil: undefined })
const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), key, result: fc.oneof(value, fc.constant('throw' as const)) }),
  fc.record({ op: fc.constant('getNoLoader' as const), key }),
  fc.record({ op: fc.constant('set' as const), key, value }),
  fc.record({ op: fc.constant('delete' as const), key }),
  fc.record({ op: fc.constant('purge' as const) }),
  fc.record({ op: fc.constant('peek' as const), key }),
  fc.record({ op: fc.constant('dropL1' as const), key }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 60 }) }),
)

describe('MLCache against a model', () => {
  it('get(), set(), delete(), purge() and peek() agree with a Map of expiring entries', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 60 }), async (commands) => {
        const clock = fakeClock()
        const lru = testLru(clock)
        const cache = new MLCache<number>('model', { store: cacheStore(testDict(clock, '64k')), lru, clock: clock.now, ttl: TTL, negTtl: NEG_TTL })
        const model = new Map<string, ModelEntry>()
        // Keys in L1. A custom lru-cache keeps an entry while `now - start <= ttl`,
        // one tick longer than L2 (`expiresAt > now`): the model follows both rules.
        const inL1 = new Set<string>()
        const fresh = (k: string) => {
          const entry = model.get(k)
          return entry !== undefined && entry.expiresAt > clock.now() ? entry : undefined
        }
        const fromL1 = (k: string) => {
          const entry = model.get(k)
          return inL1.has(k) && entry !== undefined && entry.expiresAt >= clock.now() ? entry : undefined
        }
        try {
          for (const c of commands) {
            switch (c.op) {
              case 'get': {
                const entry = fresh(c.key)
                const cached = fromL1(c.key)
                const loader = () => {
                  if (c.result === 'throw') throw new Error('loader failed')
                  return c.result
                }
                if (cached !== undefined) {
                  expect(await cache.lookup(c.key, loader)).toEqual({ value: cached.value, hitLevel: 1, stale: false })
                } else if (entry !== undefined) {
                  expect(await cache.lookup(c.key, loader)).toEqual({ value: entry.value, hitLevel: 2, stale: false })
                  inL1.add(c.key)
                } else if (c.result === 'throw') {
                  await expect(cache.lookup(c.key, loader)).rejects.toBeInstanceOf(LoaderError)
                } else {
                  expect(await cache.lookup(c.key, loader)).toEqual({ value: c.result, hitLevel: 3, stale: false })
                  model.set(c.key, { value: c.result, expiresAt: clock.now() + (c.result === undefined ? NEG_TTL : TTL) })
                  inL1.add(c.key)
                }
                break
              }
              case 'getNoLoader': {
                const entry = fresh(c.key)
                const cached = fromL1(c.key)
                const expected = cached !== undefined
                  ? { value: cached.value, hitLevel: 1, stale: false }
                  : entry === undefined
                    ? { value: undefined, hitLevel: -1, stale: false }
                    : { value: entry.value, hitLevel: 2, stale: false }
                expect(await cache.lookup(c.key)).toEqual(expected)
                if (entry !== undefined) inL1.add(c.key)
                break
              }
              case 'set':
                await cache.set(c.key, c.value)
                model.set(c.key, { value: c.value, expiresAt: clock.now() + (c.value === undefined ? NEG_TTL : TTL) })
                inL1.add(c.key)
                break
              case 'delete':
                await cache.delete(c.key)
                model.delete(c.key)
                inL1.delete(c.key)
                break
              case 'purge':
                await cache.purge()
                model.clear()
                inL1.clear()
                break
              case 'peek': {
                const entry = fresh(c.key)
                const peeked = await cache.peek(c.key)
                if (entry === undefined) expect(peeked).toBeUndefined()
                else expect(peeked).toEqual({ value: entry.value, ttl: entry.expiresAt - clock.now(), stale: false })
                break
              }
              case 'dropL1':
                lru.delete(c.key)
                inL1.delete(c.key)
                break
              case 'advance':
                clock.advance(c.ms)
                for (const k of inL1) if (fromL1(k) === undefined) inL1.delete(k)
                break
            }
          }
        } finally {
          await cache.close()
        }
      }),
      { numRuns: 150 },
    )
  })
})
