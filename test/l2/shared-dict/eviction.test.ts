import { describe, expect, it } from 'vitest'
import { entryBlockBytes } from '../../../src/l2/shared-dict/layout.js'
import type { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

/** Fills `dict` with `${prefix}${i}` entries of `value` until a safeSet fails; answers how many fit. */
function fill(dict: SharedDict, prefix: string, value: string | number): number {
  let count = 0
  while (dict.safeSet(`${prefix}${String(count).padStart(4, '0')}`, value).ok) count++
  return count
}

describe('forcible eviction', () => {
  // lua-nginx-module t/043-shdict.t TEST 9: "forcibly override other valid entries".
  it('set() on a full dict evicts the least recently used entry and answers forcible: true', () => {
    const dict = dicts.create({ size: '16k' })
    let i = 0
    let result
    do {
      i++
      result = dict.set(`key_${i}`, ' hello'.repeat(10) + String(i))
    } while (result.ok && !result.forcible && i < 1000)
    expect(result).toEqual({ ok: true, forcible: true })
    expect(i).toBeGreaterThan(2)
    expect(dict.get(`key_${i}`)?.value).toBe(' hello'.repeat(10) + String(i))
    expect(dict.get('key_1')).toBeUndefined()
    expect(dict.get('key_2')?.value).toBe(`${' hello'.repeat(10)}2`)
    expect(dict.stats().forcibleEvictions).toBe(1)
  })

  // t/043-shdict.t TEST 10: "forcibly override other valid entries and test LRU".
  it('get() protects an entry from eviction: the next least recently used one goes instead', () => {
    const dict = dicts.create({ size: '16k' })
    let i = 0
    let result
    do {
      i++
      if (i === 10) dict.get('key_1')
      result = dict.set(`key_${i}`, ' hello'.repeat(10) + String(i))
    } while (result.ok && !result.forcible && i < 1000)
    expect(result).toEqual({ ok: true, forcible: true })
    expect(i).toBeGreaterThan(10)
    expect(dict.get('key_1')?.value).toBe(`${' hello'.repeat(10)}1`)
    expect(dict.get('key_2')).toBeUndefined()
  })

  // t/043-shdict.t TEST 26, where nginx still evicts up to 90 entries: the contract evicts nothing.
  it('a value larger than the dict answers no memory without evicting anything', () => {
    const dict = dicts.create({ size: '16k' })
    for (let i = 0; i < 10; i++) dict.set(`key${i}`, i)
    expect(dict.set('foo', 'a'.repeat(1024 * 1024))).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.add('bar', new Uint8Array(20_000))).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.keys()).toHaveLength(10)
    expect(dict.stats().forcibleEvictions).toBe(0)
    expect(dict.stats().noMemory).toBe(2)
  })

  it('a value that just fits the empty arena is stored; one byte more is too large', () => {
    const dict = dicts.create({ size: '16k' })
    const arena = dict.freeSpace()
    const fits = 'v'.repeat(arena - entryBlockBytes(1, 0) + 5)
    expect(entryBlockBytes(1, fits.length)).toBe(arena)
    expect(dict.set('k', fits)).toEqual({ ok: true, forcible: false })
    expect(dict.freeSpace()).toBe(0)
    expect(dict.set('k', `${fits}+`)).toEqual({ ok: false, err: 'no memory', forcible: false })
    // Like any set of another size, the failed one removed the old value first.
    expect(dict.get('k')).toBeUndefined()
    expect(dict.freeSpace()).toBe(arena)
  })

  it('safeSet() and safeAdd() on a full dict answer no memory and evict nothing; set() evicts', () => {
    const dict = dicts.create({ size: '8k' })
    const count = fill(dict, 'f', 'x'.repeat(40))
    expect(dict.safeSet('new01', 'x'.repeat(40))).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.safeAdd('new02', 'x'.repeat(40))).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.stats().entries).toBe(count)
    expect(dict.add('new03', 'x'.repeat(40))).toEqual({ ok: true, forcible: true })
    expect(dict.set('new04', 'x'.repeat(40))).toEqual({ ok: true, forcible: true })
    expect(dict.get('f0000')).toBeUndefined()
    expect(dict.get('f0001')).toBeUndefined()
    expect(dict.get('f0002')?.value).toBe('x'.repeat(40))
  })

  it('replace() with a larger value on a full dict evicts and answers forcible: true', () => {
    const dict = dicts.create({ size: '8k' })
    fill(dict, 'f', 'x'.repeat(40))
    dict.get('f0005')
    expect(dict.replace('f0005', 'y'.repeat(80))).toEqual({ ok: true, forcible: true })
    expect(dict.get('f0005')?.value).toBe('y'.repeat(80))
    expect(dict.get('f0000')).toBeUndefined()
  })

  it('eviction stops after 30 rounds: no memory, forcible: true, 30 entries gone', () => {
    const dict = dicts.create({ size: '16k' })
    fill(dict, 'f', 1)
    expect(dict.safeSet('victim', 2)).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.set('victim', 2)).toEqual({ ok: true, forcible: true })
    const before = dict.stats()
    expect(dict.set('victim', 'v'.repeat(3_000))).toEqual({ ok: false, err: 'no memory', forcible: true })
    // The old value went first (nginx's "removing it first"), then 30 tail entries.
    expect(dict.get('victim')).toBeUndefined()
    expect(dict.stats().forcibleEvictions - before.forcibleEvictions).toBe(30)
    expect(dict.stats().entries).toBe(before.entries - 31)
    expect(dict.get('f0030')).toBeUndefined()
    expect(dict.get('f0031')?.value).toBe(1)
  })

  it('LRU takes priority over expiry: the live tail goes first, then up to two expired entries', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '8k', clock: clock.now })
    dict.set('a0000', 'x'.repeat(40))
    dict.set('b0000', 'x'.repeat(40), 10)
    dict.set('c0000', 'x'.repeat(40), 10)
    dict.set('d0000', 'x'.repeat(40), 10)
    fill(dict, 'f', 'x'.repeat(40))
    clock.advance(10)
    expect(dict.set('new00', 'x'.repeat(40))).toEqual({ ok: true, forcible: true })
    expect(dict.getStale('a0000')).toBeUndefined()
    expect(dict.getStale('b0000')).toBeUndefined()
    expect(dict.getStale('c0000')).toBeUndefined()
    // One forced round frees the tail and at most two expired entries behind it.
    expect(dict.getStale('d0000')?.stale).toBe(true)
    expect(dict.stats().forcibleEvictions).toBe(1)
    expect(dict.stats().expiredFreed).toBe(2)
  })

  it('an eviction round that frees only expired entries still answers forcible: true', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '8k', clock: clock.now })
    for (const key of ['a0000', 'b0000', 'c0000']) dict.set(key, 'x'.repeat(40), 10)
    fill(dict, 'f', 'x'.repeat(40))
    clock.advance(10)
    // The pre-op sweep frees a and b, not enough room; the forced round frees the expired c.
    expect(dict.set('new00', 'y'.repeat(200))).toEqual({ ok: true, forcible: true })
    expect(dict.stats().forcibleEvictions).toBe(0)
    expect(dict.stats().expiredFreed).toBe(3)
  })

  it('a failed set() has deleted the old value (nginx parity)', () => {
    const dict = dicts.create({ size: '8k' })
    fill(dict, 'f', 'x'.repeat(40))
    const count = dict.stats().entries
    expect(dict.safeSet('f0003', 'y'.repeat(100))).toEqual({ ok: false, err: 'no memory', forcible: false })
    expect(dict.get('f0003')).toBeUndefined()
    expect(dict.stats().entries).toBe(count - 1)
  })
})
