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
/**
 * The format version this build writes, kept in bits 8 to 15 of the flags.
 * 2: the record structures of a value lead its bytes (see {@link encodeValue}).
 * 1: plain msgpackr records, each definition inline where first used; still read.
 */
const FORMAT_VERSION = 2
const LEGACY_VERSION = 1
const VERSION_SHIFT = 8
const VERSION_MASK = 0xff << VERSION_SHIFT
const VERSION_BITS = FORMAT_VERSION << VERSION_SHIFT
const LEGACY_BITS = LEGACY_VERSION << VERSION_SHIFT

/** Builds the flags of an entry written by this build. */
export function entryFlags(negative: boolean, resurrected: boolean): number {
  return VERSION_BITS | (negative ? FLAG_NEGATIVE : 0) | (resurrected ? FLAG_RESURRECTED : 0)
}

/** Whether `flags` were written by a format this build can read. */
export function isKnownFormat(flags: number): boolean {
  const version = flags & VERSION_MASK
  return version === VERSION_BITS || version === LEGACY_BITS
}

/** The bytes of a value with no structures: an empty table (0), then the msgpack of `-0`. */
const NEGATIVE_ZERO = Uint8Array.of(0, 0xcb, 0x80, 0, 0, 0, 0, 0, 0, 0)
const EMPTY = new Uint8Array(0)

function rejectFunction(): never {
  throw new TypeError('functions cannot be cached')
}

/**
 * The most record structures a value's table holds: msgpackr's one-byte
 * shared ids (0x40 to 0x5f). A value with more shapes than that has the
 * others defined inline where first used, as msgpackr does without a table
 * (its own ids, 0x60 to 0x7f, also one byte).
 */
const MAX_TABLE_STRUCTURES = 32
const MAX_INLINE_STRUCTURES = 32

/** The first byte of a table longer than this is 0xff, followed by its length as a big-endian uint32. */
const SHORT_TABLE_BYTES = 0xfe
const LONG_TABLE = 0xff

/**
 * One encoder per thread. Records (`useRecords`) keep plain objects apart
 * from `Map`s, which decode as `Map` thanks to `mapsAsObjects: false`.
 * Each value is encoded against a fresh structure table (the table is
 * reset before every value), so the ids it uses are numbered by first use
 * within the value alone: the same shapes give the same table, byte for
 * byte, in every thread and process. `moreTypes` adds `Set` and typed
 * arrays. msgpackr would silently write functions as nil;
 * `writeFunction` turns that into an error instead.
 */
const packr = new Packr({
  structures: [],
  maxSharedStructures: MAX_TABLE_STRUCTURES,
  maxOwnStructures: MAX_INLINE_STRUCTURES,
  moreTypes: true,
  int64AsType: 'bigint',
  writeFunction: rejectFunction,
})
/** msgpackr keeps the table of the last value here; reset before each. */
const packrTable = packr as unknown as { structures: string[][] }
/** Writes the tables: arrays of strings, nothing else. */
const tablePackr = new Packr({ useRecords: false })

const DECODER_OPTIONS = {
  moreTypes: true,
  mapsAsObjects: false,
  int64AsType: 'bigint',
  // Decoding reads from a reused scratch buffer: binary values must be copies.
  copyBuffers: true,
} as const
/**
 * Decodes what has no table: version 1 bytes (their definitions are inline),
 * the body of a value without records, and the tables themselves. It is not
 * a record-writing instance, so it skips the per-message structure
 * bookkeeping one does on every decode.
 */
const plainUnpackr = new Unpackr(DECODER_OPTIONS)

/**
 * A decoder per table seen, keyed by the table's bytes (as latin1): every
 * value of a shape is decoded by the same instance, whose structures keep
 * the readers msgpackr compiles for them after their first uses, instead of
 * reading the definition again and building an object key by key on every
 * hit. Bounded: the oldest table goes first; a table longer than
 * {@link MAX_CACHED_TABLE_BYTES} gets a decoder for that value alone.
 */
