import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('add()', () => {
  it('add() stores a missing key', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.add('key', 'value', 0, 4)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')).toEqual({ value: 'value', flags: 4 })
  })

  it("add() answers 'exists' for a live key and leaves it alone", () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('key', 'old', 0, 1)
    expect(dict.add('key', 'new', 100, 2)).toEqual({ ok: false, err: 'exists', forcible: false })
    expect(dict.get('key')).toEqual({ value: 'old', flags: 1 })
    expect(dict.ttl('key')).toBe(0)
  })

  it("add() on a live key makes it the most recently used, as nginx's lookup does", () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('a', 1)
    dict.set('b', 2)
    dict.add('a', 3)
    expect(dict.keys()).toEqual(['b', 'a'])
  })

  it('add() on an expired key with a value of the same size succeeds in place', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('key', 'bar', 10, 1)
    const offset = inspectSharedDict(dict).entries[0]?.offset
    clock.advance(10)
    expect(dict.add('key', 'baz', 0, 2)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')).toEqual({ value: 'baz', flags: 2 })
    expect(dict.ttl('key')).toBe(0)
    expect(inspectSharedDict(dict).entries[0]?.offset).toBe(offset)
  })

  it('add() on an expired key with a value of another size succeeds', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('key', 'bar', 10)
    dict.set('live', 'keeps the expired entry off the LRU tail')
    dict.get('key')
    clock.advance(11)
    expect(dict.getStale('key')?.stale).toBe(true)
    expect(dict.add('key', 'a longer value', 50)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')?.value).toBe('a longer value')
    expect(dict.ttl('key')).toBe(50)
    expect(dict.stats().entries).toBe(2)
  })

  it('add() refuses null and undefined', () => {
    const dict = dicts.create({ size: '16k' })
    expect(() => dict.add('key', null as unknown as string)).toThrow(TypeError)
    expect(() => dict.add('key', undefined as unknown as string)).toThrow(TypeError)
    expect(() => dict.safeAdd('key', null as unknown as string)).toThrow(TypeError)
    expect(dict.get('key')).toBeUndefined()
  })

  it("safeAdd() answers 'exists' like add() and stores a missing key", () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.safeAdd('key', 1)).toEqual({ ok: true, forcible: false })
    expect(dict.safeAdd('key', 2)).toEqual({ ok: false, err: 'exists', forcible: false })
    expect(dict.get('key')?.value).toBe(1)
  })
})

describe('replace()', () => {
  it("replace() answers 'not found' for a missing key", () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.replace('key', 'value')).toEqual({ ok: false, err: 'not found', forcible: false })
    expect(dict.get('key')).toBeUndefined()
  })

  it("replace() answers 'not found' for an expired key, which stays stale", () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('live', 'at the LRU tail, so the pre-op sweep stops there')
    dict.set('key', 'bar', 1, 3)
    clock.advance(2)
    expect(dict.replace('key', 'baz')).toEqual({ ok: false, err: 'not found', forcible: false })
    expect(dict.getStale('key')).toEqual({ value: 'bar', flags: 3, stale: true })
  })

  it('replace() stores over a live key, with the new ttl and flags (same size and another size)', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('key', 'bar', 0, 1)
    expect(dict.replace('key', 'baz', 100, 2)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')).toEqual({ value: 'baz', flags: 2 })
    expect(dict.ttl('key')).toBe(100)
    expect(dict.replace('key', 'a much longer value', 0, 5)).toEqual({ ok: true, forcible: false })
    expect(dict.get('key')).toEqual({ value: 'a much longer value', flags: 5 })
    expect(dict.ttl('key')).toBe(0)
    expect(dict.stats().entries).toBe(1)
  })

  it('replace() refuses null', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('key', 1)
    expect(() => dict.replace('key', null as unknown as number)).toThrow(TypeError)
    expect(dict.get('key')?.value).toBe(1)
  })
})
