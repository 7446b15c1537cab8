/**
 * Builds caches for tests: a fake clock, a small SharedDict store, an
 * inspectable L1, and cleanup registered on the running test, so no test
 * leaks caches or buses. Every SharedDict made here is checked by the
 * invariant checker when the test finishes.
 *
 * The `test/mlcache` suite runs twice (see vitest.config.ts): once with the
 * SharedDict given to each cache as is (synchronous answers), and once with
 * `MLCACHE_TEST_L2=async`, where every cache built here gets an asynchronous
 * wrapper of the dict instead (see ./async-store.ts), as a networked store
 * would answer. Tests keep the dict itself and inspect it synchronously.
 */
import { LRUCache } from 'lru-cache'
import { expect, onTestFailed, onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import type { L2Store, LockStore } from '../../src/l2/l2-store.js'
import { MLCache } from '../../src/mlcache.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import type { MLCacheOptions } from '../../src/types.js'
import { asyncStore, asyncStoresSettled } from './async-store.js'
import { type FakeClock, fakeClock } from './fake-clock.js'

export { type FakeClock, fakeClock }

/** How caches built here reach their store: `'sync'` (the dict as is) or `'async'` (MLCACHE_TEST_L2=async). */
export const L2_MODE: 'sync' | 'async' = (() => {
  const mode = process.env.MLCACHE_TEST_L2 ?? 'sync'
  if (mode !== 'sync' && mode !== 'async') throw new Error(`MLCACHE_TEST_L2 must be 'sync' or 'async', not '${mode}'`)
  return mode
})()

/** The base seed of the asynchronous stores' schedules: MLCACHE_TEST_SEED, or a fixed one. */
const BASE_SEED = Number.parseInt(process.env.MLCACHE_TEST_SEED ?? '', 10) || 0x5eed
const wrappers = new WeakMap<object, L2Store | LockStore>()
/** Stores wrapped so far by test: the n-th store of a test always gets the same seed. */
const wrappedByTest = new Map<string, number>()

/** FNV-1a of a string, to give each test its own schedule whatever runs before it. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * What a cache is given for `store` (or `missStore`, `lockStore`): the
 * store itself, or in the async run its asynchronous wrapper, one per store
 * (so caches given the same dict still share a store, hence an L1 and their
 * loader locks). Use it whenever a test builds `new MLCache(..., { store })`
 * itself and keeps the dict to inspect.
 */
// One conditional signature rather than two overloads: overload resolution tries the strict subtype
// relation first, under which a store without the optional `onRecovered` is no L2Store.
export function cacheStore<S extends LockStore>(store: S): S extends L2Store ? L2Store : LockStore
export function cacheStore(store: L2Store | LockStore): L2Store | LockStore {
  if (L2_MODE === 'sync') return store
  let wrapped = wrappers.get(store)
  if (wrapped === undefined) {
    const test = expect.getState().currentTestName ?? ''
    const index = (wrappedByTest.get(test) ?? 0) + 1
    wrappedByTest.set(test, index)
    if (index === 1 && test !== '') {
      onTestFailed(() => console.error(`'${test}' ran over asynchronous L2 stores seeded from MLCACHE_TEST_SEED=${BASE_SEED}`))
    }
    wrapped = asyncStore(store, { seed: (hash(test) ^ BASE_SEED ^ Math.imul(index, 0x9e3779b1)) >>> 0 })
    wrappers.set(store, wrapped)
  }
  return wrapped
}

/**
 * Lets every cache of the test get the answers of the L2 calls it made: one
 * `setImmediate` over a synchronous store (its answers come in microtasks),
 * and over asynchronous ones as many turns as it takes until no call is on
 * its way (a call parked in a lock wait does not count). Use it where a test
 * needs the caches to have reached a point (waiting for a loader or a lock)
 * before it goes on.
 */
export function l2CallsSettled(): Promise<void> {
  return asyncStoresSettled()
}

/** `options` with its `store`, `missStore` and `lockStore` passed through {@link cacheStore}. */
function withCacheStores<V, L1>(options: MLCacheOptions<V, L1>): MLCacheOptions<V, L1> {
  const given = { ...options }
  if (given.store !== undefined) given.store = cacheStore(given.store)
  if (given.missStore !== undefined) given.missStore = cacheStore(given.missStore)
  if (given.lockStore !== undefined) given.lockStore = cacheStore(given.lockStore)
  return given
}

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
 * inspectable L1; `options` override any of them. The cache gets its stores
 * through {@link cacheStore}; `store` is the dict itself.
 */
export function testCache<V = unknown, L1 = V>(name = 'cache', options: MLCacheOptions<V, L1> = {}, clock = fakeClock()): TestCache<V, L1> {
  const store = options.store instanceof SharedDict ? options.store : testDict(clock)
  const lru = testLru(clock)
  const cache = new MLCache<V, L1>(name, { store: cacheStore(store), lru, clock: clock.now, ...withCacheStores(options) })
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
  const store = cacheStore(testDict(clock))
  const bus = new LocalBus()
  const a = new MLCache<V>(name, { store, bus, clock: clock.now, lru: testLru(clock) })
  const b = new MLCache<V>(name, { store, bus, clock: clock.now, lru: testLru(clock) })
  onTestFinished(() => Promise.all([a.close(), b.close()]).then(() => bus.close()))
  return { a, b, clock, bus }
}
