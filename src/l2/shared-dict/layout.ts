/**
 * The byte layout of a SharedDict's SharedArrayBuffer. Every thread attached to a dict interprets the same bytes, so these
 * numbers are a wire format: any change must bump {@link LAYOUT_VERSION},
 * and `SharedDict.attach` refuses a buffer of another version.
 *
 * ```
 * [0 .. 4 KiB)              header (word indices below, hot words on separate 128-byte lines)
 * [4 KiB .. +4*nBuckets)    bucket heads: u32 entry offset in 8-byte units, 0 = empty
 * [arenaOff .. end & ~7)    arena of 8-byte-aligned blocks (entries and free blocks)
 * ```
 *
 * Block offsets ("pointers") are u32 counts of 8-byte units from the start of
 * the buffer; unit 0 lies in the header, so 0 doubles as "null".
 *
 * An entry is one block, like nginx's rbtree node + shdict node:
 * ```
 * +0 tag u32   +4 hash   +8 bucket next   +12 LRU prev   +16 LRU next   +20 user flags
 * +24 expiresAt f64   +32 value length u32   +36 key length u32
 * +40 value type u8   +41 entry flags u8   +42 key bytes, then value bytes, padded to 8
 * ```
 * (42 bytes of overhead, against nginx's ~68 plus power-of-two rounding). A
 * free block holds its tag, its free-list links at +4/+8 and its size again
 * in its last word (the boundary-tag footer).
 */

import { MIN_DICT_BYTES } from './size.js'

/** 'SHD1' read as a little-endian u32. */
export const MAGIC = 0x3144_4853

/**
 * Version of this layout; `attach` refuses any other. 3: the mutex word
 * carries a "supervised" bit (`robust-mutex.ts`), so a thread of an older
 * copy would misread who owns it. 4: the header names the dict
 * ({@link H_COPY_ID}). 5: every change to what a lookup reads is
 * bracketed by the sequence word {@link H_SEQ}, which lock-free readers
 * check, so a thread of an older copy would write under their feet.
 */
export const LAYOUT_VERSION = 5

/** Bytes reserved for the header. */
export const HEADER_BYTES = 4096

// ---- Header, line 0 (words 0..31): constants written once by `create`. ----

/** Word index: {@link MAGIC}, stored last by `create` (Atomics.store). */
export const H_MAGIC = 0
/** Word index: {@link LAYOUT_VERSION}. */
export const H_VERSION = 1
/** Word index: the buffer's byte length (u32). */
export const H_TOTAL_BYTES = 2
/** Word index: byte offset of the bucket array. */
export const H_BUCKETS_OFF = 3
/** Word index: number of buckets, a power of two. */
export const H_BUCKET_COUNT = 4
/** Word index: byte offset of the arena (a multiple of 8). */
export const H_ARENA_OFF = 5
/** Word index: byte length of the arena (a multiple of 8). */
export const H_ARENA_BYTES = 6
/** Word index: the random 32-bit hash seed of this dict. */
export const H_SEED = 7
/** Word index: 4 random words naming this dict among every dict of every process and host (`SharedDict.copyId`). */
export const H_COPY_ID = 8

// ---- Line 1 (words 32..63): the mutex alone, it is the hottest word. ----

/**
 * Word index of the dict mutex: `0` free, else `(ownerId << 1) | contended`
 * with `ownerId = worker_threads.threadId + 1` (nginx keeps the owner pid in
 * its `ngx_shmtx` lock word the same way).
 */
export const H_MUTEX = 32

// ---- Line 2 (words 64..95): recovery words. ----

/**
 * Word index: the lock-word value (`ownerId << 1`) of a thread in the middle
 * of a mutation, else 0. Stored right after the mutex is taken for a
 * mutating call and cleared right before it is released, so a thread killed
 * in between (`worker.terminate()` skips `finally` blocks) leaves it set:
 * whoever recovers the mutex then knows the structures may be half relinked.
 * An exception never leaves it set: the throwing thread empties the dict.
 */
