/**
 * Kong's topology in one thread: caches of one name whose L2s are two
 * copies (two SharedDicts, as two hosts each have their own), on one bus.
 * An invalidation from the other copy must drop the key from this copy's
 * L2 before its L1; one from the same copy must not delete twice. A resync
 * of a bus that may carry events from other copies forgets this copy.
 */
import { describe, expect, it } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import type { EventBus } from '../../src/bus/event-bus.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, countingLoader, type FakeClock, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'
import { deferred } from '../helpers/deferred.js'

/** A cache named 'users' over `dict` and `bus`, closed after the test. */
function cacheOn(dict: SharedDict, bus: EventBus, clock: FakeClock, cleanup: MLCache<string>[]): MLCache<string> {
  const cache = new MLCache<string>('users', { store: cacheStore(dict), bus, clock: clock.now, lru: testLru(clock) })
  cleanup.push(cache)
  return cache
}

/** Host A (two caches on one dict, as two workers) and host B (its own dict), on one bus. */
async function twoCopies(bus: EventBus = new LocalBus()) {
  const clock = fakeClock()
  const hostA = testDict(clock)
  const hostB = testDict(clock)
  const caches: MLCache<string>[] = []
  const a = cacheOn(hostA, bus, clock, caches)
  const a2 = cacheOn(hostA, bus, clock, caches)
  const b = cacheOn(hostB, bus, clock, caches)
  const close = async () => {
    await Promise.all(caches.map((cache) => cache.close()))
    await bus.close()
  }
  return { a, a2, b, hostA, hostB, close }
}

describe('caches on two copies of L2 (a SharedDict per host) sharing one bus', () => {
  it('delete() on another copy drops the key from this copy of L2 as well as from L1', async () => {
    const { a, b, hostB, close } = await twoCopies()
    await a.get('k', () => 'old')
    await b.get('k', () => 'old')
    expect(await b.lookup('k')).toMatchObject({ hitLevel: 1 })
    await a.delete('k')
    await b.update()
    expect(hostB.readEntry('users', 'k')).toBeUndefined()
    expect(await b.lookup('k', () => 'loaded again')).toEqual({ value: 'loaded again', hitLevel: 3, stale: false })
    await close()
  })

  it('set() on another copy drops the key from this copy, so the next get() loads it afresh', async () => {
    const { a, b, hostA, hostB, close } = await twoCopies()
    await b.get('k', () => 'old')
    await a.set('k', 'new')
    await b.update()
    expect(hostB.readEntry('users', 'k')).toBeUndefined()
    expect(hostA.readEntry('users', 'k')).toBeDefined()
    const loader = countingLoader(() => 'new')
    expect(await b.lookup('k', loader)).toEqual({ value: 'new', hitLevel: 3, stale: false })
    expect(loader.calls).toBe(1)
    await close()
  })

  it('purge() on another copy expires this copy of the namespace and leaves its other names', async () => {
    const { a, b, hostB, close } = await twoCopies()
    await b.get('k1', () => 'one')
    await b.get('k2', () => 'two')
    expect(hostB.writeEntry('posts', 'p', new Uint8Array([1]), 0, 0)).toBe('ok')
    await a.purge()
    await b.update()
    for (const key of ['k1', 'k2']) expect(hostB.readEntry('users', key)?.stale ?? true).toBe(true)
    expect(hostB.readEntry('posts', 'p')?.stale).toBe(false)
    expect(await b.lookup('k1', () => 'loaded again')).toMatchObject({ value: 'loaded again', hitLevel: 3 })
    await close()
  })

  it('set() by a cache on the same copy does not delete the new value from L2 again', async () => {
    const { a, a2, hostA, close } = await twoCopies()
    await a2.get('k', () => 'old')
    await a.set('k', 'new')
    await a2.update()
    expect(hostA.readEntry('users', 'k')).toBeDefined()
    expect(await a2.lookup('k')).toEqual({ value: 'new', hitLevel: 2, stale: false })
    await close()
  })

  it('a load in flight on this copy when another copy deletes the key serves its value but keeps it out of this copy and L1', async () => {
    const { a, b, hostB, close } = await twoCopies()
    const started = deferred<void>()
    const gate = deferred<string>()
    const loading = b.lookup('k', () => {
      started.resolve()
      return gate.promise
    })
    await started.promise
    await a.delete('k')
    await b.update()
    gate.resolve('read before the delete')
    expect(await loading).toMatchObject({ value: 'read before the delete', hitLevel: 3 })
    expect(hostB.readEntry('users', 'k')).toBeUndefined()
    expect(await b.lookup('k', () => 'after the delete')).toMatchObject({ value: 'after the delete', hitLevel: 3 })
    await close()
  })

  it("swap() on another copy neither retires this copy's old page under its snapshots nor waits for them", async () => {
    const { a, b, hostA, close } = await twoCopies()
    await a.set('ka', 'a1')
    await b.set('kb', 'b1')
    const pinned = b.snapshot()
    await b.swap((page) => void page.set('kb', 'b2'))
    await a.swap((page) => void page.set('ka', 'a2'))
    // A's page 1 had no snapshot on A's copy: it is gone as soon as A's swap resolved.
    expect(hostA.readEntry('users', 'ka')).toBeUndefined()
    // B's page 1 is still in its grace on B's copy: its snapshot reads it from L2.
    expect(await pinned.peek('kb')).toMatchObject({ value: 'b1' })
    expect(await b.lookup('kb')).toMatchObject({ value: 'b2' })
    pinned.release()
    await close()
  })

  it('a resync of a bus that stays in this thread clears L1 but keeps this copy of L2', async () => {
    const bus = new LocalBus()
    const { b, hostB, close } = await twoCopies(bus)
    await b.get('k', () => 'v')
    await bus.publish('current', 'bus', 'resync', { reason: 'test' })
    await b.update()
    expect(hostB.readEntry('users', 'k')?.stale).toBe(false)
    expect(await b.lookup('k')).toEqual({ value: 'v', hitLevel: 2, stale: false })
    await close()
  })

  it('a resync of a bus that does not say how far it reaches also forgets this copy of the namespace', async () => {
    const local = new LocalBus()
    // A bus adapter written without `reach`: taken to reach the network.
    const unknownReach: EventBus = {
      workerId: local.workerId,
      publish: (target, source, event, data) => local.publish(target, source, event, data),
      subscribe: (source, event, handler) => local.subscribe(source, event, handler),
      unsubscribe: (id) => local.unsubscribe(id),
      workers: () => local.workers(),
      drain: (timeout) => local.drain(timeout),
      close: () => local.close(),
    }
    const { b, hostB, close } = await twoCopies(unknownReach)
    await b.get('k', () => 'v')
    await unknownReach.publish('current', 'bus', 'resync', { reason: 'test' })
    await b.update()
    expect(hostB.readEntry('users', 'k')?.stale ?? true).toBe(true)
    expect(await b.lookup('k', () => 'loaded again')).toMatchObject({ value: 'loaded again', hitLevel: 3 })
    await close()
  })
})
