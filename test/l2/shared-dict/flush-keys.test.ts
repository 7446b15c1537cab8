import { describe, expect, it } from 'vitest'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('flushAll()', () => {
  it('flushAll() expires every entry, stale reads still see them, and up to 3 are freed from the tail', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    for (let i = 0; i < 6; i++) dict.set(`key${i}`, i, i % 2 === 0 ? 0 : 60_000, i)
    dict.flushAll()
    // One forced round: the tail unconditionally, then two more expired ones.
    for (let i = 0; i < 3; i++) expect(dict.getStale(`key${i}`)).toBeUndefined()
    for (let i = 3; i < 6; i++) expect(dict.getStale(`key${i}`)).toEqual({ value: i, flags: i, stale: true })
    expect(dict.keys()).toEqual([])
    expect(dict.get('key5')).toBeUndefined()
    expect(dict.stats().entries).toBeLessThanOrEqual(3)
  })

  it('flushAll() works with an injected clock that starts at 0', () => {
    const clock = fakeClock(0)
    const dict = dicts.create({ size: '16k', clock: clock.now })
    for (let i = 0; i < 5; i++) dict.set(`key${i}`, i)
    dict.flushAll()
    expect(dict.keys()).toEqual([])
    expect(dict.getStale('key4')?.stale).toBe(true)
    expect(dict.ttl('key4')).toBeLessThan(0)
  })

  it('an entry written after flushAll() is fresh', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('a', 1)
    dict.flushAll()
    dict.set('a', 2)
    dict.set('b', 3)
    expect(dict.keys()).toEqual(['a', 'b'])
    expect(dict.get('a')?.value).toBe(2)
  })

  it('flushAll() and flushExpired() leave loader locks alone', async () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    // Long enough that a loaded machine cannot end it before the 'held' check.
    expect(dict.tryLock('ns', 'key', 'owner', 300)).toBe('acquired')
    // Read after the lease began (a loaded machine may pause between the two): waiting 300 ms from here outlasts it.
    const since = performance.now()
    dict.flushAll()
    expect(dict.flushExpired()).toBe(0)
    expect(dict.tryLock('ns', 'key', 'other', 1_000)).toBe('held')
    // Leases run on real time: wait this one out.
    while (performance.now() - since <= 300) await new Promise((resolve) => setTimeout(resolve, 10))
    clock.advance(1_000)
    // An expired lease is still not the business of flushExpired.
    expect(dict.flushExpired()).toBe(0)
    expect(dict.stats().entries).toBe(1)
    expect(dict.tryLock('ns', 'key', 'other', 1_000)).toBe('acquired')
  })
})

describe('flushExpired()', () => {
  // t/043-shdict.t TESTs 45-48.
  it('flushExpired() frees every expired entry and answers how many', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    const free = dict.freeSpace()
    dict.set('never', 1)
    for (let i = 0; i < 4; i++) dict.set(`soon${i}`, i, 100)
    dict.set('later', 1, 10_000)
    expect(dict.flushExpired()).toBe(0)
    clock.advance(100)
    expect(dict.flushExpired()).toBe(4)
    expect(dict.stats().entries).toBe(2)
    expect(dict.getStale('soon0')).toBeUndefined()
    expect(dict.get('never')?.value).toBe(1)
    expect(dict.get('later')?.value).toBe(1)
    dict.delete('never')
    dict.delete('later')
    expect(dict.freeSpace()).toBe(free)
  })

  it('flushExpired(max) frees at most max entries, from the LRU tail', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    for (let i = 0; i < 5; i++) dict.set(`key${i}`, i, 10)
    dict.get('key0')
    clock.advance(10)
    expect(dict.flushExpired(2)).toBe(2)
    expect(dict.getStale('key1')).toBeUndefined()
    expect(dict.getStale('key2')).toBeUndefined()
    expect(dict.getStale('key3')?.stale).toBe(true)
    expect(dict.getStale('key0')?.stale).toBe(true)
    expect(dict.flushExpired(0)).toBe(3)
    expect(dict.stats().entries).toBe(0)
  })

  it('flushExpired() after flushAll() empties the dict', () => {
    const dict = dicts.create({ size: '16k' })
    const free = dict.freeSpace()
    for (let i = 0; i < 20; i++) dict.set(`key${i}`, 'x'.repeat(i * 10))
    dict.flushAll()
    expect(dict.flushExpired()).toBe(17)
    expect(dict.freeSpace()).toBe(free)
  })
})

describe('keys()', () => {
  // t/043-shdict.t TESTs 51-55.
  it('keys() lists live keys from the least recently used, 1024 at most by default', () => {
    const dict = dicts.create({ size: '1m' })
    for (let i = 0; i < 1_030; i++) dict.set(`key${i}`, i)
    const keys = dict.keys()
    expect(keys).toHaveLength(1_024)
    expect(keys[0]).toBe('key0')
    expect(keys[1_023]).toBe('key1023')
    expect(dict.keys(0)).toHaveLength(1_030)
    expect(dict.keys(3)).toEqual(['key0', 'key1', 'key2'])
  })

  it('keys(max) counts live keys only, skipping expired ones', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('a', 1, 10)
    dict.set('b', 1)
    dict.set('c', 1, 10)
    dict.set('d', 1)
    clock.advance(10)
    expect(dict.keys(2)).toEqual(['b', 'd'])
    expect(dict.keys(1)).toEqual(['b'])
  })

  it('keys() of an empty dict is empty', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.keys()).toEqual([])
    expect(dict.keys(0)).toEqual([])
  })

  it('keys() shows namespaced entries under their internal key and hides locks', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('cache', 'k', new Uint8Array(1), 0, 0)
    dict.tryLock('cache', 'k', 'token', 1_000)
    dict.set('plain', 1)
    expect(dict.keys()).toEqual(['5:cache:k', 'plain'])
  })
})
