/**
 * White-box access to a SharedDict's shared structures, for tests: a walker
 * that decodes every block ({@link inspectSharedDict}) and the structural
 * checker ({@link checkSharedDictInvariants}) run after every dict test
 * (the idea of Caffeine's CacheValidationInterceptor).
 *
 * Both read the buffer through `dict.handle` without taking the mutex: call
 * them only while no thread is inside a dict operation.
 */

import { sizeClass } from './arena.js'
import { hashBytes } from './hash-index.js'
import {
  B_FREE_NEXT,
  B_FREE_PREV,
  DictViews,
  E_BUCKET_NEXT,
  E_ENTRY_FLAGS,
  E_EXPIRES_AT,
  E_HASH,
  E_KEY,
  E_KEY_LEN,
  E_LRU_NEXT,
  E_LRU_PREV,
  E_USER_FLAGS,
  E_VALUE_LEN,
  E_VALUE_TYPE,
  EF_KEEP_STALE,
  EF_PINNED,
  EF_REVOKED,
  entryBlockBytes,
  FL_COUNT,
  H_ARENA_BYTES,
  H_ARENA_OFF,
  H_BUCKET_COUNT,
  H_BUCKETS_OFF,
  H_ENTRIES,
  H_FL_BITMAP,
  H_FREE_BYTES,
  H_FREE_HEADS,
  H_LRU_HEAD,
  H_LRU_TAIL,
  H_MAGIC,
  H_MUTATING,
  H_MUTEX,
  H_SEQ,
  H_SEED,
  H_SL_BITMAPS,
  H_USED_BYTES,
  H_VERSION,
  LAYOUT_VERSION,
  MAGIC,
  MIN_BLOCK_UNITS,
  RECORD_OWNER,
  SL_LOG2,
  TAG_PREV_USED,
  TAG_USED,
  VT_BOOLEAN,
  VT_BYTES,
  VT_NUMBER,
  VT_STRING,
} from './layout.js'
import type { SharedDict } from './shared-dict.js'

/** One entry as stored, decoded by {@link inspectSharedDict}. */
export interface InspectedEntry {
  /** Unit offset of the entry's block. */
  readonly offset: number
  /** Bytes of the block (header, key, value, padding). */
  readonly blockBytes: number
  /** The key (for L2Store entries, the internal namespaced key). */
  readonly key: string
  /** Whether this is a pinned entry (a loader lock or a record, outside the LRU). */
  readonly pinned: boolean
  /** For a lock: whether its fence is void (a write, delete or purge of its key happened since it was taken). */
  readonly revoked: boolean
  /** Value type tag: 1 boolean, 3 number, 4 string, 6 bytes. */
  readonly valueType: number
  /** The value, decoded by type (bytes as a copy). */
  readonly value: string | number | boolean | Uint8Array
  /** Value length in bytes. */
  readonly valueLength: number
  /** User flags: for a lock, its owner's thread id; for a record, `RECORD_OWNER`. */
  readonly flags: number
  /** Absolute expiry in ms, 0 = never: on the dict clock for a value, on real time (a lease) for a lock. */
  readonly expiresAt: number
}

/** The decoded structures of a dict. */
export interface InspectedDict {
  /** Every used block, in address order. */
  readonly entries: InspectedEntry[]
  /** Keys of the LRU list, most recently used first. */
  readonly lru: string[]
  /** Sizes in bytes of the free blocks, in address order. */
  readonly freeBlocks: number[]
}

function bad(message: string): never {
  throw new Error(`SharedDict invariant violated: ${message}`)
}

function decodeValue(views: DictViews, type: number, start: number, length: number): InspectedEntry['value'] {
  switch (type) {
    case VT_STRING:
      return views.buf.toString('utf8', start, start + length)
    case VT_NUMBER:
      return views.dv.getFloat64(start, true)
    case VT_BOOLEAN:
      return views.u8[start] !== 0
    default:
      return views.u8.slice(start, start + length)
  }
}

