import { describe, expect, it } from 'vitest'
import { decodeValue, entryFlags } from '../../src/codec/codec.js'
import { withLifetime } from '../../src/codec/entry-life.js'
import { MLCache } from '../../src/mlcache.js'
import { cacheStore, fakeClock, testCache, testDict, testLru, twoWorkers } from '../helpers/cache-factory.js'

describe('set(), delete() and purge()', () => {
  it('set() writes L2 and this cache L1 with the full ttl', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 1_000 })
    const value = { v: 1 }
    await cache.set('k', value)
    expect(await cache.lookup('k')).toEqual({ value, hitLevel: 1, stale: false })
    lru.delete('k')
    expect(await cache.lookup('k')).toEqual({ value, hitLevel: 2, stale: false })
    clock.advance(999)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 1 })
    clock.advance(2)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: -1 })
  })

  it('set() with undefined or null stores a negative entry for negTtl', async () => {
    const { cache, clock } = testCache('c', { negTtl: 100, ttl: 10_000 })
    await cache.set('k', null)
    expect(await cache.lookup('k', () => 'loaded')).toEqual({ value: undefined, hitLevel: 1, stale: false })
    clock.advance(101)
    expect(await cache.get('k', () => 'loaded')).toBe('loaded')
  })

  it('set() in one cache drops the key from the L1 of another cache of that name on the bus', async () => {
    const { a, b } = twoWorkers('users')
    await b.get('k', () => 'old')
    await a.set('k', 'new')
    await b.update()
    expect(await b.lookup('k')).toEqual({ value: 'new', hitLevel: 2, stale: false })
    // The publisher keeps its own L1 entry: it ignores its own event.
    expect(await a.lookup('k')).toEqual({ value: 'new', hitLevel: 1, stale: false })
  })

  it('delete() removes the key from L2 and from every L1 of the name', async () => {
    const { a, b } = twoWorkers('users')
    await a.get('k', () => 'v')
    await b.get('k', () => 'v')
    await a.delete('k')
    await b.update()
    expect(await a.lookup('k')).toMatchObject({ hitLevel: -1 })
    expect(await b.lookup('k')).toMatchObject({ hitLevel: -1 })
  })

  it('delete() of a missing key resolves', async () => {
    const { cache } = testCache()
    await expect(cache.delete('never set')).resolves.toBeUndefined()
  })

  it('purge() removes this cache entries only; other names on the same store survive', async () => {
    const clock = fakeClock()
    const store = cacheStore(testDict(clock))
    const users = new MLCache('users', { store, clock: clock.now })
    const posts = new MLCache('posts', { store, clock: clock.now, lru: testLru(clock) })
    await users.set('1', 'ada')
    await posts.set('1', 'hello')
    await users.purge()
    expect(await users.lookup('1')).toMatchObject({ hitLevel: -1 })
    expect(await posts.lookup('1')).toMatchObject({ value: 'hello', hitLevel: 1 })
    expect(await posts.peek('1')).toMatchObject({ value: 'hello', stale: false })
    await Promise.all([users.close(), posts.close()])
  })

  it('purge() clears the L1 of every cache of the name on the bus', async () => {
    const { a, b } = twoWorkers('users')
    await b.get('k', () => 'v')
    await a.purge()
    await b.update()
    expect(await b.lookup('k')).toMatchObject({ hitLevel: -1 })
  })

  it('purge() keeps purged values readable as stale unless flushExpired reclaims them', async () => {
    const { cache, store } = testCache('c', { resurrectTtl: 1_000 })
    await cache.set('k', 'v')
    await cache.purge()
    expect(await cache.peek('k', { stale: true })).toMatchObject({ value: 'v', stale: true })
    const before = store.freeSpace()
    await cache.purge({ flushExpired: true })
    expect(await cache.peek('k', { stale: true })).toBeUndefined()
    expect(store.freeSpace()).toBeGreaterThan(before)
  })

  it('set() with a missStore moves the key between the stores', async () => {
    const clock = fakeClock()
    const missStore = testDict(clock)
    const { cache, store } = testCache('c', { missStore }, clock)
    await cache.set('k', undefined)
    // A negative entry, written with the cache's negTtl (5 s) as its lifetime.
    expect(missStore.readEntry('c', 'k')).toMatchObject({ flags: withLifetime(entryFlags(true, false), 5_000), stale: false })
    expect(store.readEntry('c', 'k')).toBeUndefined()
    await cache.set('k', 'found')
    expect(missStore.readEntry('c', 'k')).toBeUndefined()
    const found = store.readEntry('c', 'k')
    expect(found && decodeValue(found.value, found.flags)).toBe('found')
  })

  it('get() with a missStore keeps negative entries out of the main store', async () => {
    const clock = fakeClock()
    const missStore = testDict(clock)
    const { cache, store, lru } = testCache('c', { missStore }, clock)
    await cache.get('absent', () => undefined)
    expect(store.readEntry('c', 'absent')).toBeUndefined()
    lru.delete('absent')
    expect(await cache.lookup('absent', () => 'x')).toEqual({ value: undefined, hitLevel: 2, stale: false })
    await cache.delete('absent')
    expect(missStore.readEntry('c', 'absent')).toBeUndefined()
  })

  it('purge() with a missStore purges both stores', async () => {
    const clock = fakeClock()
    const missStore = testDict(clock)
    const { cache } = testCache('c', { missStore }, clock)
    await cache.set('hit', 'v')
    await cache.set('miss', null)
    await cache.purge({ flushExpired: true })
    expect(await cache.peek('hit', { stale: true })).toBeUndefined()
    expect(await cache.peek('miss', { stale: true })).toBeUndefined()
  })
})