export const H_MUTATING = 64
/** Word index: bumped by `flushAll` and by every recovery. */
export const H_GENERATION = 65
/**
 * Word index: bumped now and then by the owner of the mutex during a walk
 * over every entry (`keys`, `flushAll`...), which on a big dict may hold the
 * mutex longer than `ownerDeadAfter` (robust-mutex.ts): a waiter that sees
 * it move does not presume the owner dead. (A word reserved as zero before, so
 * the layout version is unchanged.)
 */
export const H_PROGRESS = 66

// ---- Line 3 (words 96..127): LRU ends and counters, only touched under the mutex. ----

/** Word index: most recently used entry (unit offset), 0 when empty. */
export const H_LRU_HEAD = 96
/** Word index: least recently used entry (unit offset), 0 when empty. */
export const H_LRU_TAIL = 97
/** Word index: number of entries, pinned (lock) entries included. */
export const H_ENTRIES = 98
/** Word index: bytes in used blocks. */
export const H_USED_BYTES = 99
/** Word index: bytes in free blocks. */
export const H_FREE_BYTES = 100
/** Float64 index (word 104): unexpired entries evicted to make room. */
export const F_FORCIBLE_EVICTIONS = 52
/** Float64 index (word 106): expired entries whose memory was reclaimed. */
export const F_EXPIRED_FREED = 53
/** Float64 index (word 108): operations that answered "no memory". */
export const F_NO_MEMORY = 54
/** Float64 index (word 110): times the dict was reinitialised after an interrupted mutation. */
export const F_RECOVERIES = 55

// ---- Lines 4+ (words 128..703): allocator (see arena.ts). ----

/** Word index of the first-level bitmap: bit `fl` set when some list of class `fl` is non-empty. */
export const H_FL_BITMAP = 128
/** Word index of the 32 second-level bitmaps (bit `sl` of word `fl`). */
export const H_SL_BITMAPS = 160
/** Word index of the free-list heads, `[fl * 16 + sl]`, 512 words. */
export const H_FREE_HEADS = 192
/** Number of first-level size classes the header has room for. */
export const FL_COUNT = 32
/** log2 of the number of second-level classes per first level. */
export const SL_LOG2 = 4

// ---- Line 22 (words 704..735): the sequence word alone, read twice by every lock-free read. ----

/**
 * Word index of the dict's sequence word (a seqlock): odd while a mutation
 * is changing what a lookup reads (buckets, entries, the arena), even
 * otherwise, and different after every such mutation. An L2Store read
 * (`DictCore.readEntryOptimistic`) reads it before and after its lookup
 * without taking the mutex, and trusts what it read only when both are the
 * same even value. Only the mutex holder writes it; a thread killed
 * mid-mutation leaves it odd, and the recovery that empties the dict makes
 * it even again. Moves of the LRU list alone do not change it: lock-free
 * readers never follow LRU links.
 */
export const H_SEQ = 704

// Every header word not named here (e.g. 736..767) is zero, reserved for later use by this layout.

/** Word index of the first of the 256 Int32 wait cells used by loader-lock waiters. */
export const H_WAIT_CELLS = 768
/** Number of wait cells; a lock key uses cell `hash & (WAIT_CELL_COUNT - 1)`. */
export const WAIT_CELL_COUNT = 256

// ---- Blocks. Word offsets are relative to `p << 1`, byte offsets to `p * 8`. ----

/** Word offset of the boundary tag: `units << 2 | TAG_USED? | TAG_PREV_USED?`. */
export const B_TAG = 0
/** Tag bit: this block is allocated. */
export const TAG_USED = 1
/** Tag bit: the physically previous block is allocated (or this is the first block). */
export const TAG_PREV_USED = 2
/** Word offset (free block): previous block in its free list. */
export const B_FREE_PREV = 1
/** Word offset (free block): next block in its free list. */
export const B_FREE_NEXT = 2
/**
 * The smallest block, in 8-byte units (48 bytes): an entry header plus one
 * key byte rounds up to it, and a split never leaves a smaller remainder.
 */
export const MIN_BLOCK_UNITS = 6