function readEntry(views: DictViews, p: number, blockBytes: number): InspectedEntry {
  const { u32, u8, f64 } = views
  const at = p * 8
  const keyLength = u32[(p << 1) + E_KEY_LEN]!
  const valueLength = u32[(p << 1) + E_VALUE_LEN]!
  const valueType = u8[at + E_VALUE_TYPE]!
  return {
    offset: p,
    blockBytes,
    key: views.buf.toString('utf8', at + E_KEY, at + E_KEY + keyLength),
    pinned: (u8[at + E_ENTRY_FLAGS]! & EF_PINNED) !== 0,
    revoked: (u8[at + E_ENTRY_FLAGS]! & EF_REVOKED) !== 0,
    valueType,
    value: decodeValue(views, valueType, at + E_KEY + keyLength, valueLength),
    valueLength,
    flags: u32[(p << 1) + E_USER_FLAGS]!,
    expiresAt: f64[p + E_EXPIRES_AT]!,
  }
}

/**
 * Decodes every block of `dict` and its LRU order, without taking the mutex
 * and without touching anything. For tests that assert on the exact
 * contents (model tests, LRU order) rather than through the API.
 */
export function inspectSharedDict(dict: SharedDict): InspectedDict {
  const views = new DictViews(dict.handle.buffer)
  const { u32 } = views
  const start = u32[H_ARENA_OFF]! / 8
  const end = start + u32[H_ARENA_BYTES]! / 8
  const entries: InspectedEntry[] = []
  const freeBlocks: number[] = []
  const byOffset = new Map<number, InspectedEntry>()
  for (let p = start; p < end; ) {
    const tag = u32[p << 1]!
    const units = tag >>> 2
    if (units < MIN_BLOCK_UNITS || p + units > end) bad(`block at unit ${p} has size ${units} units`)
    if ((tag & TAG_USED) !== 0) {
      const entry = readEntry(views, p, units * 8)
      entries.push(entry)
      byOffset.set(p, entry)
    } else {
      freeBlocks.push(units * 8)
    }
    p += units
  }
  const lru: string[] = []
  for (let p = u32[H_LRU_HEAD]!; p !== 0; p = u32[(p << 1) + E_LRU_NEXT]!) {
    const entry = byOffset.get(p) ?? bad(`LRU node at unit ${p} is not a used block`)
    lru.push(entry.key)
    if (lru.length > entries.length) bad('the LRU list has a cycle')
  }
  return { entries, lru, freeBlocks }
}

/**
 * Walks the shared structures of `dict` and throws an `Error` describing
 * the first violation: the mutex is free and no mutation is marked in
 * progress; blocks tile the arena exactly, boundary tags agree, no two free
 * blocks are adjacent, and the used/free byte counters add up to the arena;
 * every free block is in the list of its size class and the bitmaps match
 * the lists; every entry is reachable from exactly its bucket, with the
 * right hash and no duplicate key; the LRU list is consistent both ways and
 * holds exactly the unpinned entries; a record never expires; the entry
 * counter matches.
 *
 * Read-only and lock-free: call it only while no thread is inside a dict
 * operation (e.g. in `afterEach`).
 */
