/**
 * Property: two caches of one name on one store and one bus (two workers),
 * with stale-while-revalidate and refresh-ahead, against a "database" whose
 * version the loader reads when it starts and answers a few turns later
 * (so background reloads straddle clock moves, deletes and purges). Random
 * sequences of gets, clock advances, database writes, deletes and purges
 * must keep these, checked against a model of what was loaded when:
 * - at most one loader call of the key runs at a time, across both caches
 *   (background and foreground loads share the lock);
 * - no get rejects, and every answer is a value some load produced;
 * - once a delete or purge resolved and both caches applied the bus
 *   events, no answer carries a value loaded before it (a background
 *   reload that straddles it is fenced out, and a purged value is never
 *   served stale);
 * - after `close()`, no loader call starts and none is left waiting.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'

const TTL = 1_000
const KEY = 'k'

type Op =
  | { kind: 'get'; cache: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'write' }
  | { kind: 'delete'; cache: number }
  | { kind: 'purge'; cache: number }
  | { kind: 'settle' }

const cacheIndex = fc.integer({ min: 0, max: 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('get' as const), cache: cacheIndex }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1_500 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('write' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), cache: cacheIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('purge' as const), cache: cacheIndex }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('settle' as const) }) },
)

interface Loaded {
  /** The loader call that produced it (1, 2, ...). */
  call: number
  version: number
}

const turns = async (count: number) => {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve))
}

describe('background reloads against a model', () => {
  it('loads never overlap, and nothing loaded before a delete or purge is served after it, stale or not', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 3_000 }),
        fc.option(fc.double({ min: 0.1, max: 0.9, noNaN: true }), { nil: undefined }),
        fc.integer({ min: 0, max: 4 }),
        async (ops, staleWhileRevalidate, refreshAhead, loaderTurns) => {
          // A clock near 0: a purge's expiry instant is then only milliseconds in the past, within the window.
          const clock = fakeClock(10)
          const bus = new LocalBus()
          const store = cacheStore(testDict(clock, '64k'))
          const options = { store, bus, clock: clock.now, ttl: TTL, staleWhileRevalidate, refreshAhead }
          const caches = [0, 1].map(() => new MLCache<Loaded>('users', { ...options, lru: testLru(clock) }))
          let version = 0
          let calls = 0
          let running = 0
          let overlapped = false
          const loader = async (): Promise<Loaded> => {
            const loaded = { call: ++calls, version }
            if (++running > 1) overlapped = true
            try {
              await turns(loaderTurns)
              return loaded
            } finally {
              running--
            }
          }
          /** Loader calls made before the last delete or purge that both caches applied: never served again. */
          let forgottenUpTo = 0
          try {
            for (const o of ops) {
              if (o.kind === 'get') {
                const { value, hitLevel, stale } = await caches[o.cache]!.lookup(KEY, loader)
                expect(value).toBeDefined()
                const loaded = value as Loaded
                expect(loaded.call).toBeGreaterThan(forgottenUpTo)
                expect(stale).toBe(hitLevel === 4)
                expect(loaded.version).toBeLessThanOrEqual(version)
              } else if (o.kind === 'advance') clock.advance(o.ms)
              else if (o.kind === 'write') version++
              else if (o.kind === 'settle') await Promise.all(caches.map((cache) => cache.update()))
              else {
                await (o.kind === 'delete' ? caches[o.cache]!.delete(KEY) : caches[o.cache]!.purge())
                await Promise.all(caches.map((cache) => cache.update()))
                forgottenUpTo = calls
              }
              expect(overlapped).toBe(false)
            }
          } finally {
            await Promise.all(caches.map((cache) => cache.close()))
            await bus.close()
          }
          const afterClose = calls
          await turns(loaderTurns + 2)
          expect(calls).toBe(afterClose)
          expect(running).toBe(0)
          expect(overlapped).toBe(false)
        },
      ),
      { numRuns: 150 },
    )
  })
})
