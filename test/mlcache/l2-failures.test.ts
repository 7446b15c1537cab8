/**
 * A failing L2 store (Redis down): every row of the failure policy of
 * `src/l2/l2-tier.ts` and the contract's outage rules, for a store that
 * throws synchronously and for one that rejects. An L1 hit is served
 * without the store; a miss with a loader runs it; without a loader, and
 * for set/delete/purge (after every L1 dropped the key), the call rejects
 * with L2Error; peek rejects; a failing write of a loaded value still
 * serves it; a failing lock store still loads. No rejection is ever left
 * unhandled (vitest fails the run on one), and no loader lock stays held in
 * the dict underneath once the store works again.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { entryFlags } from '../../src/codec/codec.js'
import { L2Error, LoaderError, LockTimeoutError } from '../../src/errors.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import type { MLCacheOptions } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, l2CallsSettled, testDict, testLru } from '../helpers/cache-factory.js'
import { type FailureMode, type FailingStore, StoreDownError, failingStore } from '../helpers/failing-store.js'
import { wrapStore } from '../helpers/wrap-store.js'

const fail = (): never => {
  throw new Error('database down')
}

/**
 * Two caches of one name (two workers) on one bus and one failing store
 * over a dict, each with an inspectable L1. The failing store is what the
 * caches are given; `dict` is the store underneath, to inspect.
 */
function failingCaches(mode: FailureMode, options: MLCacheOptions<unknown> = {}) {
  const clock = fakeClock()
  const dict = testDict(clock)
  const store = failingStore(cacheStore(dict), mode)
  const bus = new LocalBus()
  const lru = testLru(clock)
  const otherLru = testLru(clock)
  const cache = new MLCache('c', { store, bus, lru, clock: clock.now, ...options })
  const other = new MLCache('c', { store, bus, lru: otherLru, clock: clock.now, ...options })
  onTestFinished(() => Promise.all([cache.close(), other.close()]).then(() => bus.close()))
  return { cache, other, store, dict, clock, lru, otherLru }
}