/** Word offset (entry): the key hash. */
export const E_HASH = 1
/** Word offset (entry): next entry in the bucket chain. */
export const E_BUCKET_NEXT = 2
/** Word offset (entry): LRU neighbour towards the head (more recent). */
export const E_LRU_PREV = 3
/** Word offset (entry): LRU neighbour towards the tail (less recent). */
export const E_LRU_NEXT = 4
/** Word offset (entry): the user flags (u32). */
export const E_USER_FLAGS = 5
/** Float64 offset from `p` (byte +24): absolute expiry in ms on the dict clock, 0 = never. */
export const E_EXPIRES_AT = 3
/** Word offset (entry): value length in bytes. */
export const E_VALUE_LEN = 8
/** Word offset (entry): key length in bytes (u32: namespaced internal keys may exceed 65535). */
export const E_KEY_LEN = 9
/** Byte offset (entry): value type tag (`VT_*`). */
export const E_VALUE_TYPE = 40
/** Byte offset (entry): entry flags (`EF_*`). */
export const E_ENTRY_FLAGS = 41
/** Byte offset (entry): the key bytes, followed by the value bytes. */
export const E_KEY = 42

/**
 * The owner slot (user flags) of a record (`SharedDict.writeRecord`): a
 * pinned entry like a loader lock, but owned by no thread. Thread ids are
 * small integers counted up from 0 by Node, never 2^32 − 1, so no
 * `reapThread` matches a record by its owner; `reapLocks` also skips it
 * explicitly, since `reapThread` accepts any integer.
 */
export const RECORD_OWNER = 0xffff_ffff

/** Entry flag: a pinned entry (a loader lock or a record), kept out of the LRU list. */
export const EF_PINNED = 1
/**
 * Entry flag of a lock: its fence is void (a write without a fence, a
 * delete or a purge of its key happened since it was taken), so no fenced
 * write with its token lands; the lock itself stays held.
 */
export const EF_REVOKED = 2
/**
 * Entry flag of a value written with a stale window (`staleTtl`): once
 * expired it stays readable as stale until its memory is needed. The pre-op
 * sweep passes it by; eviction under memory pressure (and `flushExpired`)
 * reclaims it as any other expired entry.
 */
export const EF_KEEP_STALE = 4

/** Value type tag of a boolean (one byte), as Lua's `LUA_TBOOLEAN`. */
export const VT_BOOLEAN = 1
/** Value type tag of a number (little-endian f64), as Lua's `LUA_TNUMBER`. */
export const VT_NUMBER = 3
/** Value type tag of a UTF-8 string, as Lua's `LUA_TSTRING`. */
export const VT_STRING = 4
/** Value type tag of raw bytes (a Uint8Array); Lua has no equivalent. */
export const VT_BYTES = 6

/** Bytes of one entry's block: header, key and value, rounded up to 8. */
export function entryBlockBytes(keyLength: number, valueLength: number): number {
  return Math.ceil((E_KEY + keyLength + valueLength) / 8) * 8
}

/** Where the regions of a dict of `totalBytes` bytes start and how large they are. */
interface DictGeometry {
  readonly bucketsOff: number
  readonly bucketCount: number
  readonly arenaOff: number
  readonly arenaBytes: number
}

/**
 * Computes the geometry for a new dict: `nextPow2(totalBytes / 256)`
 * buckets (at least 64: about one per 256 bytes of dict), then the arena.
 */
function computeGeometry(totalBytes: number): DictGeometry {
  let bucketCount = 64
  while (bucketCount * 256 < totalBytes) bucketCount *= 2
  const arenaOff = HEADER_BYTES + bucketCount * 4
  return { bucketsOff: HEADER_BYTES, bucketCount, arenaOff, arenaBytes: Math.floor((totalBytes - arenaOff) / 8) * 8 }
}

/**
 * Writes the constant header words of a new dict filling `buffer`, all but
 * the magic number ({@link publishHeader}).
 */
