/**
 * A store that lends its bytes (`readEntryInto`, as SharedDict does) is read
 * that way, and its failures follow the same policy as `readEntry`'s: a
 * miss when a loader will run, `L2Error` without one.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { L2Error } from '../../src/errors.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import { fakeClock, testDict, testLru } from '../helpers/cache-factory.js'
import { wrapStore } from '../helpers/wrap-store.js'

/** A store over `dict` that reads only with `readEntryInto` (its `readEntry` throws), and can be made to fail. */
function lendingStore(dict: SharedDict) {
  const state = { lentReads: 0, down: false }
  const store = wrapStore(dict, {
    readEntry: () => {
      throw new Error('readEntry is not the way this store is read')
    },
    readEntryInto: (namespace, key, view) => {
      state.lentReads++
      if (state.down) throw new Error('store down')
      return dict.readEntryInto(namespace, key, view)
    },
  })
  return { store, state }
}

function lendingCache() {
  const clock = fakeClock()
  const { store, state } = lendingStore(testDict(clock))
  const lru = testLru(clock)
  const cache = new MLCache('c', { store, lru, clock: clock.now, ttl: 1_000, resurrectTtl: 500 })
  onTestFinished(() => cache.close())
  return { cache, state, lru, clock }
}

describe('get() over a store that lends its bytes', () => {
  it('get() reads L2 with readEntryInto: hitLevel 2 after L1 is dropped, and the stale value for resurrection', async () => {
    const { cache, state, lru, clock } = lendingCache()
    await cache.set('k', { v: 1 })
    lru.delete('k')
    expect(await cache.lookup('k')).toEqual({ value: { v: 1 }, hitLevel: 2, stale: false })
    expect(state.lentReads).toBe(1)
    clock.advance(1_500)
    const found = await cache.lookup('k', () => {
      throw new Error('database down')
    })
    expect(found).toEqual({ value: { v: 1 }, hitLevel: 4, stale: true })
  })

  it('get() with a loader reads a failing readEntryInto as a miss (l2Errors); without one it rejects with L2Error', async () => {
    const { cache, state, lru } = lendingCache()
    await cache.set('k', 'stored')
    lru.delete('k')
    state.down = true
    expect(await cache.lookup('k', () => 'loaded')).toMatchObject({ value: 'loaded', hitLevel: 3 })
    expect(cache.stats().l2Errors).toBeGreaterThanOrEqual(1)
    lru.delete('k')
    await expect(cache.get('k')).rejects.toBeInstanceOf(L2Error)
    state.down = false
    expect(await cache.lookup('k')).toMatchObject({ value: 'loaded', hitLevel: 2 })
  })
})
