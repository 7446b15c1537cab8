import { describe, expect, it } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE } from '../../src/bus/event-bus.js'
import { LocalBus } from '../../src/bus/local-bus.js'
import { ClosedError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, fakeClock, testCache, testDict, twoWorkers } from '../helpers/cache-factory.js'

describe('update(), close() and the bus', () => {
  it('update() applies invalidations published before the call', async () => {
    const { a, b } = twoWorkers('c')
    for (let i = 0; i < 50; i++) await b.get(`k${i}`, () => 'old')
    for (let i = 0; i < 50; i++) await a.set(`k${i}`, 'new')
    await b.update()
    for (let i = 0; i < 50; i++) expect(await b.get(`k${i}`)).toBe('new')
  })

  it('a bus resync event clears the L1 of every cache on the bus', async () => {
    const bus = new LocalBus()
    const { cache } = testCache('c', { bus })
    await cache.get('k', () => 'v')
    await bus.publish('current', BUS_SOURCE, BUS_RESYNC_EVENT)
    await cache.update()
    expect(await cache.lookup('k')).toMatchObject({ value: 'v', hitLevel: 2 })
    await bus.close()
  })

  it('close() makes every method reject with ClosedError and is idempotent', async () => {
    const { cache } = testCache()
    await cache.get('k', () => 'v')
    await cache.close()
    await cache.close()
    const calls = [
      cache.get('k'),
      cache.lookup('k'),
      cache.getBulk([{ key: 'k', loader: () => 'v' }]),
      cache.peek('k'),
      cache.set('k', 'v'),
      cache.delete('k'),
      cache.purge(),
      cache.update(),
    ]
    for (const call of calls) {
      const error = await call.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(ClosedError)
      expect((error as ClosedError).code).toBe('E_CLOSED')
    }
  })

  it('close() unsubscribes from the bus and leaves no timer or handle behind', async () => {
    // vitest's own per-test timer is already running: compare with what was there before.
    const timersAndImmediates = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout' || r === 'Immediate')
    const before = timersAndImmediates()
    const bus = new LocalBus()
    const clock = fakeClock()
    const cache = new MLCache('c', { bus, store: cacheStore(testDict(clock)), clock: clock.now })
    await cache.get('k', () => 'v')
    await cache.set('k', 'w')
    await cache.update()
    await cache.close()
    await bus.close()
    // Nothing new may be left; one that was there before may have ended meanwhile
    // (the test runner's own calls, which an asynchronous store gives more turns to finish).
    const after = timersAndImmediates()
    for (const type of ['Timeout', 'Immediate']) {
      expect(after.filter((r) => r === type).length).toBeLessThanOrEqual(before.filter((r) => r === type).length)
    }
  })

  it('a cache made without options works on its own store and the default bus', async () => {
    const cache = new MLCache<number>('defaults')
    expect(await cache.get('k', () => 42)).toBe(42)
    await cache.set('k', 43)
    expect(await cache.get('k')).toBe(43)
    await cache.close()
  })
})

describe('the default bus under load', () => {
  it('set() in a tight loop of 20,000 awaited calls never overflows the bus queue', async () => {
    const { cache } = testCache('tight-loop', { ttl: 0 })
    for (let i = 0; i < 20_000; i++) await cache.set(`k${i % 50}`, i)
    expect(await cache.get('k49')).toBe(19_999)
  })
})
