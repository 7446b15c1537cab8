/**
 * A store whose answers come late, one chosen method at a time (a slow
 * network): what MLCache must not wait for, and what it must not count twice
 * while an earlier call is still on its way.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { entryFlags } from '../../src/codec/codec.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, countingLoader, fakeClock, l2CallsSettled, testDict, testLru } from '../helpers/cache-factory.js'
import { failingStore } from '../helpers/failing-store.js'

/** A cache over a store that can hold calls; `dict` is the store underneath. */
function slowCache() {
  const clock = fakeClock()
  const dict = testDict(clock)
  const store = failingStore(cacheStore(dict), 'reject')
  const cache = new MLCache('c', { store, lru: testLru(clock), clock: clock.now })
  onTestFinished(async () => {
    store.releaseHeld()
    await l2CallsSettled()
    await cache.close()
  })
  return { cache, store, dict }
}

const CORRUPT = Uint8Array.of(0xc1, 0xc1, 0xc1)

describe('a store that answers late', () => {
  it('get() does not wait for the delete of an undecodable entry', async () => {
    const { cache, store, dict } = slowCache()
    dict.writeEntry('c', 'k', CORRUPT, 0, entryFlags(false, false))
    store.hold('deleteEntry')
    expect(await cache.lookup('k')).toEqual({ value: undefined, hitLevel: -1, stale: false })
    expect(store.calls.deleteEntry).toBe(1)
    expect(store.releaseHeld()).toBe(1)
    await l2CallsSettled()
    expect(dict.readEntry('c', 'k')).toBeUndefined()
  })

  it('get() counts an undecodable entry once while its delete is still on its way', async () => {
    const { cache, store, dict } = slowCache()
    dict.writeEntry('c', 'k', CORRUPT, 0, entryFlags(false, false))
    store.hold('deleteEntry')
    const loader = countingLoader(() => 'reloaded')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'reloaded', hitLevel: 3 })
    expect(loader.calls).toBe(1)
    // One corrupt entry, one get: one decode error (the load re-reads the key under its lock).
    expect(cache.stats().decodeErrors).toBe(1)
  })
})
