import { describe, expect, it } from 'vitest'
import { testCache, testDict } from '../helpers/cache-factory.js'

describe('peek()', () => {
  it('peek() returns the remaining ttl and the value from L2 without filling L1', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 1_000 })
    await cache.set('k', { v: 1 })
    lru.delete('k')
    clock.advance(250)
    expect(await cache.peek('k')).toEqual({ ttl: 750, value: { v: 1 }, stale: false })
    expect(lru.has('k')).toBe(false)
  })

  it('peek() returns undefined for a missing key', async () => {
    const { cache } = testCache()
    expect(await cache.peek('missing')).toBeUndefined()
  })

  it('peek() returns ttl 0 for an entry that never expires', async () => {
    const { cache } = testCache('c', { ttl: 0 })
    await cache.set('k', 'v')
    expect(await cache.peek('k')).toEqual({ ttl: 0, value: 'v', stale: false })
  })

  it('peek() returns undefined for an expired entry unless stale is requested, then a negative ttl', async () => {
    const { cache, clock } = testCache('c', { ttl: 100 })
    await cache.set('k', 'v')
    clock.advance(100)
    expect(await cache.peek('k')).toBeUndefined()
    const atExpiry = await cache.peek('k', { stale: true })
    expect(atExpiry?.stale).toBe(true)
    expect(atExpiry?.ttl).toBeLessThan(0)
    clock.advance(50)
    expect(await cache.peek('k', { stale: true })).toEqual({ ttl: -50, value: 'v', stale: true })
    // Peeking does not reclaim it.
    expect(await cache.peek('k', { stale: true })).toEqual({ ttl: -50, value: 'v', stale: true })
  })

  it('peek() returns a negative entry with value undefined, from missStore too', async () => {
    const { cache, clock } = testCache('c', { negTtl: 500 })
    await cache.get('k', () => null)
    expect(await cache.peek('k')).toEqual({ ttl: 500, value: undefined, stale: false })
    const missStore = testDict(clock)
    const { cache: withMiss } = testCache('m', { missStore }, clock)
    await withMiss.set('n', undefined)
    expect(await withMiss.peek('n')).toEqual({ ttl: 5_000, value: undefined, stale: false })
  })
})
