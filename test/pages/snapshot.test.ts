import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { ClosedError, PageRetiredError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import { countingLoader } from '../helpers/cache-factory.js'
import { fillWith, keysOf, workers } from './page-helpers.js'

describe('snapshot()', () => {
  it('snapshot() keeps reading the page current when it was taken after a swap, while the cache reads the new one', async () => {
    const { caches: [a, b] } = workers(2)
    await a!.swap(fillWith({ x: 'gen2', y: 'gen2' }))
    const view = b!.snapshot()
    expect(view.page).toBe(2)
    expect(await view.get('x')).toBe('gen2')
    await a!.swap(fillWith({ x: 'gen3', y: 'gen3' }), { grace: 60_000 })
    expect(b!.page).toBe(3)
    expect(await b!.get('y')).toBe('gen3')
    // Both keys from page 2: x from the snapshot's L1, y from page 2 in L2.
    expect([await view.get('x'), await view.lookup('y')]).toEqual(['gen2', { value: 'gen2', hitLevel: 2, stale: false }])
    expect(await view.peek('y')).toMatchObject({ value: 'gen2' })
    expect(await view.getBulk([{ key: 'x', loader: () => 'loaded' }, { key: 'y', loader: () => 'loaded' }])).toEqual([
      { value: 'gen2', hitLevel: 1 },
      { value: 'gen2', hitLevel: 1 },
    ])
    view.release()
  })

  it('the old page stays in L2 while a snapshot pins it, and goes when the last one is released', async () => {
    const { caches: [a, b], dict } = workers(2)
    await a!.set('k', 'gen1')
    const first = b!.snapshot()
    const second = b!.snapshot()
    await a!.swap(fillWith({ k: 'gen2' }), { grace: 60_000 })
    expect(keysOf(dict, 'cfg')).toEqual(['k'])
    first.release()
    first.release()
    await b!.update()
    expect(keysOf(dict, 'cfg')).toEqual(['k'])
    expect(await second.get('k')).toBe('gen1')
    second.release()
    await vi.waitFor(() => expect(keysOf(dict, 'cfg')).toEqual([]))
    await expect(second.get('k')).rejects.toBeInstanceOf(ClosedError)
  })

  it('a snapshot still pinned when the grace ends reads its L1 only: a read that needs L2 rejects with PageRetiredError', async () => {
    const { caches: [a], dict, store, bus, clock } = workers(1)
    // The default L1 (a custom lru follows the current page, so an old page keeps no L1 entries).
    const b = new MLCache('cfg', { store, bus, clock: clock.now })
    onTestFinished(() => b.close())
    await a!.set('cached', 'gen1')
    await a!.set('uncached', 'gen1')
    const view = b.snapshot()
    expect(await view.get('cached')).toBe('gen1')
    await a!.swap(fillWith({ cached: 'gen2' }), { grace: 30 })
    await vi.waitFor(() => expect(keysOf(dict, 'cfg')).toEqual([]))
    await b.update()
    expect(await view.get('cached')).toBe('gen1')
    const loader = countingLoader(() => 'loaded')
    await expect(view.get('uncached', loader)).rejects.toBeInstanceOf(PageRetiredError)
    await expect(view.peek('uncached')).rejects.toMatchObject({ code: 'E_PAGE_RETIRED' })
    expect(loader.calls).toBe(0)
    view.release()
  })

  it('close() of the cache that swapped reclaims an old page still pinned at once', async () => {
    const { caches: [a, b], dict } = workers(2)
    await a!.set('k', 'gen1')
    const view = b!.snapshot()
    await a!.swap(fillWith({ k: 'gen2' }), { grace: 60_000 })
    expect(keysOf(dict, 'cfg')).toEqual(['k'])
    await a!.close()
    expect(keysOf(dict, 'cfg')).toEqual([])
    // Nothing of the swap keeps running (or spinning) after close(): timers still fire.
    await new Promise((resolve) => setTimeout(resolve, 5))
    view.release()
  })

  it('the next swap reclaims a page still pinned from the swap before', async () => {
    const { caches: [a, b], dict } = workers(2)
    await a!.set('k', 'gen1')
    const view = b!.snapshot()
    await a!.swap(fillWith({ k: 'gen2' }), { grace: 60_000 })
    await b!.swap(fillWith({ k: 'gen3' }))
    expect(keysOf(dict, 'cfg')).toEqual([])
    // Page 2, which no snapshot reads, goes at once: a snapshot of page 1 does not hold it.
    expect(keysOf(dict, 'cfg\u00002')).toEqual([])
    expect(keysOf(dict, 'cfg\u00003')).toEqual(['k'])
    view.release()
  })

  it('a snapshot read while the next swap reclaims its page rejects with PageRetiredError, never answers a hole', async () => {
    const { caches: [a, b] } = workers(2)
    await a!.set('k', 'gen1')
    const view = b!.snapshot()
    await a!.swap(fillWith({ k: 'gen2' }), { grace: 60_000 })
    let during: unknown
    await a!.swap(async (page) => {
      // Page 1, which the view pins, was purged when this swap started.
      during = await view.get('k').catch((error: unknown) => error)
      page.set('k', 'gen3')
    })
    expect(during).toBeInstanceOf(PageRetiredError)
    view.release()
  })

  it('readers taking snapshots under 20 consecutive swaps never see two generations in one snapshot', async () => {
    const { caches: [writer, reader] } = workers(2)
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
    const generation = (g: number) => Object.fromEntries(keys.map((key) => [key, g]))
    await writer!.swap(fillWith(generation(1)))
    let swapping = true
    const seen = new Set<number>()
    let mixed = 0
    let retired = 0
    const read = async (): Promise<void> => {
      while (swapping) {
        const view = reader!.snapshot()
        const values = []
        try {
          for (const key of keys) {
            values.push(await view.get(key))
            // Let swaps interleave with the reads of one snapshot.
            await new Promise((resolve) => setImmediate(resolve))
          }
        } catch (error) {
          // Two swaps overtook this snapshot: its page is gone, and it says so rather than answer holes.
          if (!(error instanceof PageRetiredError)) throw error
          retired++
          continue
        } finally {
          view.release()
        }
        if (new Set(values).size !== 1) mixed++
        seen.add(values[0] as number)
      }
    }
    const readers = [read(), read(), read()]
    for (let g = 2; g <= 21; g++) {
      await writer!.swap(fillWith(generation(g)))
      // About as long as one snapshot takes: most span one swap, some two.
      for (let turn = 0; turn < keys.length; turn++) await new Promise((resolve) => setImmediate(resolve))
    }
    swapping = false
    await Promise.all(readers)
    expect(mixed).toBe(0)
    expect(seen.size).toBeGreaterThan(1)
    expect(seen.size + retired).toBeGreaterThan(2)
  })

  it('snapshot() of a closed cache throws ClosedError', async () => {
    const { caches: [a] } = workers(1)
    await a!.close()
    expect(() => a!.snapshot()).toThrow(ClosedError)
  })
})
