/**
 * The slow-load race: a load that started before a `set`, `delete` or
 * `purge` of its key, or that outlived its lock's lease, must not leave its
 * value in L2 or in any L1. Each case is one deterministic interleaving;
 * the property at the end explores many.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import { MLCache } from '../../src/mlcache.js'
import { countingLoader, fakeClock, testCache, testDict, testLru } from '../helpers/cache-factory.js'
import { wrapStore } from '../helpers/wrap-store.js'
import { deferred } from '../helpers/deferred.js'

/** A loader that reports when it starts and answers what the test releases. */
function gatedLoader<T>() {
  const started = deferred<void>()
  const gate = deferred<T>()
  const loader = countingLoader(() => {
    started.resolve()
    return gate.promise
  })
  return { loader, started: started.promise, release: gate.resolve }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('fenced loads', () => {
  it('get() racing a delete() serves its value but keeps it out of L2 and L1', async () => {
    const { cache, store, lru } = testCache('c')
    const { loader, started, release } = gatedLoader<string>()
    const loading = cache.lookup('k', loader)
    await started
    await cache.delete('k')
    release('read before the delete')
    expect(await loading).toEqual({ value: 'read before the delete', hitLevel: 3, stale: false })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    expect(lru.get('k')).toBeUndefined()
    expect(cache.stats()).toMatchObject({ fencedWrites: 1, loads: 1 })
    expect(await cache.lookup('k', () => 'fresh')).toMatchObject({ value: 'fresh', hitLevel: 3 })
  })

  it('get() racing a set() leaves the set value in L2 and L1', async () => {
    const { cache, store } = testCache('c')
    const { loader, started, release } = gatedLoader<string>()
    const loading = cache.lookup('k', loader)
    await started
    await cache.set('k', 'set meanwhile')
    release('read before the set')
    expect(await loading).toMatchObject({ value: 'read before the set', hitLevel: 3 })
    expect(await cache.lookup('k')).toEqual({ value: 'set meanwhile', hitLevel: 1, stale: false })
    expect(await cache.peek('k')).toMatchObject({ value: 'set meanwhile' })
    expect(store.stats().entries).toBe(1)
    expect(cache.stats().fencedWrites).toBe(1)
  })

  it.each([false, true])('get() racing a purge({ flushExpired: %s }) keeps its value out of L2 and L1', async (flushExpired) => {
    const { cache, store, lru } = testCache('c')
    const { loader, started, release } = gatedLoader<string>()
    const loading = cache.lookup('k', loader)
    await started
    await cache.purge({ flushExpired })
    release('read before the purge')
    expect(await loading).toMatchObject({ value: 'read before the purge', hitLevel: 3 })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    expect(lru.get('k')).toBeUndefined()
  })

  it('get() whose lock lease ran out while its loader ran writes nothing', async () => {
    // A lease of 20 real ms; the cache's fake clock never moves: leases run on real time.
    const { cache, store, lru } = testCache('c', { lockExptime: 20 })
    const { loader, started, release } = gatedLoader<string>()
    const loading = cache.lookup('k', loader)
    await started
    await sleep(60)
    release('too late')
    expect(await loading).toMatchObject({ value: 'too late', hitLevel: 3 })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    expect(lru.get('k')).toBeUndefined()
  })

  it("get() whose lease ran out cannot overwrite the value of the load that took its lock over", async () => {
    const clock = fakeClock()
    const store = testDict(clock)
    const slow = new MLCache('c', { store, clock: clock.now, lru: testLru(clock), lockExptime: 20 })
    const fast = new MLCache('c', { store, clock: clock.now, lru: testLru(clock) })
    const { loader, started, release } = gatedLoader<string>()
    const first = slow.lookup('k', loader)
    await started
    await sleep(60)
    expect(await fast.lookup('k', () => 'newer')).toMatchObject({ value: 'newer', hitLevel: 3 })
    release('older')
    expect(await first).toMatchObject({ value: 'older', hitLevel: 3 })
    expect(await fast.peek('k')).toMatchObject({ value: 'newer' })
    expect(await slow.lookup('k')).toMatchObject({ value: 'newer', hitLevel: 2 })
    await Promise.all([slow.close(), fast.close()])
  })

  it('get() in one cache racing a delete() in another (same store and bus, own L1s) leaves neither L1 nor L2 with the old value', async () => {
    const clock = fakeClock()
    const store = testDict(clock)
    const bus = new LocalBus()
    const a = new MLCache('c', { store, bus, clock: clock.now, lru: testLru(clock) })
    const b = new MLCache('c', { store, bus, clock: clock.now, lru: testLru(clock) })
    const { loader, started, release } = gatedLoader<string>()
    const loading = a.lookup('k', loader)
    await started
    await b.delete('k')
    // B's reader waits for A's load (one loader per key at a time), then loads afresh.
    const bLoader = countingLoader(() => 'after the delete')
    const reading = b.lookup('k', bLoader)
    release('before the delete')
    expect(await loading).toMatchObject({ value: 'before the delete', hitLevel: 3 })
    expect(await reading).toMatchObject({ value: 'after the delete', hitLevel: 3 })
    expect(loader.calls + bLoader.calls).toBe(2)
    await a.update()
    expect(await a.lookup('k')).toMatchObject({ value: 'after the delete', hitLevel: 2 })
    await Promise.all([a.close(), b.close()])
    await bus.close()
  })

  it('get() started after a delete() in this thread does not share the load the delete overtook', async () => {
    const { cache } = testCache('c')
    const { loader, started, release } = gatedLoader<string>()
    const first = cache.lookup('k', loader)
    await started
    await cache.delete('k')
    const second = cache.lookup('k', () => 'after the delete')
    release('before the delete')
    expect(await first).toMatchObject({ value: 'before the delete', hitLevel: 3 })
    expect(await second).toMatchObject({ value: 'after the delete', hitLevel: 3 })
    expect(await cache.lookup('k')).toMatchObject({ value: 'after the delete', hitLevel: 1 })
  })

  it('get() with a separate lockStore is fenced in the store it writes to', async () => {
    const clock = fakeClock()
    const lockStore = testDict(clock)
    const { cache, store, lru } = testCache('c', { lockStore })
    const { loader, started, release } = gatedLoader<string>()
    const loading = cache.lookup('k', loader)
    await started
    expect(lockStore.tryLock('c', 'k', 'probe', 1_000)).toBe('held')
    await cache.delete('k')
    release('before the delete')
    expect(await loading).toMatchObject({ value: 'before the delete', hitLevel: 3 })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    expect(lru.get('k')).toBeUndefined()
    // Both locks were released.
    expect(lockStore.tryLock('c', 'k', 'probe', 1_000)).toBe('acquired')
    expect(store.tryLock('c', 'k', 'probe', 1_000)).toBe('acquired')
  })

  it('get() whose loader answers "not found" is fenced in the missStore', async () => {
    const clock = fakeClock()
    const missStore = testDict(clock)
    const { cache, store } = testCache('c', { missStore })
    const { loader, started, release } = gatedLoader<null>()
    const loading = cache.lookup('k', loader)
    await started
    await cache.set('k', 'exists now')
    release(null)
    expect(await loading).toMatchObject({ value: undefined, hitLevel: 3 })
    expect(missStore.readEntry('c', 'k')).toBeUndefined()
    expect(store.readEntry('c', 'k')?.stale).toBe(false)
    expect(await cache.lookup('k')).toMatchObject({ value: 'exists now', hitLevel: 1 })
  })

  it('get() that resurrects a stale value is fenced too', async () => {
    const { cache, store, clock, lru } = testCache('c', { ttl: 10, resurrectTtl: 1_000 })
    await cache.get('k', () => 'old')
    clock.advance(20)
    lru.delete('k')
    let rejectLoad!: (error: Error) => void
    const started = deferred<void>()
    const loading = cache.lookup('k', () => {
      started.resolve()
      return new Promise<string>((_, reject) => {
        rejectLoad = reject
      })
    })
    await started.promise
    await cache.delete('k')
    rejectLoad(new Error('database down'))
    expect(await loading).toEqual({ value: 'old', hitLevel: 4, stale: true })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    expect(lru.get('k')).toBeUndefined()
  })

  it('get() whose asynchronous L2 read was overtaken by an invalidation serves what it read but keeps it out of L1', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const bus = new LocalBus()
    const reads: (() => void)[] = []
    // Reads of the reader's entries answer only when the test says so, with what the dict held when they were made.
    const slowStore = wrapStore(dict, {
      readEntry: (...args) => {
        const entry = dict.readEntry(...args)
        if (args[0] !== 'c') return entry
        return new Promise((resolve) => reads.push(() => resolve(entry)))
      },
    })
    const lru = testLru(clock)
    const reader = new MLCache('c', { store: slowStore, bus, clock: clock.now, lru })
    const writer = new MLCache('c', { store: dict, bus, clock: clock.now, lru: testLru(clock) })
    await writer.set('k', 'old')
    const reading = reader.lookup('k')
    await writer.set('k', 'new')
    await reader.update()
    reads.shift()?.()
    expect(await reading).toEqual({ value: 'old', hitLevel: 2, stale: false })
    expect(lru.get('k')).toBeUndefined()
    const again = reader.lookup('k')
    reads.shift()?.()
    expect(await again).toEqual({ value: 'new', hitLevel: 2, stale: false })
    expect(lru.get('k')).toBe('new')
    await Promise.all([reader.close(), writer.close()])
    await bus.close()
  })

  it('get() never leaves the pre-change value cached, whatever the interleaving of a slow load and a change', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('delete', 'set', 'purge'),
        fc.nat(6),
        fc.nat(6),
        async (change, changeAfter, loaderAfter) => {
          const clock = fakeClock()
          const dict = testDict(clock)
          let loadWriteLanded = false
          let changeIssued = false
          // Records whether the load's fenced write landed before the change was issued.
          const store = wrapStore(dict, {
            writeEntry: (...args) => {
              const result = dict.writeEntry(...args)
              if (args[5]?.fence !== undefined && result === 'ok' && !changeIssued) loadWriteLanded = true
              return result
            },
          })
          const lru = testLru(clock)
          const cache = new MLCache<string>('c', { store, clock: clock.now, lru })
          const turns = async (n: number) => {
            for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve))
          }
          const loading = cache.get('k', async () => {
            await turns(loaderAfter)
            return 'loaded'
          })
          await turns(changeAfter)
          changeIssued = true
          if (change === 'delete') await cache.delete('k')
          else if (change === 'set') await cache.set('k', 'set')
          else await cache.purge()
          // A set that lands before the load's lock is found by its re-read (hitLevel 2).
          expect(change === 'set' ? ['loaded', 'set'] : ['loaded']).toContain(await loading)
          const inL2 = (await cache.peek('k'))?.value
          const inL1 = lru.get('k')
          if (!loadWriteLanded) {
            expect(inL2).not.toBe('loaded')
            expect(inL1).not.toBe('loaded')
          }
          expect(inL2).toBe(change === 'set' ? 'set' : undefined)
          expect(inL1 === undefined || (inL1 as unknown) === inL2).toBe(true)
          await cache.close()
        },
      ),
      { numRuns: 60 },
    )
  })
})
