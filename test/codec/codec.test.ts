import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { describe, expect, it } from 'vitest'
import {
  FLAG_NEGATIVE,
  FLAG_RESURRECTED,
  decodeValue,
  decodeValueAt,
  encodeValue,
  entryFlags,
  isKnownFormat,
} from '../../src/codec/codec.js'
import { DecodeError, EncodeError } from '../../src/errors.js'

const FLAGS = entryFlags(false, false)

function roundTrip(value: unknown): unknown {
  return decodeValue(encodeValue(value), FLAGS)
}

describe('codec', () => {
  it('encodeValue() round-trips primitives, including bigint, NaN and -0', () => {
    for (const value of [0, 1, -1, 1.5, 2 ** 53, -(2 ** 60), 1e300, 'héllo', '', true, false, 5n, 2n ** 80n, -(2n ** 70n)]) {
      expect(roundTrip(value)).toStrictEqual(value)
    }
    expect(Number.isNaN(roundTrip(NaN))).toBe(true)
    expect(Object.is(roundTrip(-0), -0)).toBe(true)
  })

  it('encodeValue() keeps numbers lossless beyond 14 digits (upstream used %.14g)', () => {
    expect(roundTrip(123456789012345678)).toBe(123456789012345678)
    expect(roundTrip(0.1 + 0.2)).toBe(0.1 + 0.2)
  })

  it('encodeValue() round-trips Map, Set, Date, Uint8Array, Buffer and plain objects, nested', () => {
    const value = {
      map: new Map<unknown, unknown>([['a', { b: [1, 2] }], [2, new Set(['x'])]]),
      set: new Set([1, 'two']),
      date: new Date(1_700_000_000_123),
      bytes: Uint8Array.of(1, 2, 3),
      buffer: Buffer.from('hi'),
      list: [null, { deep: { deeper: 'yes' } }],
    }
    const decoded = roundTrip(value) as typeof value
    expect(decoded).toStrictEqual(value)
    expect(decoded.map).toBeInstanceOf(Map)
    expect(decoded.set).toBeInstanceOf(Set)
    expect(decoded.date).toBeInstanceOf(Date)
    expect(decoded.bytes).toBeInstanceOf(Uint8Array)
    expect(Buffer.isBuffer(decoded.buffer)).toBe(true)
  })

  it('encodeValue() keeps a plain object and a Map with the same entries apart', () => {
    expect(roundTrip({ a: 1 })).toStrictEqual({ a: 1 })
    expect(roundTrip(new Map([['a', 1]]))).toStrictEqual(new Map([['a', 1]]))
  })

  it('encodeValue() bytes lead with their structure table: values of one shape share it byte for byte, and 300 shapes all decode', () => {
    const tableOf = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 1 + bytes[0]!)).toString('hex')
    expect(tableOf(encodeValue({ a: 1, b: 'x' }))).toBe(tableOf(encodeValue({ a: 2, b: 'y' })))
    expect(tableOf(encodeValue({ a: 1, b: 'x' }))).not.toBe(tableOf(encodeValue({ b: 'x', a: 1 })))
    expect(encodeValue('no objects')[0]).toBe(0)
    // More tables than this thread keeps decoders for, read twice (the second pass after the first were dropped).
    const shapes = Array.from({ length: 300 }, (_, i) => ({ [`k${i}`]: i, shared: { x: i } }))
    const messages = shapes.map((shape) => encodeValue(shape))
    for (let pass = 0; pass < 2; pass++) messages.forEach((bytes, i) => expect(decodeValue(bytes, FLAGS)).toStrictEqual(shapes[i]))
  })

  it('encodeValue() round-trips values whose tables take more than 254 bytes (a 5-byte length) and more than 4 KiB, read twice', () => {
    const wide = (keys: number) => Object.fromEntries(Array.from({ length: keys }, (_, i) => [`key-number-${i}`, i]))
    for (const value of [wide(40), [wide(600), { inner: wide(3) }]]) {
      const bytes = encodeValue(value)
      expect(bytes[0]).toBe(0xff)
      for (let pass = 0; pass < 2; pass++) expect(decodeValue(bytes, FLAGS)).toStrictEqual(value)
    }
  })

  it('encodeValue() keeps objects and Maps apart in a value with more shapes than its table holds', () => {
    const value = Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? { [`k${i}`]: i, inner: new Map([[i, { [`m${i}`]: true }]]) } : new Map([[`k${i}`, i]])))
    for (let pass = 0; pass < 3; pass++) {
      const decoded = decodeValue(encodeValue(value), FLAGS) as unknown[]
      expect(decoded).toStrictEqual(value)
      decoded.forEach((item, i) => expect(item instanceof Map).toBe(i % 2 === 1))
    }
  })

  it('decodeValue() reads format version 1 bytes (records defined inline), which an earlier build wrote', () => {
    const v1 = new Packr({ useRecords: true, moreTypes: true, int64AsType: 'bigint' })
    const value = { id: 1, roles: ['a'], prefs: new Map([['k', { deep: 2n ** 70n }]]), seen: new Set([1]) }
    const flags = (1 << 8) | FLAG_RESURRECTED
    expect(isKnownFormat(flags)).toBe(true)
    for (let pass = 0; pass < 3; pass++) expect(decodeValue(v1.pack(value), flags)).toStrictEqual(value)
  })

  it('decodeValue() answers a table that is not an array of string arrays, or runs past the bytes, with DecodeError', () => {
    const body = encodeValue({ a: 1 }).subarray(1 + encodeValue({ a: 1 })[0]!)
    const framed = (table: Uint8Array) => Uint8Array.from([table.length, ...table, ...body])
    const plain = new Packr({ useRecords: false })
    for (const table of [[], [[1]], 'x', Array.from({ length: 33 }, () => ['a'])]) {
      expect(() => decodeValue(framed(plain.pack(table)), FLAGS)).toThrow(DecodeError)
    }
    expect(() => decodeValue(Uint8Array.of(5, 0x91, 0x91), FLAGS)).toThrow(DecodeError)
    expect(() => decodeValue(Uint8Array.of(0xff, 0, 0), FLAGS)).toThrow(DecodeError)
    expect(() => decodeValue(new Uint8Array(0), FLAGS)).toThrow(DecodeError)
  })

  it('encodeValue() round-trips arrays of objects of arbitrary shapes, Maps and Sets among them', () => {
    const item = fc.oneof(
      fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string(), fc.boolean()), { maxKeys: 5, noNullPrototype: true }),
      fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), fc.integer()), { maxLength: 4 }).map((entries) => new Map(entries)),
      fc.array(fc.integer(), { maxLength: 4 }).map((items) => new Set(items)),
    )
    fc.assert(
      fc.property(fc.array(fc.oneof(item, fc.dictionary(fc.string({ maxLength: 4 }), item, { maxKeys: 3, noNullPrototype: true })), { maxLength: 60 }), (value) => {
        expect(roundTrip(value)).toStrictEqual(value)
      }),
      { numRuns: 200 },
    )
  })

  it('encodeValue() rejects functions, symbols and cycles with EncodeError carrying the key', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const value of [() => 1, { nested: { fn() {} } }, Symbol('s'), [Symbol('s')], cyclic]) {
      const attempt = () => encodeValue(value, 'the-key')
      expect(attempt).toThrow(EncodeError)
      try {
        attempt()
      } catch (error) {
        expect((error as EncodeError).code).toBe('E_ENCODE')
        expect((error as EncodeError).key).toBe('the-key')
      }
    }
  })

  it('encodeValue() encodes null and undefined as empty bytes; decodeValue() reads a negative entry as undefined', () => {
    expect(encodeValue(null)).toHaveLength(0)
    expect(encodeValue(undefined)).toHaveLength(0)
    expect(decodeValue(new Uint8Array(0), entryFlags(true, false))).toBeUndefined()
  })

  it('entryFlags() carries the negative and resurrected bits beside the format version', () => {
    const flags = entryFlags(true, true)
    expect(flags & FLAG_NEGATIVE).toBe(FLAG_NEGATIVE)
    expect(flags & FLAG_RESURRECTED).toBe(FLAG_RESURRECTED)
    expect(isKnownFormat(flags)).toBe(true)
    expect(isKnownFormat(0)).toBe(false)
  })

  it('decodeValue() rejects an unknown format version with DecodeError', () => {
    expect(() => decodeValue(encodeValue('x'), 0x7f00, 'k')).toThrow(DecodeError)
  })

  it('decodeValue() answers corrupt bytes with DecodeError or a value, never another exception', () => {
    const valid = encodeValue({ name: 'alice', tags: ['a', 'b'], n: 12345678901 })
    fc.assert(
      fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), fc.boolean(), (at, byte, truncate) => {
        const bytes = truncate ? valid.slice(0, at) : Uint8Array.from(valid)
        if (!truncate) bytes[at] = byte
        try {
          decodeValue(bytes, FLAGS)
        } catch (error) {
          expect(error).toBeInstanceOf(DecodeError)
        }
      }),
      { numRuns: 500 },
    )
  })

  it('encodeValue() round-trips arbitrary JSON-like values, but for a nested -0 and own __proto__ keys', () => {
    // msgpackr writes a nested -0 as the integer 0, and decodes an own
    // `__proto__` key as `__proto_` (its guard against prototype pollution).
    const expected = (value: unknown): unknown => {
      if (Object.is(value, -0)) return 0
      if (Array.isArray(value)) return value.map(expected)
      if (typeof value === 'object' && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k === '__proto__' ? '__proto_' : k, expected(v)]))
      }
      return value
    }
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        if (value === null) return
        expect(roundTrip(value)).toStrictEqual(Object.is(value, -0) ? -0 : expected(value))
      }),
      { numRuns: 300 },
    )
  })

  it('encodeValue() turns an own __proto__ key into __proto_ and never pollutes a prototype', () => {
    const decoded = roundTrip(JSON.parse('{"__proto__": {"polluted": true}, "a": 1}')) as Record<string, unknown>
    expect(decoded).toStrictEqual({ __proto_: { polluted: true }, a: 1 })
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('codec on corrupt input', () => {
  it('decodeValue() rejects the never-used msgpack byte 0xc1 with DecodeError', () => {
    expect(() => decodeValue(Uint8Array.of(0xc1), FLAGS)).toThrow(DecodeError)
  })
})

describe('codec decoding buffers', () => {
  it('decodeValue() returns binary values that do not alias its scratch buffer', () => {
    const first = decodeValue(encodeValue({ bytes: Uint8Array.of(1, 2, 3), buffer: Buffer.from('abc') }), FLAGS) as { bytes: Uint8Array; buffer: Buffer }
    decodeValue(encodeValue({ bytes: Uint8Array.of(9, 9, 9), buffer: Buffer.from('zzz') }), FLAGS)
    expect(first.bytes).toStrictEqual(Uint8Array.of(1, 2, 3))
    expect(first.buffer.toString()).toBe('abc')
  })

  it('decodeValueAt() decodes bytes where they lie in a larger buffer, format 2 and format 1, and leaves the buffer as it was', () => {
    const value = { id: 7, tags: ['a', 'b'], at: new Date(0), blob: Uint8Array.of(5, 6) }
    const v1 = new Packr({ useRecords: true, moreTypes: true, int64AsType: 'bigint' }).pack(value)
    for (const [bytes, flags] of [[encodeValue(value), FLAGS], [v1, 1 << 8]] as const) {
      const source = Buffer.alloc(bytes.length + 20, 0xee)
      source.set(bytes, 11)
      const before = Buffer.from(source)
      const decoded = decodeValueAt(source, 11, 11 + bytes.length, flags) as typeof value
      expect(decoded).toStrictEqual(value)
      source.fill(0)
      expect(decoded.blob).toStrictEqual(Uint8Array.of(5, 6))
      source.set(before)
      expect(() => decodeValueAt(source, 11, 11 + bytes.length - 3, flags, 'k')).toThrow(DecodeError)
    }
    expect(decodeValueAt(Buffer.alloc(4), 2, 2, FLAGS | FLAG_NEGATIVE)).toBeUndefined()
    expect(() => decodeValueAt(Buffer.alloc(4), 2, 2, FLAGS)).toThrow(DecodeError)
  })

  it('decodeValue() tells apart tables of one length that differ in one byte only, first, middle or last, at any length', () => {
    for (let extra = 0; extra < 8; extra++) {
      const name = 'k'.repeat(extra + 1)
      // One key changed at its first, middle or last character: the tables differ in one byte.
      const shapes = ['a', 'm', 'z'].flatMap((c) => [c + name, name + c, name.slice(0, 1) + c + name.slice(1)])
      const values = shapes.map((key, i) => ({ first: i, [key]: i }))
      for (let pass = 0; pass < 2; pass++) {
        for (const value of values) expect(decodeValue(encodeValue(value), FLAGS)).toStrictEqual(value)
      }
    }
  })

  it('decodeValue() decodes values larger than its scratch buffer', () => {
    const big = { text: 'x'.repeat(200_000), list: Array.from({ length: 1_000 }, (_, i) => i) }
    expect(decodeValue(encodeValue(big), FLAGS)).toStrictEqual(big)
  })
})
