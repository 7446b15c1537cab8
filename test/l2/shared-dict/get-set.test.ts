import { describe, expect, it } from 'vitest'
import { entryBlockBytes } from '../../../src/l2/shared-dict/layout.js'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('set() and get()', () => {
  it('set() then get() returns strings, numbers, booleans and bytes with their flags', () => {
    const dict = dicts.create({ size: '64k' })
    const values = [
      'hello',
      '',
      'ünïcödé ✓ 🔑',
      'x'.repeat(5_000),
      0,
      -0,
      1.5,
      -1e300,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      Number.MAX_SAFE_INTEGER,
      true,
      false,
      new Uint8Array([1, 2, 3, 255]),
      new Uint8Array(0),
      new Uint8Array(3_000).fill(7),
    ]
    for (const [i, value] of values.entries()) {
      expect(dict.set(`key${i}`, value, 0, i)).toEqual({ ok: true, forcible: false })
    }
    for (const [i, value] of values.entries()) {
      const entry = dict.get(`key${i}`)
      expect(entry?.flags).toBe(i)
      if (value instanceof Uint8Array) {
        expect(entry?.value).toBeInstanceOf(Uint8Array)
        expect(Array.from(entry?.value as Uint8Array)).toEqual(Array.from(value))
      } else {
        expect(Object.is(entry?.value, value)).toBe(true)
      }
    }
  })

  it('get() returns a private copy of stored bytes', () => {
    const dict = dicts.create({ size: '16k' })
    const bytes = new Uint8Array([1, 2, 3])
    dict.set('bytes', bytes)
    bytes[0] = 9
    const first = dict.get('bytes')?.value as Uint8Array
    expect(Array.from(first)).toEqual([1, 2, 3])
    first[1] = 9
    expect(Array.from(dict.get('bytes')?.value as Uint8Array)).toEqual([1, 2, 3])
  })

  it('set() of a Buffer or a view stores only the viewed bytes', () => {
    const dict = dicts.create({ size: '16k' })
    const backing = Uint8Array.from({ length: 100 }, (_, i) => i)
    dict.set('view', backing.subarray(10, 80))
    dict.set('buffer', Buffer.from('abc'))
    expect(Array.from(dict.get('view')?.value as Uint8Array)).toEqual(Array.from(backing.subarray(10, 80)))
    expect(Array.from(dict.get('buffer')?.value as Uint8Array)).toEqual([0x61, 0x62, 0x63])
  })

  it('flags default to 0 and keep the whole uint32 range', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('none', 'v')
    dict.set('max', 'v', 0, 0xffffffff)
    dict.set('high', 'v', 0, 0x80000000)
    expect(dict.get('none')).toEqual({ value: 'v', flags: 0 })
    expect(dict.get('max')?.flags).toBe(0xffffffff)
    expect(dict.get('high')?.flags).toBe(0x80000000)
  })

  it('get() returns undefined for a missing key', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.get('missing')).toBeUndefined()
    dict.set('present', 1)
    expect(dict.get('presen')).toBeUndefined()
    expect(dict.get('present!')).toBeUndefined()
  })

  it('non-ASCII keys are distinct UTF-8 keys', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('clé', 1)
    dict.set('cle\u0301', 2)
    dict.set('🔑', 3)
    expect(dict.get('clé')?.value).toBe(1)
    expect(dict.get('cle\u0301')?.value).toBe(2)
    expect(dict.get('🔑')?.value).toBe(3)
    expect(dict.keys().sort()).toEqual(['clé', 'cle\u0301', '🔑'].sort())
  })

  it('set() with a value of the same byte length rewrites the entry in place, whatever the type', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('key', 'abcdefgh', 0, 1)
    const before = inspectSharedDict(dict).entries[0]
    const free = dict.freeSpace()
    expect(dict.set('key', 3.25, 0, 2)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')).toEqual({ value: 3.25, flags: 2 })
    expect(dict.set('key', new Uint8Array(8).fill(1))).toEqual({ ok: true, forcible: false })
    const after = inspectSharedDict(dict).entries[0]
    expect(after?.offset).toBe(before?.offset)
    expect(dict.freeSpace()).toBe(free)
  })

  it('set() with a value of another length replaces the entry', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('key', 'short')
    const free = dict.freeSpace()
    dict.set('key', 'x'.repeat(100))
    expect(dict.get('key')?.value).toBe('x'.repeat(100))
    expect(dict.freeSpace()).toBe(free + entryBlockBytes(3, 5) - entryBlockBytes(3, 100))
    expect(dict.stats().entries).toBe(1)
  })

  it('set() with null or undefined deletes the key', () => {
    const dict = dicts.create({ size: '16k' })
    const free = dict.freeSpace()
    dict.set('a', 'x')
    dict.set('b', 'y')
    expect(dict.set('a', null)).toEqual({ ok: true, forcible: false })
    expect(dict.set('b', undefined)).toEqual({ ok: true, forcible: false })
    expect(dict.set('missing', null)).toEqual({ ok: true, forcible: false })
    expect(dict.get('a')).toBeUndefined()
    expect(dict.get('b')).toBeUndefined()
    expect(dict.freeSpace()).toBe(free)
  })

  it('delete() removes a key, and deleting a missing key is fine', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('a', 1)
    dict.set('b', 2)
    expect(dict.delete('a')).toBeUndefined()
    dict.delete('a')
    dict.delete('never')
    expect(dict.get('a')).toBeUndefined()
    expect(dict.get('b')?.value).toBe(2)
    expect(dict.stats().entries).toBe(1)
  })

  it('safeSet() stores like set() while memory suffices, and deletes with null', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.safeSet('a', 'value', 1_000, 3)).toEqual({ ok: true, forcible: false })
    expect(dict.get('a')).toEqual({ value: 'value', flags: 3 })
    expect(dict.safeSet('a', null)).toEqual({ ok: true, forcible: false })
    expect(dict.get('a')).toBeUndefined()
  })

  it('set() stores the ttl on the dict clock', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('key', 'v', 1_500)
    expect(dict.ttl('key')).toBe(1_500)
    expect(inspectSharedDict(dict).entries[0]?.expiresAt).toBe(clock.now() + 1_500)
    dict.set('key', 'w')
    expect(dict.ttl('key')).toBe(0)
  })

  it('get() makes an entry the most recently used; a miss changes nothing', () => {
    const dict = dicts.create({ size: '16k' })
    for (const key of ['a', 'b', 'c']) dict.set(key, key)
    expect(dict.keys()).toEqual(['a', 'b', 'c'])
    dict.get('a')
    expect(dict.keys()).toEqual(['b', 'c', 'a'])
    dict.get('missing')
    dict.set('b', 'B')
    expect(dict.keys()).toEqual(['c', 'a', 'b'])
    expect(inspectSharedDict(dict).lru).toEqual(['b', 'a', 'c'])
  })

  it('a key of 65535 UTF-8 bytes is stored and read back', () => {
    const dict = dicts.create({ size: '512k' })
    const ascii = 'k'.repeat(65_535)
    const multibyte = `${'é'.repeat(32_767)}k`
    expect(dict.set(ascii, 'ascii')).toEqual({ ok: true, forcible: false })
    expect(dict.set(multibyte, 'multibyte')).toEqual({ ok: true, forcible: false })
    expect(dict.get(ascii)?.value).toBe('ascii')
    expect(dict.get(multibyte)?.value).toBe('multibyte')
    expect(dict.get(`${'k'.repeat(65_534)}j`)).toBeUndefined()
  })
})