const tableDecoders = new Map<string, Unpackr>()
const MAX_TABLE_DECODERS = 256
const MAX_CACHED_TABLE_BYTES = 4096

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
 * Encodes a value for L2: the value's record structures (the key lists of
 * its plain objects, numbered by first use, as a msgpack array of arrays of
 * strings), then the value (msgpack, its objects as records referring to
 * them). The first byte is the table's length, or 0xff and four bytes of
 * it; 0 when the value holds no plain object. The bytes describe
 * themselves: any thread or process decodes them with nothing shared with
 * the encoder. `undefined` and `null` (a negative entry) encode
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
    packrTable.structures = []
    const body = packr.pack(value)
    const bytes = frame(packrTable.structures, body)
    encoderBytes = body.buffer.byteLength
    if (encoderBytes > MAX_RETAINED_BYTES) shrinkEncoderBuffer()
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

/** The size of the buffer the last value was encoded into. */
let encoderBytes = 0

/**
 * @internal The size of the encoder's buffer the last value was written
 * into: after a huge value, at most {@link MAX_RETAINED_BYTES} (for tests).
 */
export function encoderBufferBytes(): number {
  return encoderBytes
}

/** The bytes of {@link encodeValue}: the table's length, the table, then `body`. */
function frame(table: readonly string[][], body: Uint8Array): Uint8Array {
  // Copied now: the table packr writes into a buffer it reuses, and `body` views the encoder's.
  const header = table.length === 0 ? EMPTY : tablePackr.pack(table)
  const prefix = header.length <= SHORT_TABLE_BYTES ? 1 : 5
  // A pooled Buffer: carved from a shared slab when small, as the encoder's own output was.
  const bytes = Buffer.allocUnsafe(prefix + header.length + body.length)
  if (prefix === 1) {
    bytes[0] = header.length
  } else {
    bytes[0] = LONG_TABLE
    bytes.writeUInt32BE(header.length, 1)
  }
  bytes.set(header, prefix)
  bytes.set(body, prefix + header.length)
  return bytes
}

/**
 * Decodes bytes written by {@link encodeValue} with `flags`.
 * @throws {DecodeError} unknown format version or corrupt bytes
 */
export function decodeValue(bytes: Uint8Array, flags: number, key?: string): unknown {
  if (bytes.length <= SCRATCH_BYTES) {
    scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES)
    scratch.set(bytes)
    return decodeValueAt(scratch, 0, bytes.length, flags, key)
  }
  try {
    return decodeValueAt(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), 0, bytes.length, flags, key)
  } finally {
    // msgpackr keeps its last source (and the strings read from it) until the next decode:
    // a quiet thread would hold a huge value's bytes and text for good. A 1-byte decode lets go,
    // and the view of the source the table comparison keeps goes too.
    plainUnpackr.unpack(RELEASE)
    viewedSource = undefined
    sourceView = EMPTY_VIEW
  }
}

/**
 * {@link decodeValue} of `source[start .. end)` where it is, without a copy:
 * for bytes a store lends until its next read (see `ValueStore.readEntryInto`).
 * Nothing decoded views `source`: binary values are copies.
 * @throws {DecodeError} unknown format version or corrupt bytes
 */
