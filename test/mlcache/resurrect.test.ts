import { describe, expect, it } from 'vitest'
import { LoaderError } from '../../src/errors.js'
import { countingLoader, testCache } from '../helpers/cache-factory.js'

const fail = () => {
  throw new Error('database down')
}

describe('get() with resurrectTtl', () => {
  it('get() rejects with LoaderError carrying the cause when the loader throws and resurrectTtl is off', async () => {
    const { cache } = testCache()
    const error = await cache.get('k', fail).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(LoaderError)
    expect((error as LoaderError).code).toBe('E_LOADER')
    expect((error as LoaderError).key).toBe('k')
    expect(((error as LoaderError).cause as Error).message).toBe('database down')
  })

  it('get() handles non-Error throws and rejections from the loader', async () => {
    const { cache } = testCache()
    for (const thrown of ['a string', null, undefined, { code: 42 }]) {
      const error = await cache.get('k', () => Promise.reject(thrown)).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(LoaderError)
      expect((error as LoaderError).cause).toBe(thrown)
    }
  })

  it('get() rejects with LoaderError when the loader throws and no stale value exists, even with resurrectTtl', async () => {
    const { cache } = testCache('c', { resurrectTtl: 1_000 })
    await expect(cache.get('k', fail)).rejects.toBeInstanceOf(LoaderError)
  })

  it('get() resurrects the stale value with hitLevel 4 when the loader throws', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 100, resurrectTtl: 1_000 })
    await cache.get('k', () => ({ v: 1 }))
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toEqual({ value: { v: 1 }, hitLevel: 4, stale: true })
    // Promoted into L1 for resurrectTtl, then served from L1.
    expect(await cache.lookup('k', fail)).toEqual({ value: { v: 1 }, hitLevel: 1, stale: false })
    // L2 holds it again, marked resurrected: an L2 reader gets hitLevel 4.
    lru.delete('k')
    expect(await cache.lookup('k', fail)).toEqual({ value: { v: 1 }, hitLevel: 4, stale: true })
    expect(cache.stats().resurrections).toBe(1)
  })

  it("get() resurrects the key's own bytes into L2 when the failing loader read other keys from L2 first", async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 100, resurrectTtl: 1_000 })
    await cache.get('k', () => ({ v: 'kept' }))
    await cache.set('other', { v: 'another value, longer than the first' })
    clock.advance(150)
    await cache.set('other', { v: 'another value, longer than the first' })
    const found = await cache.lookup('k', async () => {
      // L2 reads of other keys: their bytes take the place of k's stale bytes in the buffer L2 lends.
      lru.delete('other')
      await cache.get('other')
      fail()
    })
    expect(found).toEqual({ value: { v: 'kept' }, hitLevel: 4, stale: true })
    lru.delete('k')
    expect(await cache.lookup('k', fail)).toEqual({ value: { v: 'kept' }, hitLevel: 4, stale: true })
  })

  it('get() tries the loader again once resurrectTtl has elapsed, and a success clears the stale state', async () => {
    const { cache, clock, lru } = testCache('c', { ttl: 100, resurrectTtl: 1_000 })
    await cache.get('k', () => 'old')
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toMatchObject({ value: 'old', hitLevel: 4 })
    clock.advance(999)
    const loader = countingLoader(() => 'new')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'old', hitLevel: 1 })
    // Past the boundary: a custom lru-cache keeps an entry while now - start <= ttl.
    clock.advance(2)
    expect(await cache.lookup('k', loader)).toEqual({ value: 'new', hitLevel: 3, stale: false })
    lru.delete('k')
    expect(await cache.lookup('k', loader)).toEqual({ value: 'new', hitLevel: 2, stale: false })
    expect(loader.calls).toBe(1)
  })

  it('get() resurrects a stale negative entry as undefined with hitLevel 4', async () => {
    const { cache, clock } = testCache('c', { negTtl: 100, resurrectTtl: 1_000 })
    await cache.get('k', () => undefined)
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toEqual({ value: undefined, hitLevel: 4, stale: true })
  })

  it('get() resurrects the raw value into L2, not the l1Serializer output (upstream quirk 10)', async () => {
    const { cache, clock } = testCache<{ n: number }>('c', { ttl: 100, resurrectTtl: 1_000, l1Serializer: (v) => ({ n: v.n * 10 }) })
    await cache.get('k', () => ({ n: 1 }))
    clock.advance(150)
    expect(await cache.lookup('k', fail)).toMatchObject({ value: { n: 10 }, hitLevel: 4 })
    expect(await cache.peek('k')).toMatchObject({ value: { n: 1 } })
  })
})