export function checkSharedDictInvariants(dict: SharedDict): void {
  const views = new DictViews(dict.handle.buffer)
  const { i32, u32, u8, f64 } = views
  if (Atomics.load(i32, H_MAGIC) !== MAGIC || u32[H_VERSION] !== LAYOUT_VERSION) bad('bad magic or layout version')
  const mutex = Atomics.load(i32, H_MUTEX)
  if (mutex !== 0) bad(`the mutex is held (word ${mutex})`)
  const mutating = Atomics.load(i32, H_MUTATING)
  if (mutating !== 0) bad(`a mutation is marked in progress (word ${mutating})`)
  const seq = Atomics.load(i32, H_SEQ)
  if ((seq & 1) !== 0) bad(`the sequence word is odd (${seq}): lock-free reads would wait for a mutation that is not running`)

  // Physical walk: tiling, boundary tags, coalescing, counters.
  const start = u32[H_ARENA_OFF]! / 8
  const end = start + u32[H_ARENA_BYTES]! / 8
  const used = new Set<number>()
  const free = new Set<number>()
  let usedBytes = 0
  let freeBytes = 0
  let previousUsed = true
  for (let p = start; p < end; ) {
    const tag = u32[p << 1]!
    const units = tag >>> 2
    if (units < MIN_BLOCK_UNITS || p + units > end) bad(`block at unit ${p} has size ${units} units`)
    if (((tag & TAG_PREV_USED) !== 0) !== previousUsed) bad(`block at unit ${p} has a wrong PREV_USED bit`)
    const isUsed = (tag & TAG_USED) !== 0
    if (isUsed) {
      used.add(p)
      usedBytes += units * 8
      const keyLength = u32[(p << 1) + E_KEY_LEN]!
      const valueLength = u32[(p << 1) + E_VALUE_LEN]!
      const needed = entryBlockBytes(keyLength, valueLength)
      if (needed > units * 8 || units * 8 - needed >= MIN_BLOCK_UNITS * 8) {
        bad(`entry at unit ${p} has a ${units * 8}-byte block for ${needed} bytes`)
      }
      const type = u8[p * 8 + E_VALUE_TYPE]
      const fixed = type === VT_NUMBER ? 8 : type === VT_BOOLEAN ? 1 : undefined
      if ((type !== VT_STRING && type !== VT_BYTES && fixed === undefined) || (fixed !== undefined && fixed !== valueLength)) {
        bad(`entry at unit ${p} has value type ${type} with length ${valueLength}`)
      }
    } else {
      if (!previousUsed) bad(`free block at unit ${p} follows a free block (missed coalescing)`)
      if (u32[((p + units) << 1) - 1] !== units) bad(`free block at unit ${p} has a wrong footer`)
      free.add(p)
      freeBytes += units * 8
    }
    previousUsed = isUsed
    p += units
  }
  const arenaBytes = (end - start) * 8
  if (usedBytes + freeBytes !== arenaBytes) bad(`blocks cover ${usedBytes + freeBytes} of ${arenaBytes} arena bytes`)
  if (u32[H_USED_BYTES] !== usedBytes) bad(`usedBytes counter ${u32[H_USED_BYTES]}, blocks say ${usedBytes}`)
  if (u32[H_FREE_BYTES] !== freeBytes) bad(`freeBytes counter ${u32[H_FREE_BYTES]}, blocks say ${freeBytes}`)

  // Free lists and bitmaps.
  let listed = 0
  let flBitmap = 0
  for (let fl = 0; fl < FL_COUNT; fl++) {
    let slBitmap = 0
    for (let sl = 0; sl < 1 << SL_LOG2; sl++) {
      const cls = (fl << SL_LOG2) | sl
      let previous = 0
      for (let p = u32[H_FREE_HEADS + cls]!; p !== 0; p = u32[(p << 1) + B_FREE_NEXT]!) {
        if (!free.has(p)) bad(`free list ${cls} holds unit ${p}, which is not a free block`)
        if (sizeClass(u32[p << 1]! >>> 2) !== cls) bad(`free block at unit ${p} is in list ${cls}, not its class`)
        if (u32[(p << 1) + B_FREE_PREV] !== previous) bad(`free block at unit ${p} has a wrong prev link`)
        previous = p
        if (++listed > free.size) bad('a free list has a cycle or a block listed twice')
      }
      if (previous !== 0) slBitmap |= 1 << sl
    }
    if ((u32[H_SL_BITMAPS + fl]! | 0) !== slBitmap) bad(`second-level bitmap ${fl} does not match its lists`)
    if (slBitmap !== 0) flBitmap |= 1 << fl
  }
  if ((u32[H_FL_BITMAP]! | 0) !== flBitmap) bad('first-level bitmap does not match the lists')
  if (listed !== free.size) bad(`${free.size} free blocks but ${listed} in the free lists`)

  // Buckets: every entry exactly once, in the bucket of its hash, no duplicate key.
  const seed = u32[H_SEED]!
  const bucketBase = u32[H_BUCKETS_OFF]! / 4
  const bucketCount = u32[H_BUCKET_COUNT]!
  const reached = new Set<number>()
  const identities = new Set<string>()
  let pinnedCount = 0
  for (let bucket = 0; bucket < bucketCount; bucket++) {
    for (let p = u32[bucketBase + bucket]!; p !== 0; p = u32[(p << 1) + E_BUCKET_NEXT]!) {
      if (!used.has(p)) bad(`bucket ${bucket} holds unit ${p}, which is not a used block`)
      if (reached.has(p)) bad(`entry at unit ${p} is reachable twice from the buckets`)
      reached.add(p)
      const keyLength = u32[(p << 1) + E_KEY_LEN]!
      const keyStart = p * 8 + E_KEY
      const hash = hashBytes(u8.subarray(keyStart, keyStart + keyLength), keyLength, seed)
      if (u32[(p << 1) + E_HASH] !== hash) bad(`entry at unit ${p} has a wrong hash`)
      if ((hash & (bucketCount - 1)) !== bucket) bad(`entry at unit ${p} is in bucket ${bucket}, not its own`)
      const entryFlags = u8[p * 8 + E_ENTRY_FLAGS]!
      const pinned = (entryFlags & EF_PINNED) !== 0
      if ((entryFlags & ~(EF_PINNED | EF_REVOKED | EF_KEEP_STALE)) !== 0) bad(`entry at unit ${p} has unknown entry flags ${entryFlags}`)
      if ((entryFlags & EF_KEEP_STALE) !== 0 && pinned) bad(`lock at unit ${p} is marked keep-stale`)
      if ((entryFlags & EF_REVOKED) !== 0 && !pinned) bad(`value entry at unit ${p} is marked revoked`)
      if (pinned && u8[p * 8 + E_VALUE_TYPE] !== VT_STRING) bad(`lock at unit ${p} does not hold a string token`)
      if (pinned && u32[(p << 1) + E_USER_FLAGS] === RECORD_OWNER && f64[p + E_EXPIRES_AT] !== 0) {
        bad(`record at unit ${p} has an expiry`)
      }
      if (pinned) pinnedCount++
      const identity = `${pinned ? 'L' : 'V'}${views.buf.toString('hex', keyStart, keyStart + keyLength)}`
      if (identities.has(identity)) bad(`two entries have the key ${identity}`)
      identities.add(identity)
    }
  }
  if (reached.size !== used.size) bad(`${used.size} used blocks but ${reached.size} reachable from the buckets`)

  // LRU: consistent both ways, unpinned entries only, all of them.
  let lruLength = 0
  let previous = 0
  for (let p = u32[H_LRU_HEAD]!; p !== 0; p = u32[(p << 1) + E_LRU_NEXT]!) {
    if (!used.has(p)) bad(`LRU node at unit ${p} is not a used block`)
    if ((u8[p * 8 + E_ENTRY_FLAGS]! & EF_PINNED) !== 0) bad(`pinned entry at unit ${p} is in the LRU list`)
    if (u32[(p << 1) + E_LRU_PREV] !== previous) bad(`LRU node at unit ${p} has a wrong prev link`)
    previous = p
    if (++lruLength > used.size) bad('the LRU list has a cycle')
  }
  if (u32[H_LRU_TAIL] !== previous) bad(`LRU tail is unit ${u32[H_LRU_TAIL]}, the list ends at ${previous}`)
  if (lruLength + pinnedCount !== used.size) {
    bad(`${lruLength} LRU entries + ${pinnedCount} pinned entries != ${used.size} entries`)
  }
  if (u32[H_ENTRIES] !== used.size) bad(`entries counter ${u32[H_ENTRIES]}, blocks say ${used.size}`)
}
