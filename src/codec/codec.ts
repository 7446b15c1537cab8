/**
 * How MLCache encodes values for L2: msgpackr bytes plus uint32 flags that
 * carry the entry kind and a format version. This replaces upstream's text
 * envelope `"type:at:ttl:value"`, which lost numbers beyond 14 digits; as in
 * Kong's fork of mlcache, the TTL is the store's own and the flags say the
 * rest.
 */
import { C1, Packr, Unpackr } from 'msgpackr'
import { DecodeError, EncodeError } from '../errors.js'
import { describe } from '../internal/describe.js'
import { assertEncodable } from './value-check.js'

/** Flag bit: the entry was written back by a resurrection (served with `hitLevel 4`). */
export const FLAG_RESURRECTED = 0x1
/** Flag bit: a negative entry ("not found"); its bytes are empty. */
export const FLAG_NEGATIVE = 0x2
/** The format version this build writes, kept in bits 8 to 15 of the flags. */
const FORMAT_VERSION = 1
const VERSION_SHIFT = 8
const VERSION_MASK = 0xff << VERSION_SHIFT
const VERSION_BITS = FORMAT_VERSION << VERSION_SHIFT

/** Builds the flags of an entry written by this build. */
export function entryFlags(negative: boolean, resurrected: boolean): number {
  return VERSION_BITS | (negative ? FLAG_NEGATIVE : 0) | (resurrected ? FLAG_RESURRECTED : 0)
}

/** Whether `flags` were written by a format this build can read. */
export function isKnownFormat(flags: number): boolean {
  return (flags & VERSION_MASK) === VERSION_BITS
}

/** Marks the exact `-0` at the top level, which msgpackr would write as `0`. */
const NEGATIVE_ZERO = Uint8Array.of(0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0)
const EMPTY = new Uint8Array(0)

function rejectFunction(): never {
  throw new TypeError('functions cannot be cached')
}

/**
 * One encoder and one decoder per thread. Records (`useRecords`) keep plain
 * objects apart from `Map`s, which decode as `Map` thanks to
 * `mapsAsObjects: false`; record definitions travel inside each message (no
 * `structures` option), so any thread or process decodes the bytes with a
 * fresh instance. `moreTypes` adds `Set` and typed arrays. msgpackr would
 * silently write functions as nil; `writeFunction` turns that into an
 * error instead. The decoder is a separate Unpackr without `useRecords`: it
 * reads inline records all the same, and skips the per-message structure
 * bookkeeping a record-writing instance does on every decode (about 10% of
 * decoding a small object).
 */
const packr = new Packr({
  useRecords: true,
  moreTypes: true,
  int64AsType: 'bigint',
  writeFunction: rejectFunction,
})
const unpackr = new Unpackr({
  moreTypes: true,
  mapsAsObjects: false,
  int64AsType: 'bigint',
  // Decoding reads from a reused scratch buffer: binary values must be copies.
  copyBuffers: true,
})

/**
 * The largest scratch buffer the encoder keeps between values. msgpackr
 * writes every value into one buffer, grown to fit the largest value so far
 * and never shrunk: a single 50 M-character string left 179 MiB behind for
 * good. After a value that needed more, the encoder gets a fresh buffer of
 * msgpackr's own initial size; the bytes already handed out stay valid (they
 * view the old buffer, which goes once they do).
 */
const MAX_RETAINED_BYTES = 1024 * 1024
const FRESH_BUFFER_BYTES = 8192

/**
 * Bytes are decoded from this per-thread buffer rather than from the
 * store's fresh copy: msgpackr builds a DataView for every new source
 * buffer, which costs about a quarter of decoding a small object. Larger
 * values are decoded where they are.
 */
const SCRATCH_BYTES = 64 * 1024
let scratch: Buffer | undefined
/** A message holding only `nil`, decoded to make msgpackr drop a large source. */
const RELEASE = Uint8Array.of(0xc0)

/**
 * Encodes a value for L2. `undefined` and `null` (a negative entry) encode
 * to empty bytes. Values must come back exactly, on any thread: a string
 * that is not well-formed UTF-16 (a lone surrogate), anywhere in the value,
 * and nesting deeper than `MAX_DEPTH` (see value-check.ts) are refused.
 * @throws {EncodeError} the value holds a function, a symbol, a cycle, a lone surrogate or nests too deep
 */
export function encodeValue(value: unknown, key?: string): Uint8Array {
  if (value === undefined || value === null) return EMPTY
  if (Object.is(value, -0)) return NEGATIVE_ZERO
  try {
    assertEncodable(value)
    const bytes = packr.pack(value)
    if (bytes.buffer.byteLength > MAX_RETAINED_BYTES) shrinkEncoderBuffer()
    return bytes
  } catch (error) {
    // A value that failed midway may have grown the buffer all the same.
    shrinkEncoderBuffer()
    throw new EncodeError(
      `value of key '${key ?? ''}' cannot be encoded: ${describe(error)}`,
      key === undefined ? { cause: error } : { cause: error, key },
    )
  }
}

/** Hands the encoder a fresh, small buffer: msgpackr then drops its own (see {@link MAX_RETAINED_BYTES}). */
function shrinkEncoderBuffer(): void {
  packr.useBuffer(Buffer.allocUnsafeSlow(FRESH_BUFFER_BYTES))
}

/**
 * Decodes bytes written by {@link encodeValue} with `flags`.
 * @throws {DecodeError} unknown format version or corrupt bytes
 */
export function decodeValue(bytes: Uint8Array, flags: number, key?: string): unknown {
  if (!isKnownFormat(flags)) {
    throw new DecodeError(`entry of key '${key ?? ''}' has an unknown format version`, key === undefined ? {} : { key })
  }
  if ((flags & FLAG_NEGATIVE) !== 0) return undefined
  try {
    let value: unknown
    if (bytes.length <= SCRATCH_BYTES) {
      scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
      scratch.set(bytes)
      value = unpackr.unpack(scratch, bytes.length)
    } else {
      try {
        value = unpackr.unpack(bytes)
      } finally {
        // msgpackr keeps its last source (and the strings read from it) until the next decode:
        // a quiet thread would hold a huge value's bytes and text for good. A 1-byte decode lets go.
        unpackr.unpack(RELEASE)
      }
    }
    // msgpackr answers the never-used byte 0xc1 with a marker object instead of throwing.
    if (value === C1) throw new RangeError('unexpected byte 0xc1')
    return value
  } catch (error) {
    throw new DecodeError(
      `entry of key '${key ?? ''}' cannot be decoded`,
      key === undefined ? { cause: error } : { cause: error, key },
    )
  }
}