export function decodeValueAt(source: Buffer, start: number, end: number, flags: number, key?: string): unknown {
  if (!isKnownFormat(flags)) {
    throw new DecodeError(`entry of key '${key ?? ''}' has an unknown format version`, key === undefined ? {} : { key })
  }
  if ((flags & FLAG_NEGATIVE) !== 0) return undefined
  try {
    let value: unknown
    if ((flags & VERSION_MASK) === LEGACY_BITS) {
      range.start = start
      range.end = end
      value = plainUnpackr.unpack(source, range)
    } else {
      value = decodeFramed(source, start, end)
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

/** Node's `Buffer` with its native latin1 slicer (undocumented; msgpackr uses it too): no encoding lookup. */
interface LatinSlicing extends Buffer {
  latin1Slice(start: number, end: number): string
}

/** Decodes `source[start .. end)`, bytes of {@link encodeValue}, with the decoder of their table. */
function decodeFramed(source: Buffer, start: number, end: number): unknown {
  if (end <= start) throw new RangeError('no bytes')
  let length = source[start]!
  let tableStart = start + 1
  if (length === LONG_TABLE) {
    if (end - start < 5) throw new RangeError('truncated table length')
    length = source.readUInt32BE(start + 1)
    tableStart = start + 5
  }
  const bodyStart = tableStart + length
  if (bodyStart >= end) throw new RangeError('the table runs past the end of the bytes')
  range.start = bodyStart
  range.end = end
  if (length === 0) return plainUnpackr.unpack(source, range)
  return decoderOf(source, tableStart, bodyStart).unpack(source, range)
}

/** The part of the source msgpackr decodes, reused by every decode (msgpackr reads it at once and keeps nothing). */
const range = { start: 0, end: 0 }

/** The table of the last decoded value and its decoder: consecutive values of one shape skip the lookup. */
const EMPTY_VIEW: DataView = new DataView(new ArrayBuffer(0))
let lastTable = EMPTY_VIEW
let lastDecoder: Unpackr | undefined
/** A view of the last source buffer (decodes come from a few long-lived buffers; a large value's is dropped after it). */
let sourceView = EMPTY_VIEW
let viewedSource: Buffer | undefined

/** The decoder of the table `source[start .. end)`: the last one, a cached one, or a new one. */
function decoderOf(source: Buffer, start: number, end: number): Unpackr {
  const length = end - start
  if (lastTable.byteLength === length && lastDecoder !== undefined) {
    if (source !== viewedSource) {
      sourceView = new DataView(source.buffer, source.byteOffset, source.length)
      viewedSource = source
    }
    if (sameBytes(sourceView, start, lastTable, length)) return lastDecoder
  }
  if (length > MAX_CACHED_TABLE_BYTES) return new Unpackr({ ...DECODER_OPTIONS, structures: readTable(source, start, end) })
  const id = (source as LatinSlicing).latin1Slice(start, end)
  let decoder = tableDecoders.get(id)
  if (decoder === undefined) {
    decoder = new Unpackr({ ...DECODER_OPTIONS, structures: readTable(source, start, end) })
    if (tableDecoders.size >= MAX_TABLE_DECODERS) tableDecoders.delete(tableDecoders.keys().next().value as string)
    tableDecoders.set(id, decoder)
  }
  const table = new Uint8Array(length)
  table.set(source.subarray(start, end))
  lastTable = new DataView(table.buffer)
  lastDecoder = decoder
  return decoder
}

/** Whether `view[start .. start + length)` holds the bytes of `bytes`: four at a time (a table is tens of bytes). */
function sameBytes(view: DataView, start: number, bytes: DataView, length: number): boolean {
  let i = 0
  for (; i <= length - 4; i += 4) if (view.getInt32(start + i) !== bytes.getInt32(i)) return false
  for (; i < length; i++) if (view.getUint8(start + i) !== bytes.getUint8(i)) return false
  return true
}

/** Reads and checks a table: at most 32 structures, each an array of strings. */
function readTable(source: Buffer, start: number, end: number): string[][] {
  const table: unknown = plainUnpackr.unpack(source, { start, end })
  if (!Array.isArray(table) || table.length === 0 || table.length > MAX_TABLE_STRUCTURES) throw new RangeError('malformed structure table')
  for (const keys of table) {
    if (!Array.isArray(keys) || !keys.every((key) => typeof key === 'string')) throw new RangeError('malformed structure table')
  }
  return table as string[][]
}
