import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('incr()', () => {
  it('incr() adds the step to a number in place, keeping its flags and expiry', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('n', 32, 1_000, 5)
    const offset = inspectSharedDict(dict).entries[0]?.offset
    expect(dict.incr('n', 1)).toEqual({ value: 33, forcible: false })
    expect(dict.incr('n', -40.5)).toEqual({ value: -7.5, forcible: false })
    expect(dict.get('n')).toEqual({ value: -7.5, flags: 5 })
    expect(dict.ttl('n')).toBe(1_000)
    expect(inspectSharedDict(dict).entries[0]?.offset).toBe(offset)
  })

  it('incr() makes the entry the most recently used', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('n', 1)
    dict.set('other', 1)
    dict.incr('n', 1)
    expect(dict.keys()).toEqual(['other', 'n'])
  })

  it("incr() answers 'not found' for a missing key without init", () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.incr('n', 1)).toEqual({ err: 'not found', forcible: false })
    expect(dict.get('n')).toBeUndefined()
  })

  it("incr() answers 'not a number' for strings, booleans and bytes, even of 8 bytes", () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('string', 'abcdefgh')
    dict.set('boolean', true)
    dict.set('bytes', new Uint8Array(8))
    for (const key of ['string', 'boolean', 'bytes']) {
      expect(dict.incr(key, 1)).toEqual({ err: 'not a number', forcible: false })
      expect(dict.incr(key, 1, 0)).toEqual({ err: 'not a number', forcible: false })
    }
    expect(dict.get('string')?.value).toBe('abcdefgh')
  })

  it('incr() with init creates a missing key as init + step, flags 0, never expiring', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.incr('n', 2, 10)).toEqual({ value: 12, forcible: false })
    expect(dict.get('n')).toEqual({ value: 12, flags: 0 })
    expect(dict.ttl('n')).toBe(0)
    expect(dict.incr('n', 2, 100)).toEqual({ value: 14, forcible: false })
  })

  it("incr() answers 'not found' for an expired key without init", () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('live', 'keeps the expired entry off the LRU tail')
    dict.set('n', 32, 10)
    clock.advance(10)
    expect(dict.incr('n', 1)).toEqual({ err: 'not found', forcible: false })
    expect(dict.getStale('n')?.stale).toBe(true)
  })

  it('incr() with init reuses an expired 8-byte entry in place, whatever its type, with flags 0', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('live', 'keeps the expired entry off the LRU tail')
    dict.set('n', 'abcdefgh', 10, 9)
    const offset = inspectSharedDict(dict).entries.find((entry) => entry.key === 'n')?.offset
    clock.advance(10)
    expect(dict.incr('n', 1, 0)).toEqual({ value: 1, forcible: false })
    expect(dict.get('n')).toEqual({ value: 1, flags: 0 })
    expect(dict.ttl('n')).toBe(0)
    expect(inspectSharedDict(dict).entries.find((entry) => entry.key === 'n')?.offset).toBe(offset)
    expect(dict.keys()).toEqual(['live', 'n'])
  })

  it('incr() with init replaces an expired entry of another size', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('live', 'keeps the expired entry off the LRU tail')
    dict.set('n', 'a long string value', 10)
    clock.advance(10)
    expect(dict.incr('n', 3, 4, 500)).toEqual({ value: 7, forcible: false })
    expect(dict.get('n')).toEqual({ value: 7, flags: 0 })
    expect(dict.ttl('n')).toBe(500)
    expect(dict.stats().entries).toBe(2)
  })

  it('incr() with initTtl sets the expiry of a created key only', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    expect(dict.incr('n', 1, 0, 1_000)).toEqual({ value: 1, forcible: false })
    expect(dict.ttl('n')).toBe(1_000)
    clock.advance(400)
    expect(dict.incr('n', 1, 0, 5_000)).toEqual({ value: 2, forcible: false })
    expect(dict.ttl('n')).toBe(600)
    clock.advance(600)
    expect(dict.get('n')).toBeUndefined()
    expect(dict.incr('n', 1, 10, 50)).toEqual({ value: 11, forcible: false })
    expect(dict.ttl('n')).toBe(50)
  })

  it('incr() with init on a full dict evicts and answers forcible: true', () => {
    const dict = dicts.create({ size: '8k' })
    // Fill with entries exactly the size of the counter's.
    let i = 0
    while (dict.safeSet(`f${String(i).padStart(6, '0')}`, i).ok) i++
    const result = dict.incr('counter', 1, 0)
    expect(result).toEqual({ value: 1, forcible: true })
    expect(dict.get('f000000')).toBeUndefined()
    expect(dict.get('f000001')?.value).toBe(1)
    expect(dict.stats().forcibleEvictions).toBeGreaterThan(0)
  })

  it('incr() rejects bad arguments before touching the dict', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('n', 1)
    expect(() => dict.incr('n', '1' as unknown as number)).toThrow('step must be a number')
    expect(() => dict.incr('n', Number.NaN)).toThrow(RangeError)
    expect(() => dict.incr('n', Number.POSITIVE_INFINITY)).toThrow('step must be finite')
    expect(() => dict.incr('n', 1, 'x' as unknown as number)).toThrow('init must be a number')
    expect(() => dict.incr('n', 1, Number.NEGATIVE_INFINITY)).toThrow(RangeError)
    expect(() => dict.incr('n', 1, undefined, 10)).toThrow('initTtl requires init')
    expect(() => dict.incr('n', 1, 0, -1)).toThrow('initTtl must be >= 0')
    expect(dict.get('n')?.value).toBe(1)
  })
})
