/**
 * Builds caches for tests: a fake clock, a small SharedDict store, an
 * inspectable L1, and cleanup registered on the running test, so no test
 * leaks caches or buses. Every SharedDict made here is checked by the
 * invariant checker when the test finishes.
 */
import { LRUCache } from 'lru-cache'
import { onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { MLCache } from '../../src/mlcache.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import type { MLCacheOptions } from '../../src/types.js'
import { type FakeClock, fakeClock } from './fake-clock.js'

export { type FakeClock, fakeClock }

/** A SharedDict on `clock`, invariant-checked when the test finishes. */
export function testDict(clock: FakeClock, size: number | string = '1m'): SharedDict {
  const dict = SharedDict.create({ size, clock: clock.now })
  onTestFinished(() => checkSharedDictInvariants(dict))
  return dict
}

/** An lru-cache on `clock`, to pass as `lru` and inspect or drop entries from. */
export function testLru(clock: FakeClock, max = 100): LRUCache<string, object> {
  return new LRUCache<string, object>({ max, ttlResolution: 0, perf: { now: () => clock.now() + 1 } })
}

export interface TestCache<V, L1 = V> {
  cache: MLCache<V, L1>
  clock: FakeClock
  store: SharedDict
  lru: LRUCache<string, object>
}

/**
 * A cache named `name` on a fresh 1 MiB SharedDict with a fake clock and an
 * inspectable L1; `options` override any of them.
 */
export function testCache<V = unknown, L1 = V>(name = 'cache', options: MLCacheOptions<V, L1> = {}, clock = fakeClock()): TestCache<V, L1> {
  const store = options.store instanceof SharedDict ? options.store : testDict(clock)
  const lru = testLru(clock)
  const cache = new MLCache<V, L1>(name, { store, lru, clock: clock.now, ...options })
  onTestFinished(() => cache.close())
  return { cache, clock, store, lru }
}

/** A loader that counts its calls and answers `value` (or what `produce` returns). */
export function countingLoader<V>(produce: (key: string) => V | Promise<V>): ((key: string) => Promise<V>) & { calls: number } {
  const loader = Object.assign(
    async (key: string) => {
      loader.calls++
      return produce(key)
    },
    { calls: 0 },
  )
  return loader
}

/**
 * Two caches of one name on one store and one bus, each with its own L1, as
 * two workers would have; closed with their bus when the test finishes.
 */
export function twoWorkers<V = unknown>(name = 'cache'): { a: MLCache<V>; b: MLCache<V>; clock: FakeClock; bus: LocalBus } {
  const clock = fakeClock()
  const store = testDict(clock)
  const bus = new LocalBus()
  const a = new MLCache<V>(name, { store, bus, clock: clock.now, lru: testLru(clock) })
  const b = new MLCache<V>(name, { store, bus, clock: clock.now, lru: testLru(clock) })
  onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => bus.close()))
  return { a, b, clock, bus }
}
