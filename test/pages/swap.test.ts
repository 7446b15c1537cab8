import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE, type EventBus } from '../../src/bus/event-bus.js'
import { LocalBus } from '../../src/bus/local-bus.js'
import { BusError, BusyError, ClosedError, EncodeError, NoMemoryError } from '../../src/errors.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { encodeValue, entryFlags } from '../../src/codec/codec.js'
import { MLCache } from '../../src/mlcache.js'
import { writeCurrentPage } from '../../src/pages/page-table.js'
import type { PageWriter } from '../../src/types.js'
import { cacheStore, countingLoader, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'
import { fillWith, keysOf, workers } from './page-helpers.js'

describe('swap()', () => {
  it('swap() replaces every key of the cache with the new generation and page grows by one', async () => {
    const { caches: [a] } = workers(1)
    await a!.set('old', 1)
    await a!.set('both', 1)
    expect(a!.page).toBe(1)
    await a!.swap(fillWith({ both: 2, new: 2 }))
    expect(a!.page).toBe(2)
    expect(await a!.lookup('both')).toEqual({ value: 2, hitLevel: 2, stale: false })
    expect(await a!.lookup('new')).toEqual({ value: 2, hitLevel: 2, stale: false })
    expect(await a!.lookup('old')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    await a!.swap(fillWith({ third: 3 }))
    expect(a!.page).toBe(3)
    expect(await a!.get('third')).toBe(3)
    expect(await a!.get('new')).toBeUndefined()
  })

  it('swap() keeps readers on the current page while fill runs: nothing written is visible before it resolves', async () => {
    const { caches: [a, b] } = workers(2)
    await a!.set('k', 'old')
    let seenDuringFill: unknown[] = []
    await a!.swap(async (page) => {
      page.set('k', 'new')
      page.set('added', 'new')
      seenDuringFill = [await a!.get('k'), await b!.get('k'), await b!.get('added'), await b!.peek('added'), a!.page]
    })
    expect(seenDuringFill).toEqual(['old', 'old', undefined, undefined, 1])
    expect([await a!.get('k'), await b!.get('k'), await b!.get('added')]).toEqual(['new', 'new', 'new'])
  })

  it('swap() switches the L1 of every cache on the bus before it resolves', async () => {
    const { caches } = workers(3)
    for (const cache of caches) expect(await cache.get('k', () => 'gen1')).toBe('gen1')
    await caches[0]!.swap(fillWith({ k: 'gen2' }))
    for (const cache of caches) {
      expect(cache.page).toBe(2)
      expect(await cache.lookup('k')).toEqual({ value: 'gen2', hitLevel: 2, stale: false })
    }
  })

  it('swap() reclaims the old page from L2 and leaves the page table and other caches alone', async () => {
    const { caches: [a], dict, store, bus, clock } = workers(1)
    const other = new MLCache('other', { store, bus, clock: clock.now })
    onTestFinished(() => other.close())
    await other.set('o', 1)
    await a!.set('x', 1)
    await a!.set('y', 1)
    await a!.swap(fillWith({ z: 2 }))
    expect(keysOf(dict, 'cfg')).toEqual([])
    expect(keysOf(dict, 'cfg\u00002')).toEqual(['z'])
    expect(keysOf(dict, 'other')).toEqual(['o'])
    await a!.swap(fillWith({ w: 3 }))
    expect(keysOf(dict, 'cfg\u00002')).toEqual([])
    expect(keysOf(dict, 'cfg\u00003')).toEqual(['w'])
  })

  it('swap() lets loads started during fill land in the current page only: they do not outlive the swap', async () => {
    const { caches: [a] } = workers(1)
    const loader = countingLoader(() => 'loaded')
    await a!.swap(async () => {
      expect(await a!.lookup('k', loader)).toEqual({ value: 'loaded', hitLevel: 3, stale: false })
    })
    expect(await a!.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    expect(loader.calls).toBe(1)
  })

  it('a cache created after a swap opens on the current page without any event', async () => {
    const { caches: [a], open } = workers(1)
    await a!.swap(fillWith({ k: 'gen2' }))
    await a!.swap(fillWith({ k: 'gen3' }))
    const late = open()
    // On an asynchronous store the page is known once the page table was read, before any read of L2.
    expect(await late.lookup('k')).toEqual({ value: 'gen3', hitLevel: 2, stale: false })
    expect(late.page).toBe(3)
  })

  it('a cache that missed the flip switches on a bus resync, reading the page table', async () => {
    const { caches: [a], dict, bus } = workers(1)
    expect(await a!.get('k', () => 'gen1')).toBe('gen1')
    // A swap committed by a worker whose flip event this bus lost: only the store says so.
    dict.writeEntry('cfg\u00002', 'k', encodeValue('gen2'), 0, entryFlags(false, false))
    await writeCurrentPage(dict, 'cfg', 2)
    await a!.update()
    expect([a!.page, await a!.get('k')]).toEqual([1, 'gen1'])
    await bus.publish('current', BUS_SOURCE, BUS_RESYNC_EVENT)
    await a!.update()
    await vi.waitFor(() => expect(a!.page).toBe(2))
    expect(await a!.get('k')).toBe('gen2')
  })

  it('PageWriter.set() uses the cache ttl and negTtl unless given, and stores "not found" entries', async () => {
    const clock = fakeClock()
    const dict = testDict(clock)
    const cache = new MLCache('cfg', { store: cacheStore(dict), bus: new LocalBus(), clock: clock.now, ttl: 1_000, negTtl: 100, lru: testLru(clock) })
    onTestFinished(() => cache.close())
    await cache.swap((page) => {
      page.set('default', 'v')
      page.set('long', 'v', { ttl: 5_000 })
      page.set('missing', null)
      page.set('forever', 'v', { ttl: 0 })
    })
    expect(await cache.peek('default')).toMatchObject({ ttl: 1_000 })
    expect(await cache.peek('long')).toMatchObject({ ttl: 5_000 })
    expect(await cache.peek('missing')).toMatchObject({ ttl: 100, value: undefined })
    expect(await cache.peek('forever')).toMatchObject({ ttl: 0, value: 'v' })
    // A "not found" entry is a hit: the loader does not run.
    expect(await cache.lookup('missing', () => 'loaded')).toEqual({ value: undefined, hitLevel: 2, stale: false })
  })

  it('swap() whose fill throws rejects with its error, keeps the current page and reclaims the shadow page', async () => {
    const { caches: [a], dict } = workers(1)
    await a!.set('k', 'old')
    const failure = new Error('config invalid')
    await expect(
      a!.swap((page) => {
        page.set('k', 'new')
        page.set('partial', 'new')
        throw failure
      }),
    ).rejects.toBe(failure)
    expect(a!.page).toBe(1)
    expect(await a!.lookup('k')).toEqual({ value: 'old', hitLevel: 1, stale: false })
    expect(keysOf(dict, 'cfg\u00002')).toEqual([])
    // The lock is free again.
    await a!.swap(fillWith({ k: 'next' }))
    expect(await a!.get('k')).toBe('next')
  })

  it('swap() of a page that does not fit rejects with NoMemoryError without evicting anything of the current page', async () => {
    const { caches: [a], dict } = workers(1, 'cfg', '64k')
    for (let i = 0; i < 20; i++) await a!.set(`live${i}`, 'x'.repeat(100))
    const before = keysOf(dict, 'cfg')
    await expect(
      a!.swap((page) => {
        for (let i = 0; i < 10_000; i++) page.set(`k${i}`, 'y'.repeat(100))
      }),
    ).rejects.toBeInstanceOf(NoMemoryError)
    expect(a!.page).toBe(1)
    expect(keysOf(dict, 'cfg')).toEqual(before)
    expect(keysOf(dict, 'cfg\u00002')).toEqual([])
    expect(await a!.get('live0')).toBe('x'.repeat(100))
  })

  it('swap() fails with NoMemoryError even when fill catches it: a page missing entries never goes live', async () => {
    const { caches: [a] } = workers(1, 'cfg', '64k')
    await expect(
      a!.swap(async (page) => {
        for (let i = 0; i < 10_000; i++) {
          try {
            await page.set(`k${i}`, 'y'.repeat(100))
          } catch {
            // An incomplete page: the swap must not commit it.
          }
        }
      }),
    ).rejects.toBeInstanceOf(NoMemoryError)
    expect(a!.page).toBe(1)
  })

  it('swap() with a value that cannot be encoded rejects with EncodeError and keeps the current page', async () => {
    const { caches: [a] } = workers(1)
    await expect(a!.swap((page) => page.set('k', () => 1))).rejects.toBeInstanceOf(EncodeError)
    expect(a!.page).toBe(1)
  })

  it('a second swap() while one runs rejects with BusyError, in the same cache and in another cache of the store', async () => {
    const { caches: [a, b] } = workers(2)
    let release: () => void = () => undefined
    const gate = new Promise<void>((resolve) => (release = resolve))
    let filling: () => void = () => undefined
    const started = new Promise<void>((resolve) => (filling = resolve))
    const first = a!.swap(async (page) => {
      page.set('k', 'first')
      filling()
      await gate
    })
    await started
    let fills = 0
    const fill = (): void => void fills++
    const sameCache = a!.swap(fill)
    const otherCache = b!.swap(fill)
    await expect(sameCache).rejects.toMatchObject({ code: 'E_BUSY' })
    await expect(otherCache).rejects.toBeInstanceOf(BusyError)
    expect(fills).toBe(0)
    release()
    await first
    await b!.swap(fillWith({ k: 'second' }))
    expect([a!.page, await a!.get('k')]).toEqual([3, 'second'])
  })

  it('swap() rejects with BusError when a live worker does not switch within timeout, the switch staying done', async () => {
    const { caches: [a], store, clock } = workers(1)
    const local = new LocalBus()
    // A bus listing a member that never answers, as a worker stuck in a long synchronous task would be.
    const bus: EventBus = Object.assign(Object.create(local) as EventBus, { workers: () => [local.workerId, 99] })
    for (const method of ['publish', 'subscribe', 'unsubscribe', 'close', 'drain'] as const) {
      Object.assign(bus, { [method]: (local[method] as (...args: unknown[]) => unknown).bind(local) })
    }
    const cache = new MLCache('stuck', { store, bus, clock: clock.now })
    onTestFinished(() => cache.close().then(() => local.close()))
    const error = await cache.swap(fillWith({ k: 2 }), { timeout: 50 }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BusError)
    expect((error as Error).message).toMatch(/99/)
    expect(cache.page).toBe(2)
    expect(await cache.get('k')).toBe(2)
    expect(a!.page).toBe(1)
  })

  it('PageWriter.set() after the swap settled throws ClosedError', async () => {
    const { caches: [a] } = workers(1)
    let kept: PageWriter<unknown> | undefined
    await a!.swap((page) => {
      kept = page
    })
    expect(() => kept!.set('k', 1)).toThrow(ClosedError)
  })

  it('caches named so that a page namespace could collide never see each other', async () => {
    const { caches: [a], store, bus, clock } = workers(1, 'a')
    const twin = new MLCache('a\u00002', { store, bus, clock: clock.now, lru: testLru(clock) })
    onTestFinished(() => twin.close())
    await twin.set('k', 'twin')
    await a!.swap(fillWith({ k: 'a2' }))
    expect(await twin.get('k')).toBe('twin')
    expect(await a!.get('k')).toBe('a2')
    await twin.swap(fillWith({ k: 'twin2' }))
    expect(await a!.get('k')).toBe('a2')
  })

  it('swap() rejects bad arguments with TypeError or RangeError before touching anything', async () => {
    const { caches: [a] } = workers(1)
    await expect(a!.swap('fill' as never)).rejects.toThrow(new TypeError('fill must be a function'))
    await expect(a!.swap(() => undefined, { timeout: -1 })).rejects.toBeInstanceOf(RangeError)
    await expect(a!.swap(() => undefined, { grace: -5 })).rejects.toBeInstanceOf(RangeError)
    await expect(a!.swap(() => undefined, { tiemout: 1 } as never)).rejects.toBeInstanceOf(TypeError)
    await expect(a!.swap((page) => page.set(1 as never, 1))).rejects.toBeInstanceOf(TypeError)
    await expect(a!.swap((page) => page.set('k', 1, { ttl: -1 }))).rejects.toBeInstanceOf(RangeError)
    expect(a!.page).toBe(1)
    await a!.close()
    await expect(a!.swap(() => undefined)).rejects.toBeInstanceOf(ClosedError)
  })
})