export function writeHeader(buffer: SharedArrayBuffer, seed: number, copyId: Uint32Array): void {
  const geometry = computeGeometry(buffer.byteLength)
  const header = new Uint32Array(buffer, 0, HEADER_BYTES / 4)
  header[H_VERSION] = LAYOUT_VERSION
  header[H_TOTAL_BYTES] = buffer.byteLength
  header[H_BUCKETS_OFF] = geometry.bucketsOff
  header[H_BUCKET_COUNT] = geometry.bucketCount
  header[H_ARENA_OFF] = geometry.arenaOff
  header[H_ARENA_BYTES] = geometry.arenaBytes
  header[H_SEED] = seed
  header.set(copyId.subarray(0, 4), H_COPY_ID)
}

/**
 * Stores the magic number, last, once the dict is initialised: a buffer
 * without it is never attached.
 */
export function publishHeader(buffer: SharedArrayBuffer): void {
  Atomics.store(new Int32Array(buffer, 0, 1), H_MAGIC, MAGIC)
}

/**
 * Throws unless `buffer` is a SharedArrayBuffer holding a dict of this
 * layout: the magic number, {@link LAYOUT_VERSION}, its own size and the
 * geometry that size gives.
 *
 * @throws {TypeError} `handle is not a SharedDict handle`, or
 *   `SharedDict layout version X, expected Y`.
 */
export function assertDictBuffer(buffer: unknown): asserts buffer is SharedArrayBuffer {
  const isShared = Object.prototype.toString.call(buffer) === '[object SharedArrayBuffer]'
  const shared = buffer as SharedArrayBuffer
  if (!isShared || shared.byteLength < MIN_DICT_BYTES) throw new TypeError('handle is not a SharedDict handle')
  const header = new Int32Array(shared, 0, HEADER_BYTES / 4)
  if (Atomics.load(header, H_MAGIC) !== MAGIC) throw new TypeError('handle is not a SharedDict handle')
  const version = header[H_VERSION]!
  if (version !== LAYOUT_VERSION) throw new TypeError(`SharedDict layout version ${version}, expected ${LAYOUT_VERSION}`)
  // Every geometry field must be what this size gives: a forged or damaged
  // header (zero buckets, an arena past the end) would otherwise attach and
  // loop or write out of place under the mutex.
  const geometry = computeGeometry(shared.byteLength)
  const fields = new Uint32Array(shared, 0, HEADER_BYTES / 4)
  if (
    fields[H_TOTAL_BYTES] !== shared.byteLength ||
    fields[H_BUCKETS_OFF] !== geometry.bucketsOff ||
    fields[H_BUCKET_COUNT] !== geometry.bucketCount ||
    fields[H_ARENA_OFF] !== geometry.arenaOff ||
    fields[H_ARENA_BYTES] !== geometry.arenaBytes
  ) {
    throw new TypeError('handle is not a SharedDict handle: its header does not match its size')
  }
}

/**
 * Node's `Buffer` with its native UTF-8 slicer, undocumented but present
 * since Node 0.x (msgpackr feature-tests its sibling `latin1Slice`): it skips
 * the encoding lookup of `toString('utf8', start, end)`, a third of the cost
 * of decoding a short string.
 */
export interface SlicingBuffer extends Buffer {
  utf8Slice(start: number, end: number): string
}

/** The typed views every module reads the buffer through (one set per attached instance). */
export class DictViews {
  /** For Atomics (mutex, recovery words, wait cells). */
  readonly i32: Int32Array
  /** For plain u32 fields, read and written under the mutex. */
  readonly u32: Uint32Array
  /** For `expiresAt` and the statistics counters. */
  readonly f64: Float64Array
  /** For key and value bytes. */
  readonly u8: Uint8Array
  /** For unaligned number values. */
  readonly dv: DataView
  /** For UTF-8 decoding straight from the buffer. */
  readonly buf: SlicingBuffer

  constructor(buffer: SharedArrayBuffer) {
    const bytes = buffer.byteLength
    this.i32 = new Int32Array(buffer, 0, Math.floor(bytes / 4))
    this.u32 = new Uint32Array(buffer, 0, Math.floor(bytes / 4))
    this.f64 = new Float64Array(buffer, 0, Math.floor(bytes / 8))
    this.u8 = new Uint8Array(buffer)
    this.dv = new DataView(buffer)
    this.buf = Buffer.from(buffer) as SlicingBuffer
  }
}