/** Asserts that nobody holds the loader lock of `key` in `dict` (taking and releasing it). */
function expectUnlocked(dict: SharedDict, key: string, namespace = 'c'): void {
  expect(dict.tryLock(namespace, key, 'probe', 60_000)).toBe('acquired')
  expect(dict.unlock(namespace, key, 'probe')).toBe(true)
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${String(value)}`),
    (error: unknown) => error,
  )
}

/** Asserts `error` is the L2Error of a failed call of `store`: code, key and cause. */
function expectL2Error(error: unknown, store: FailingStore, key: string | undefined): void {
  expect(error).toBeInstanceOf(L2Error)
  const l2Error = error as L2Error
  expect(l2Error.code).toBe('E_L2')
  expect(l2Error.key).toBe(key)
  expect(l2Error.cause).toBeInstanceOf(StoreDownError)
  expect(store.errors).toContain(l2Error.cause)
}

describe.each([
  ['throws', 'throw'],
  ['rejects', 'reject'],
] as const)('a store that %s', (_, mode) => {
  describe('reads', () => {
    it('get() serves an L1 hit while the store is down, without calling it', async () => {
      const { cache, store } = failingCaches(mode)
      const value = { v: 1 }
      await cache.get('k', () => value)
      await cache.get('absent', () => null)
      store.fail()
      store.resetCounts()
      expect(await cache.lookup('k', fail)).toEqual({ value, hitLevel: 1, stale: false })
      expect(await cache.get('k')).toBe(value)
      expect(await cache.lookup('absent')).toEqual({ value: undefined, hitLevel: 1, stale: false })
      expect(store.totalCalls()).toBe(0)
      expect(cache.stats().l2Errors).toBe(0)
    })

    it('get() with a loader runs it when the L2 read fails: hitLevel 3, kept in L1, counted in l2Errors', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail('readEntry')
      const loader = countingLoader(() => 'loaded')
      expect(await cache.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      expect(await cache.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 1, stale: false })
      expect(loader.calls).toBe(1)
      // Every failed read (before the lock, and again under it) is one the cache rode out.
      expect(store.failures.readEntry).toBeGreaterThanOrEqual(1)
      expect(cache.stats()).toMatchObject({ l2Errors: store.failures.readEntry, loads: 1, l1Hits: 1 })
      // The write worked: the value is in L2 for the other workers.
      store.recover()
      expect(dict.readEntry('c', 'k')).toMatchObject({ stale: false })
      expectUnlocked(dict, 'k')
    })

    it('get() with a loader during a full outage runs it unlocked and keeps the value in L1 only', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail()
      const loader = countingLoader(() => ({ v: 'loaded' }))
      const first = await cache.lookup('k', loader)
      expect(first).toEqual({ value: { v: 'loaded' }, hitLevel: 3, stale: false })
      expect(await cache.lookup('k', loader)).toEqual({ value: first.value, hitLevel: 1, stale: false })
      expect(loader.calls).toBe(1)
      // The failed read and the failed write; a failed lock only costs deduplication.
      expect(cache.stats().l2Errors).toBe(store.failures.readEntry + store.failures.writeEntry)
      expect(store.failures.writeEntry).toBe(1)
      store.recover()
      expect(dict.readEntry('c', 'k')).toBeUndefined()
      expectUnlocked(dict, 'k')
    })

    it('get() recovers by itself when the store comes back: the next miss goes through L2 again', async () => {
      const { cache, store, lru } = failingCaches(mode)
      store.fail()
      expect(await cache.lookup('k', () => 'during')).toMatchObject({ hitLevel: 3 })
      store.recover()
      lru.delete('k')
      expect(await cache.lookup('k', () => 'after')).toEqual({ value: 'after', hitLevel: 3, stale: false })
      lru.delete('k')
      expect(await cache.lookup('k', fail)).toEqual({ value: 'after', hitLevel: 2, stale: false })
    })

    it('get() and lookup() without a loader reject with L2Error carrying the key and the store error', async () => {
      const { cache, store } = failingCaches(mode)
      store.fail('readEntry')
      expectL2Error(await rejection(cache.get('k')), store, 'k')
      expectL2Error(await rejection(cache.lookup('other key')), store, 'other key')
      // A call that rejects is neither an answer nor a failure the cache rode out.
      expect(cache.stats()).toMatchObject({ l2Errors: 0, missesWithoutLoader: 0 })
    })

    it('peek() rejects with L2Error when the read fails', async () => {
      const { cache, store } = failingCaches(mode)
      await cache.set('k', 'v')
      store.fail('readEntry')
      expectL2Error(await rejection(cache.peek('k')), store, 'k')
      expectL2Error(await rejection(cache.peek('k', { stale: true })), store, 'k')
    })

    it('get() with a missStore that fails runs the loader, and rejects with L2Error without one', async () => {
      const clock = fakeClock()
      const missDict = testDict(clock)
      const missStore = failingStore(cacheStore(missDict), mode)
      const { cache, store, dict } = failingCaches(mode, { missStore })
      missStore.fail('readEntry')
      expect(await cache.lookup('k', () => 'loaded')).toMatchObject({ value: 'loaded', hitLevel: 3 })
      expectL2Error(await rejection(cache.lookup('cold')), missStore, 'cold')
      expect(store.failures.readEntry).toBe(0)
      missStore.recover()
      expectUnlocked(dict, 'k')
      expectUnlocked(missDict, 'k')
    })
  })

  describe('writes of loaded values', () => {
    it('get() still serves a loaded value whose L2 write fails, and keeps it in L1', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail('writeEntry')
      const loader = countingLoader(() => 'loaded')
      expect(await cache.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      expect(await cache.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 1, stale: false })
      expect(loader.calls).toBe(1)
      expect(cache.stats()).toMatchObject({ l2Errors: 1, l2NoMemory: 0, fencedWrites: 0 })
      store.recover()
      expect(dict.readEntry('c', 'k')).toBeUndefined()
      expectUnlocked(dict, 'k')
    })

    it('get() still serves a "not found" whose L2 write fails, and keeps it in L1', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail('writeEntry')
      expect(await cache.lookup('k', () => null)).toEqual({ value: undefined, hitLevel: 3, stale: false })
      expect(await cache.lookup('k', fail)).toEqual({ value: undefined, hitLevel: 1, stale: false })
      store.recover()
      expectUnlocked(dict, 'k')
    })

    it('get() still serves a resurrected value whose L2 write fails, with hitLevel 4, and keeps it in L1', async () => {
      const { cache, store, dict, clock, lru } = failingCaches(mode, { ttl: 100, resurrectTtl: 1_000 })
      await cache.get('k', () => 'old')
      clock.advance(150)
      lru.delete('k')
      store.fail('writeEntry')
      expect(await cache.lookup('k', fail)).toEqual({ value: 'old', hitLevel: 4, stale: true })
      expect(await cache.lookup('k', fail)).toEqual({ value: 'old', hitLevel: 1, stale: false })
      expect(cache.stats()).toMatchObject({ l2Errors: 1, resurrections: 1, staleServed: 1 })
      store.recover()
      // Nothing was written back: L2 still has the expired entry only.
      expect(dict.readEntry('c', 'k')).toMatchObject({ stale: true })
      expectUnlocked(dict, 'k')
    })

    it('get() rejects with LoaderError, not L2Error, when the loader fails while the store is down', async () => {
      const { cache, store, dict } = failingCaches(mode, { resurrectTtl: 1_000 })
      store.fail()
      const error = await rejection(cache.get('k', fail))
      expect(error).toBeInstanceOf(LoaderError)
      store.recover()
      expectUnlocked(dict, 'k')
    })
  })

  describe('set(), delete() and purge()', () => {
    it('set() drops the key from this L1 and tells the other caches, then rejects with L2Error', async () => {
      const { cache, other, store, lru, otherLru } = failingCaches(mode)
      await cache.get('k', () => 'old')
      await other.get('k', () => 'old')
      expect(lru.has('k') && otherLru.has('k')).toBe(true)
      store.fail('writeEntry')
      expectL2Error(await rejection(cache.set('k', 'new')), store, 'k')
      expect(lru.has('k')).toBe(false)
      await other.update()
      expect(otherLru.has('k')).toBe(false)
    })

    it('set() of "not found" drops the key everywhere too, then rejects with L2Error', async () => {
      const { cache, other, store, lru, otherLru } = failingCaches(mode)
      await cache.get('k', () => 'old')
      await other.get('k', () => 'old')
      store.fail('writeEntry')
      expectL2Error(await rejection(cache.set('k', null)), store, 'k')
      await other.update()
      expect(lru.has('k') || otherLru.has('k')).toBe(false)
    })

    it('delete() drops the key from this L1 and tells the other caches, then rejects with L2Error', async () => {
      const { cache, other, store, lru, otherLru } = failingCaches(mode)
      await cache.get('k', () => 'v')
      await other.get('k', () => 'v')
      await cache.get('kept', () => 'v')
      store.fail('deleteEntry')
      expectL2Error(await rejection(cache.delete('k')), store, 'k')
      expect(lru.has('k')).toBe(false)
      await other.update()
      expect(otherLru.has('k')).toBe(false)
      // Only that key.
      expect(await cache.lookup('kept')).toMatchObject({ hitLevel: 1 })
    })

    it('purge() clears this L1 and tells the other caches, then rejects with L2Error without a key', async () => {
      const { cache, other, store, lru, otherLru } = failingCaches(mode)
      for (const key of ['a', 'b']) {
        await cache.get(key, () => key)
        await other.get(key, () => key)
      }
      store.fail('purgeNamespace')
      expectL2Error(await rejection(cache.purge()), store, undefined)
      expectL2Error(await rejection(cache.purge({ flushExpired: true })), store, undefined)
      expect(lru.size).toBe(0)
      await other.update()
      expect(otherLru.size).toBe(0)
    })

    it('set() while the store is down keeps a running load of the key out of L1', async () => {
      const { cache, store, lru, dict } = failingCaches(mode)
      let release!: (value: string) => void
      const gate = new Promise<string>((resolve) => {
        release = resolve
      })
      const loading = cache.lookup('k', () => gate)
      await l2CallsSettled()
      store.fail('writeEntry')
      expectL2Error(await rejection(cache.set('k', 'newer')), store, 'k')
      release('older')
      expect(await loading).toMatchObject({ value: 'older', hitLevel: 3 })
      expect(lru.has('k')).toBe(false)
      store.recover()
      expectUnlocked(dict, 'k')
    })
  })

  describe('the lock store', () => {
    it('get() still runs the loader when tryLock fails in the lockStore', async () => {
      const clock = fakeClock()
      const lockDict = testDict(clock, '64k')
      const lockStore = failingStore(cacheStore(lockDict), mode)
      const { cache, dict } = failingCaches(mode, { lockStore })
      lockStore.fail('tryLock')
      const loader = countingLoader(() => 'loaded')
      expect(await cache.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      expect(loader.calls).toBe(1)
      // Loaded without the lock, its write is unfenced and lands.
      expect(dict.readEntry('c', 'k')).toMatchObject({ stale: false })
      expect(cache.stats().l2Errors).toBe(0)
      lockStore.recover()
      expectUnlocked(lockDict, 'k')
      expectUnlocked(dict, 'k')
    })

    it('get() still runs the loader when tryLock fails in the store that is its own lock store', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail('tryLock')
      expect(await cache.lookup('k', () => 'loaded')).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      expect(dict.readEntry('c', 'k')).toMatchObject({ stale: false })
      store.recover()
      expectUnlocked(dict, 'k')
    })

    it('get() still runs the loader when tryLock fails in the store but works in the lockStore', async () => {
      const clock = fakeClock()
      const lockDict = testDict(clock, '64k')
      const lockStore = failingStore(cacheStore(lockDict), mode)
      const { cache, store, dict } = failingCaches(mode, { lockStore })
      store.fail('tryLock')
      expect(await cache.lookup('k', () => 'loaded')).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      store.recover()
      expectUnlocked(lockDict, 'k')
      expectUnlocked(dict, 'k')
    })

    it('get() does not fail when unlock fails, and the lease (lockExptime) frees the lock', async () => {
      const { cache, store, dict, lru } = failingCaches(mode, { lockExptime: 50 })
      store.fail('unlock')
      expect(await cache.lookup('k', () => 'loaded')).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      expect(store.failures.unlock).toBe(1)
      store.recover()
      // The next load of the key waits for the lease of the lock that was never released, then takes it over.
      lru.delete('k')
      dict.deleteEntry('c', 'k')
      expect(await cache.lookup('k', () => 'reloaded')).toEqual({ value: 'reloaded', hitLevel: 3, stale: false })
      expectUnlocked(dict, 'k')
    })

    it('get() does not fail when unlock fails in the lockStore', async () => {
      const clock = fakeClock()
      const lockDict = testDict(clock, '64k')
      const lockStore = failingStore(cacheStore(lockDict), mode)
      const { cache, dict } = failingCaches(mode, { lockStore })
      lockStore.fail('unlock')
      expect(await cache.lookup('k', () => 'loaded')).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
      // The store's own lock (the fence) was released.
      expectUnlocked(dict, 'k')
    })

    it('get() waiting for a lock whose waitForUnlock fails never blocks the thread until lockTimeout', async () => {
      const { cache, store, dict } = failingCaches(mode, { lockTimeout: 200 })
      expect(dict.tryLock('c', 'k', 'another worker', 60_000)).toBe('acquired')
      store.fail('waitForUnlock')
      let pending = true
      let turns = 0
      const probe = (): void => {
        turns++
        if (pending) setImmediate(probe)
      }
      setImmediate(probe)
      const error = await rejection(cache.get('k', () => 'loaded'))
      pending = false
      expect(error).toBeInstanceOf(LockTimeoutError)
      // A failed wait may count as an early wake-up, but then the wait must
      // go on without starving the event loop; giving up at once is fine too.
      expect({ eventLoopTurned: turns > 0 || store.calls.tryLock <= 2, tryLockCalls: store.calls.tryLock }).toMatchObject({ eventLoopTurned: true })
      dict.unlock('c', 'k', 'another worker')
    })
  })

  describe('undecodable entries', () => {
    it('get() reads an undecodable entry whose delete fails as a miss, and a later read deletes it', async () => {
      const { cache, store, dict } = failingCaches(mode)
      dict.writeEntry('c', 'k', Uint8Array.of(0xc1, 0xc1), 0, entryFlags(false, false))
      store.fail('deleteEntry')
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
      await l2CallsSettled()
      expect(store.failures.deleteEntry).toBe(1)
      expect(dict.readEntry('c', 'k')).toBeDefined()
      store.recover()
      expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
      await l2CallsSettled()
      expect(dict.readEntry('c', 'k')).toBeUndefined()
      expect(cache.stats().decodeErrors).toBe(2)
    })
  })

  describe('getBulk()', () => {
    it('getBulk() whose ops all hit L1 is served while the store is down, without calling it', async () => {
      const { cache, store } = failingCaches(mode)
      await cache.get('a', () => 'A')
      await cache.get('b', () => null)
      store.fail()
      store.resetCounts()
      const results = await cache.getBulk([
        { key: 'a', loader: fail },
        { key: 'b', loader: fail },
      ])
      expect(results).toEqual([
        { value: 'A', hitLevel: 1 },
        { value: undefined, hitLevel: 1 },
      ])
      // Not even a bulk read of no keys (a round trip, and an error for Redis's MGET).
      expect(store.calls).toMatchObject({ readEntries: 0, readEntry: 0 })
      expect(store.totalCalls()).toBe(0)
    })

    it('getBulk() runs the loaders of every L1 miss when the bulk read fails', async () => {
      const { cache, store, dict } = failingCaches(mode)
      expect(store.readEntries).toBeTypeOf('function')
      await cache.get('hot', () => 'in L1')
      store.fail('readEntries', 'readEntry')
      const results = await cache.getBulk([
        { key: 'hot', loader: fail },
        { key: 'a', loader: () => 'A' },
        { key: 'b', loader: () => null },
      ])
      expect(results).toEqual([
        { value: 'in L1', hitLevel: 1 },
        { value: 'A', hitLevel: 3 },
        { value: undefined, hitLevel: 3 },
      ])
      expect(store.failures.readEntries).toBe(1)
      expect(cache.stats().l2Errors).toBeGreaterThanOrEqual(2)
      store.recover()
      expectUnlocked(dict, 'a')
      expectUnlocked(dict, 'b')
    })

    it('getBulk() during a full outage answers every op from its loader, failing ones in their result only', async () => {
      const { cache, store, dict } = failingCaches(mode)
      store.fail()
      const results = await cache.getBulk([
        { key: 'a', loader: () => 'A' },
        { key: 'b', loader: fail },
        { key: 'c', loader: () => 'C' },
      ])
      expect(results[0]).toEqual({ value: 'A', hitLevel: 3 })
      expect(results[1]?.error).toBeInstanceOf(LoaderError)
      expect(results[2]).toEqual({ value: 'C', hitLevel: 3 })
      store.recover()
      for (const key of ['a', 'b', 'c']) expectUnlocked(dict, key)
    })
  })
})

describe('a store that announces its recovery (onRecovered)', () => {
  /** A dict-backed store with `onRecovered`, and the way to announce a recovery. */
  function recoveringStore() {
    const clock = fakeClock()
    const dict = testDict(clock)
    const listeners = new Set<() => void>()
    const store = Object.assign(wrapStore(dict), {
      onRecovered(listener: () => void) {
        listeners.add(listener)
        return () => void listeners.delete(listener)
      },
    })
    return { store, clock, listeners, recover: () => listeners.forEach((listener) => listener()) }
  }

  it('get() reads L2 again after the store recovers: every L1 of the store was cleared', async () => {
    const { store, clock, recover } = recoveringStore()
    const cache = new MLCache('c', { store, clock: clock.now, lru: testLru(clock) })
    const other = new MLCache('d', { store, clock: clock.now, lru: testLru(clock) })
    onTestFinished(async () => {
      await Promise.all([cache.close(), other.close()])
    })
    await cache.get('k', () => 'v')
    await other.get('k', () => 'w')
    expect((await cache.lookup('k')).hitLevel).toBe(1)
    recover()
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
    expect(await other.lookup('k')).toMatchObject({ value: 'w', hitLevel: 2 })
  })

  it('close() removes the listener it registered, and a cache on a store without onRecovered registers none', async () => {
    const { store, clock, listeners } = recoveringStore()
    const cache = new MLCache('c', { store, missStore: wrapStore(testDict(clock)), clock: clock.now })
    expect(listeners.size).toBe(1)
    await cache.close()
    expect(listeners.size).toBe(0)
  })
})
