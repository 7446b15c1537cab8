/**
 * The engine of SharedDict: the operations that run under the dict mutex,
 * ported from `ngx_http_lua_shdict.c` (its lookup, set, incr and expiry), plus the
 * encoding of the current call's key and value into scratch buffers, done
 * before the mutex is taken.
 *
 * `SharedDict` validates arguments, encodes, reads the clock, then brackets
 * one engine operation with {@link DictCore.enter} / {@link DictCore.leave}
 * and {@link DictCore.release}. Every operation here is synchronous, calls
 * no user code and allocates nothing but its answer.
 *
 * Entries are addressed by their block's unit offset `p`; lookups answer
 * `p` for a live entry, `-p` for an expired one and 0 for none.
 */

import type { EntryView, L2Entry, L2WriteResult, LockResult } from '../l2-store.js'
import { Arena } from './arena.js'
import { copyBytes } from './byte-pool.js'
import { finishHash, FNV_OFFSET, FNV_PRIME, HashIndex } from './hash-index.js'
import {
  DictViews,
  E_ENTRY_FLAGS,
  E_EXPIRES_AT,
  E_HASH,
  E_KEY,
  E_KEY_LEN,
  E_USER_FLAGS,
  E_VALUE_LEN,
  E_VALUE_TYPE,
  EF_KEEP_STALE,
  EF_PINNED,
  EF_REVOKED,
  entryBlockBytes,
  F_EXPIRED_FREED,
  F_FORCIBLE_EVICTIONS,
  F_NO_MEMORY,
  F_RECOVERIES,
  H_ENTRIES,
  H_FREE_BYTES,
  H_GENERATION,
  H_MUTATING,
  H_MUTEX,
  H_PROGRESS,
  H_SEED,
  H_SEQ,
  H_USED_BYTES,
  H_WAIT_CELLS,
  RECORD_OWNER,
  VT_BOOLEAN,
  VT_BYTES,
  VT_NUMBER,
  VT_STRING,
  WAIT_CELL_COUNT,
} from './layout.js'
import { Lru } from './lru.js'
import { acquireMutex, ownerOf, ownLockWord, releaseMutex, stealFromDead } from '../../internal/robust-mutex.js'
import { assertWellFormed } from '../../internal/validate.js'
import type {
  DictEntry,
  DictIncrResult,
  DictSetResult,
  DictStaleEntry,
  DictValue,
  SharedDictRecovery,
  SharedDictStats,
} from './types.js'
import { readUtf8, writeDecimal, writeUtf8 } from './utf8.js'
import { waitCellOf, wakeCell } from './wait-cells.js'

/** Store modes, as the flags of `ngx_http_lua_shdict_set_helper`. */
export const MODE_SET = 0
/** `add`: fail with "exists" on a live key. */
export const MODE_ADD = 1
/** `replace`: fail with "not found" on a missing or expired key. */
export const MODE_REPLACE = 2
/** `safe_*`: never evict (NGX_HTTP_LUA_SHDICT_SAFE_STORE). */
export const MODE_SAFE = 4

/** Forcible eviction rounds before "no memory", as in `ngx_http_lua_shdict_set_helper`. */
const EVICTION_ROUNDS = 30

/**
 * What `incr` answers, changing nothing, when the sum would not be finite
 * (nginx's doubles would store `inf`); `SharedDict.incr` throws a
 * RangeError for it after releasing the mutex.
 */
export const INCR_NOT_FINITE: DictIncrResult = Object.freeze({ forcible: false })

/** No pending value: a store deletes (Lua's `nil`). */
const VT_NONE = 0

/** Steps of a walk over every entry between two bumps of `H_PROGRESS`. */
const PROGRESS_STEPS = 4096

/** Copies up to this many bytes with a loop; `set()` of a subarray is cheaper beyond. */
const SMALL_COPY = 64

/**
 * Values longer than this many bytes are never allocated (nor decoded)
 * under the mutex: the read answers "retry with a buffer of n bytes", the
 * caller allocates it after releasing the mutex, and the retried read only
 * copies into it (a memcpy, no allocation, hence no GC pause) while the
 * mutex is held; a string is decoded after the release. This bounds how
 * long one read holds the mutex by a copy, whatever the value's size.
 */
export const LARGE_VALUE_BYTES = 1 << 20

/**
 * The buffer {@link DictCore.readEntryInto} lends its bytes in, one per
 * thread (every dict of the thread shares it), and the largest value it
 * takes: a larger one is read with a private copy instead.
 */
const LENT_BYTES = 64 * 1024
let lent: Buffer | undefined
let lentWords: Uint32Array | undefined

/**
 * The `now` of a read whose clock is `Date.now` and not read yet: the read
 * takes the time under the mutex if the entry it finds expires, and only
 * then. An entry that never expires (TTL 0, as Kong caches its declarative
 * configuration) is read without the clock, a fifth of a small read on a
 * machine whose clock is slow to read. Only a dict whose clock is `Date.now`
 * (captured when it was made, whatever replaces the global later) reads it
 * so: it cannot throw nor call back into the dict. An injected clock is
 * always read before the mutex.
 */
export const CLOCK_UNREAD = Number.NaN

/** {@link DictCore.readEntryInto}: the value is larger than the lent buffer; read it with `readEntry`. */
export const TOO_LARGE_TO_LEND = -1

/**
 * {@link DictCore.readEntryOptimistic}: the read found a mutation running,
 * or overlapped one, or found a value too large to lend; read under the
 * mutex instead.
 */
export const READ_CONTENDED = -2

/**
 * Whether L2Store reads run {@link DictCore.readEntryOptimistic} at all. A
 * seqlock needs the reader's loads of the data to stay between its two
 * loads of the sequence word, and the writer's stores of the data to stay
 * after its store of the odd value. JavaScript has no memory fence, but
 * x86's memory model keeps loads in order with loads and stores with
 * stores, V8 keeps typed-array accesses in program order around `Atomics`
 * calls, and its `Atomics.store` and `compareExchange` are full barriers
 * there. On other CPUs (ARM64 reorders plain loads past an acquiring one),
 * or with `MLCACHE_LOCKED_READS=1` in the environment when the module loads,
 * every L2Store read takes the mutex, as every other call does.
 */
export const LOCK_FREE_READS = (process.arch === 'x64' || process.arch === 'ia32') && process.env['MLCACHE_LOCKED_READS'] !== '1'

/**
 * How many uses a thread's lock-free reads record before it takes the mutex
 * to apply them to the LRU list (see {@link DictCore.readEntryOptimistic}):
 * one hold per 64 reads instead of one per read.
 */
const TOUCH_BATCH = 64

/** Value scratch up to this size is kept between calls; a larger one is dropped after its call. */
const SCRATCH_KEPT_BYTES = 64 * 1024

/** {@link DictCore.deferred}: the read needs a buffer of the size it found ({@link DictCore.allocateLarge}); run it again. */
export const DEFERRED_BUFFER = 1
/** {@link DictCore.deferred}: the answer's value is the UTF-8 bytes of a large string, to decode after the release. */
const DEFERRED_STRING = 2

/** Entries expiring at or before this instant were expired by a purge or a flush (see {@link pastExpiry}). */
const PURGED_BEFORE = 1

/**
 * The `expiresAt` that `flushAll` and `purgeNamespace` write: nginx writes
 * `1`, in the past on any real clock; an injected clock may start at 0, so
 * never write a time later than `now`, and never 0 ("never expires").
 */
function pastExpiry(now: number): number {
  return now > 1 ? 1 : Math.min(now, 0) - 1
}

/** Fills `view` for the value bytes at `start` in the dict, which `DictCore.#lend` just copied to the lent buffer. */
function fillView(view: EntryView, start: number, length: number, flags: number, expiresAt: number, now: number, stale: boolean): void {
  view.bytes = lent!
  view.start = start & 3
  view.end = (start & 3) + length
  view.flags = flags
  view.ttl = expiresAt === 0 ? 0 : expiresAt - now
  view.stale = stale
  // A purge expires entries at an instant no TTL reaches on a real clock (see pastExpiry).
  view.purged = expiresAt !== 0 && expiresAt <= PURGED_BEFORE
}

/** One thread's access to a dict's shared structures (the structures themselves are shared). */
export class DictCore {
  readonly #v: DictViews
  readonly #i32: Int32Array
  readonly #u32: Uint32Array
  readonly #f64: Float64Array
  readonly #u8: Uint8Array
  readonly #arena: Arena
  readonly #index: HashIndex
  readonly #lru: Lru
  readonly #seed: number
  readonly #onRecover: (recovery: SharedDictRecovery) => void
  readonly #ownerDeadAfter: number

  /** The lock word this thread holds the mutex with, while it does. */
  #held = 0
  /** Whether the current hold marked a mutation (`enter`, not `enterRead`). */
  #mutating = false
  /** Whether the last hold ended as it began: false when another thread took the mutex over meanwhile. */
  #intact = true

  /** The current key, UTF-8, with its length and hash. */
  #key = new Uint8Array(256)
  #keyLength = 0
  #keyHash = 0

  /** The namespace whose key prefix is staged (see #stagePrefix), its UTF-8 prefix, and the hash state after it. */
  #prefixOf: string | undefined
  #prefix = new Uint8Array(0)
  #prefixHash = 0
  readonly #clock: () => number
  /** The time of the last L2Store read and whether its entry expires (see {@link DictCore.#lookupEntry}). */
  #readNow = 0
  #lastEntryExpires = false
  /** The namespace whose prefix the staged key starts with: a key of the same namespace writes only what follows. */
  #keyPrefixOf: string | undefined

  /** The current value: type tag (`VT_NONE` deletes), byte length, and its bytes or number. */
  #valueType = VT_NONE
  #valueLength = 0
  #valueNumber = 0
  #valueScratch = new Uint8Array(256)
  #valueBytes: Uint8Array = this.#valueScratch

  /** The current fence: the UTF-8 token a fenced write presents, `-1` for none. */
  #fence = new Uint8Array(64)
  #fenceLength = -1

  /** The entry flags of the value the next store writes (`EF_KEEP_STALE` for an L2Store write with a stale window). */
  #valueEntryFlags = 0

  /** A large value's work left for after the release: 0, `DEFERRED_BUFFER` or `DEFERRED_STRING`. */
  #deferred = 0
  /** The size of buffer the last deferred read wants. */
  #wantedBytes = 0
  /** A buffer allocated outside the mutex for the next read of a large value. */
  #largeOut: Uint8Array | undefined

  /** Set by #alloc: whether the allocation evicted something. */
  #forcible = false

  /** Steps of long walks, counted by #step. */
  #steps = 0

  /** The odd value this thread made the sequence word for its mutation ({@link H_SEQ}), 0 when none is open. */
  #seqOdd = 0
  /**
   * Uses recorded by lock-free reads and not yet applied to the LRU list:
   * pairs of the entry's unit offset and the sequence word the read saw.
   */
  readonly #touches = new Int32Array(2 * TOUCH_BATCH)
  #touchCount = 0

  /**
   * `onRecover` is told about every recovery this instance performs, in a
   * microtask; `ownerDeadAfter` is how long, in real ms, this thread waits
   * behind an unsupervised owner that shows no progress before presuming it
   * dead (see `robust-mutex.ts`).
   */
  /**
   * @param clock - the dict's clock; read under the mutex (for a `now` of
   *   {@link CLOCK_UNREAD}) only when it is `Date.now`
   */
  constructor(views: DictViews, onRecover: (recovery: SharedDictRecovery) => void, ownerDeadAfter: number, clock: () => number) {
    this.#clock = clock
    this.#v = views
    this.#onRecover = onRecover
    this.#ownerDeadAfter = ownerDeadAfter
    this.#i32 = views.i32
    this.#u32 = views.u32
    this.#f64 = views.f64
    this.#u8 = views.u8
    this.#arena = new Arena(views)
    this.#index = new HashIndex(views)
    this.#lru = new Lru(views)
    this.#seed = views.u32[H_SEED]!
  }

  /** Hash of the current key (it picks the key's wait cell). */
  get keyHash(): number {
    return this.#keyHash
  }

  // ------------------------------------------------------------ the mutex

  /**
   * Takes the mutex for an operation that may mutate and marks the mutation
   * in progress (`H_MUTATING` = our lock word) until {@link DictCore.leave}:
   * a thread killed in between leaves the mark for whoever recovers the
   * dict. Memory order: the mark is stored after the acquiring CAS and
   * cleared before the releasing CAS, all sequentially consistent. The
   * sequence word ({@link H_SEQ}) is odd from here to `leave`.
   */
  enter(): void {
    this.enterToReorder()
    this.#openSeq()
  }

  /**
   * {@link DictCore.enter} for an operation that may move entries in the
   * LRU list but changes nothing a lookup reads (an L2Store read under the
   * mutex): the mutation mark without the sequence word, so lock-free reads
   * running meanwhile stand. Applies the uses this thread's lock-free reads
   * recorded first.
   */
  enterToReorder(): void {
    this.#acquire()
    this.#deferred = 0
    this.#mutating = true
    Atomics.store(this.#i32, H_MUTATING, this.#held)
    if (this.#touchCount !== 0) this.#applyTouches()
  }

  /**
   * Takes the mutex for an operation that only reads. Uses recorded by this
   * thread's lock-free reads are applied first, under the mutation mark, so
   * that what the operation sees (the LRU order of `keys`) is as if they had
   * been applied when read.
   */
  enterRead(): void {
    this.#acquire()
    this.#deferred = 0
    if (this.#touchCount === 0) return
    this.#mutating = true
    Atomics.store(this.#i32, H_MUTATING, this.#held)
    this.#applyTouches()
    this.leave()
  }

  /**
   * Clears the mutation mark: the operation completed (the mutex is still
   * held). CASes: if this thread was taken over, the mark and the sequence
   * word now belong to whoever holds the mutex.
   */
  leave(): void {
    this.#closeSeq()
    Atomics.compareExchange(this.#i32, H_MUTATING, this.#held, 0)
  }

  /** Whether lock-free reads recorded a full batch of uses: apply them (`enterToReorder`, `leave`, `release`). */
  get touchesDue(): boolean {
    return this.#touchCount === TOUCH_BATCH
  }

  /**
   * Makes the sequence word odd for a mutation (see {@link H_SEQ}). A word
   * already odd was left by a thread that died mid-mutation or was taken
   * over: it moves on by two, so that the late `#closeSeq` of a taken-over
   * thread, a CAS from the odd value it wrote, cannot land.
   */
  #openSeq(): void {
    if (this.#seqOdd !== 0) return
    const seq = Atomics.load(this.#i32, H_SEQ)
    this.#seqOdd = (seq + ((seq & 1) === 0 ? 1 : 2)) | 0
    Atomics.store(this.#i32, H_SEQ, this.#seqOdd)
  }

  /** Makes the sequence word even again after this thread's mutation, unless someone took it over meanwhile. */
  #closeSeq(): void {
    if (this.#seqOdd === 0) return
    Atomics.compareExchange(this.#i32, H_SEQ, this.#seqOdd, (this.#seqOdd + 1) | 0)
    this.#seqOdd = 0
  }

  /**
   * Moves the entries of the uses lock-free reads recorded to the head of
   * the LRU list, in the order read (mutex held). A use recorded when the
   * sequence word was what it is now is of an entry nothing has freed
   * since; any other is checked to still be a value entry first, and
   * dropped if not. Uses are hints: one dropped only makes the LRU order
   * approximate across threads, never the structures inconsistent.
   */
  #applyTouches(): void {
    const touches = this.#touches
    const count = this.#touchCount
    this.#touchCount = 0
    const seq = Atomics.load(this.#i32, H_SEQ)
    for (let i = 0; i < 2 * count; i += 2) {
      const p = touches[i]!
      if (touches[i + 1] === seq || this.#index.holdsValueEntry(p)) this.#lru.touch(p)
    }
  }

  /**
   * Releases the mutex; also drops the reference to the caller's value
   * bytes (unless the operation must run again). If another thread presumed this one dead and took the mutex over
   * during the hold (only possible for a thread without a supervisor,
   * paused longer than `ownerDeadAfter`), releases nothing and sets
   * {@link DictCore.intact} to false: what the operation read may be torn,
   * so the caller runs it again. If it was a mutation, its writes after the
   * takeover may have landed in structures others were using, so the dict
   * is emptied once more first (`reason: 'taken-over'`).
   */
  release(): void {
    this.#largeOut = undefined
    this.#intact = releaseMutex(this.#i32, H_MUTEX, this.#held)
    const mutated = this.#mutating
    this.#mutating = false
    if (this.#intact) {
      // Scratch that grew for one large string value is not kept (kept
      // otherwise: the operation runs again with the value it staged).
      if (this.#valueScratch.length > SCRATCH_KEPT_BYTES) this.#valueScratch = new Uint8Array(256)
      this.#valueBytes = this.#valueScratch
      return
    }
    if (!mutated) return
    this.#acquire()
    Atomics.store(this.#i32, H_MUTATING, this.#held)
    this.#empty()
    this.#report('taken-over', this.#held, true)
    releaseMutex(this.#i32, H_MUTEX, this.#held)
  }

  /**
   * What the last read left for after the release (see
   * {@link LARGE_VALUE_BYTES}): 0 for nothing, `DEFERRED_BUFFER` (call
   * {@link DictCore.allocateLarge}, then run the read again) or
   * `DEFERRED_STRING` (decode the answer's value with `decodeUtf8`).
   */
  get deferred(): number {
    return this.#deferred
  }

  /** Allocates, outside the mutex, the buffer the last deferred read asked for; the next read copies into it. */
  allocateLarge(): void {
    this.#largeOut = new Uint8Array(this.#wantedBytes)
  }

  /** Whether the last hold ended as it began (see {@link DictCore.release}); when false, run the operation again. */
  get intact(): boolean {
    return this.#intact
  }

  /**
   * An exception escaped a mutation (the mutex is still held): the
   * structures may be half relinked, so empty the dict (see #empty). nginx
   * only unlocks and hopes; a half-relinked list could loop forever.
   */
  recover(): void {
    this.#empty()
    this.#report('exception', this.#held, true)
  }

  /**
   * nginx's `ngx_shmtx_force_unlock(mtx, pid)`, for a supervisor that saw
   * thread `threadId` die: if that thread owns the mutex, takes it over,
   * repairs what it left (see #takeOver) and releases it. A CAS from the
   * observed word, so it is safe against live threads acquiring, releasing
   * or stealing the same mutex meanwhile.
   */
  forceUnlock(threadId: number): void {
    const word = stealFromDead(this.#i32, H_MUTEX, threadId)
    if (word === 0) return
    this.#held = ownLockWord()
    this.#takeOver(word, 'reaped')
    this.release()
  }

  /**
   * Takes the mutex. Only on the contended path can it come back stolen
   * from an unsupervised owner presumed dead (`robust-mutex.ts`); the
   * uncontended path costs one CAS and this test.
   */
  #acquire(): void {
    const stolen = acquireMutex(this.#i32, H_MUTEX, H_PROGRESS, this.#ownerDeadAfter)
    this.#held = ownLockWord()
    if (stolen !== 0) this.#takeOver(stolen, 'owner-timeout')
  }

  /**
   * The mutex was just taken over from the dead owner whose lock word was
   * `owner`. If it died mid-mutation (the `H_MUTATING` mark is set) the
   * structures may be half relinked: empty the dict. Otherwise it died
   * between operations or in a read, and the mutex alone was the damage.
   */
  #takeOver(owner: number, reason: SharedDictRecovery['reason']): void {
    const emptied = Atomics.load(this.#i32, H_MUTATING) !== 0
    if (emptied) this.#empty()
    this.#report(reason, owner, emptied)
  }

  /**
   * Empties the dict, which a cache may do (the contract: "it may be
   * emptied"), bumps the generation and counts a recovery. The waiters of
   * every loader lock are woken: their locks are gone (they re-check after
   * the mutex is released). The mark is cleared last, so a thread killed
   * during this leaves it for the next recovery.
   */
  #empty(): void {
    this.#openSeq()
    this.reset()
    this.#touchCount = 0
    this.#closeSeq()
    Atomics.add(this.#i32, H_GENERATION, 1)
    this.#count(F_RECOVERIES)
    for (let cell = H_WAIT_CELLS; cell < H_WAIT_CELLS + WAIT_CELL_COUNT; cell++) wakeCell(this.#i32, cell)
    Atomics.store(this.#i32, H_MUTATING, 0)
  }

  /** Tells `onRecover` about a recovery, in a microtask: never user code under the mutex. */
  #report(reason: SharedDictRecovery['reason'], owner: number, emptied: boolean): void {
    const onRecover = this.#onRecover
    const recovery: SharedDictRecovery = { reason, threadId: ownerOf(owner), emptied }
    queueMicrotask(() => onRecover(recovery))
  }

  /** Empties the dict: no buckets, no LRU, one free block (creation and recovery). */
  reset(): void {
    this.#index.reset()
    this.#lru.reset()
    this.#arena.reset()
    this.#u32[H_ENTRIES] = 0
  }

  // ------------------------------------------------------------ operations (mutex held)

  /**
   * `get`: pre-op sweep, then a live entry, made most recently used. Held
   * with `enterToReorder`: only a sweep that frees an entry changes what
   * lock-free reads see, and it opens the sequence word for that.
   */
  get(now: number): DictEntry | undefined {
    this.#expireTail(now, 1)
    const p = this.#lookup(now, 0)
    if (p <= 0) return undefined
    const value = this.#readValue(p)
    return value === undefined ? undefined : { value, flags: this.#u32[(p << 1) + E_USER_FLAGS]! }
  }

  /** `get_stale`: no sweep; an expired entry is answered with `stale: true` and not touched. */
  getStale(now: number): DictStaleEntry | undefined {
    const p = this.#lookup(now, 0)
    if (p === 0) return undefined
    const q = p > 0 ? p : -p
    const value = this.#readValue(q)
    return value === undefined ? undefined : { value, flags: this.#u32[(q << 1) + E_USER_FLAGS]!, stale: p < 0 }
  }

  /** L2Store `readEntry`: `get_stale` answering a copy of the bytes and the remaining TTL (`now` may be {@link CLOCK_UNREAD}). */
  readEntry(now: number): L2Entry | undefined {
    const p = this.#lookupEntry(now)
    if (p === 0) return undefined
    now = this.#readNow
    const q = p > 0 ? p : -p
    const expiresAt = this.#f64[q + E_EXPIRES_AT]!
    const start = q * 8 + E_KEY + this.#keyLength
    const length = this.#u32[(q << 1) + E_VALUE_LEN]!
    const value = this.#copyOut(start, length)
    if (value === undefined) return undefined
    if (expiresAt === 0) return { value, flags: this.#u32[(q << 1) + E_USER_FLAGS]!, ttl: 0, stale: false }
    const entry = { value, flags: this.#u32[(q << 1) + E_USER_FLAGS]!, ttl: expiresAt - now, stale: p < 0 }
    // A purge expires entries at an instant no TTL reaches on a real clock (see pastExpiry).
    return expiresAt <= PURGED_BEFORE ? { ...entry, purged: true } : entry
  }

  /**
   * L2Store `readEntryInto`: {@link DictCore.readEntry} copying the bytes
   * into the thread's lent buffer instead of a fresh one. Answers 1 (found),
   * 0 (missing) or {@link TOO_LARGE_TO_LEND}. `now` may be {@link CLOCK_UNREAD}.
   */
  readEntryInto(now: number, view: EntryView): number {
    const p = this.#lookupEntry(now)
    if (p === 0) return 0
    now = this.#readNow
    const q = p > 0 ? p : -p
    const start = q * 8 + E_KEY + this.#keyLength
    const length = this.#u32[(q << 1) + E_VALUE_LEN]!
    if (!this.#lend(start, length)) return TOO_LARGE_TO_LEND
    fillView(view, start, length, this.#u32[(q << 1) + E_USER_FLAGS]!, this.#f64[q + E_EXPIRES_AT]!, now, p < 0)
    return 1
  }

  /**
   * Copies the value bytes `[start, start + length)` into the thread's lent
   * buffer, whole words at a time; false, copying nothing, when they do not
   * fit in it (or a torn `length` runs past the dict).
   */
  #lend(start: number, length: number): boolean {
    // The whole words that hold the bytes: the value ends within its block, and blocks are whole words.
    const first = start >>> 2
    const last = (start + length + 3) >>> 2
    const u32 = this.#u32
    if (length > LENT_BYTES - 4 || last > u32.length) return false
    lent ??= Buffer.allocUnsafeSlow(LENT_BYTES)
    lentWords ??= new Uint32Array(lent.buffer, lent.byteOffset, LENT_BYTES / 4)
    // Word by word: for a value of ~100 bytes, four times faster than a byte loop or set() of a subarray.
    for (let from = first, to = 0; from < last; from++, to++) lentWords[to] = u32[from]!
    return true
  }

  /**
   * {@link DictCore.readEntryInto} without the mutex: a seqlock read. It
   * reads the sequence word ({@link H_SEQ}), looks the key up and copies the
   * bytes into the lent buffer, then reads the word again; what it read
   * stands only if the word was even and did not move, since a writer makes
   * it odd for the whole of any change a lookup could see. Then it fills
   * `view` and answers 1 or 0, else {@link READ_CONTENDED} (a mutation ran,
   * or the value is too large to lend): read under the mutex instead.
   *
   * nginx's `get` moves the entry it finds to the head of the LRU list,
   * which needs the mutex. A fresh hit here records the use instead, and
   * the thread applies its uses in order at its next hold of the mutex, or
   * after {@link TOUCH_BATCH} of them (see {@link DictCore.touchesDue}).
   * Within a thread the LRU order is then the same as nginx's whenever a
   * hold can evict; across threads, uses land up to a batch late. Reads
   * write nothing shared, so threads reading one dict do not contend.
   * `now` may be {@link CLOCK_UNREAD}: the clock is then read only for an
   * entry that expires.
   */
  readEntryOptimistic(now: number, view: EntryView): number {
    const i32 = this.#i32
    const seq = Atomics.load(i32, H_SEQ)
    if ((seq & 1) !== 0) return READ_CONTENDED
    const p = this.#index.findUnlocked(this.#keyHash, this.#key, this.#keyLength)
    if (p <= 0) return p === 0 && Atomics.load(i32, H_SEQ) === seq ? 0 : READ_CONTENDED
    const u32 = this.#u32
    const expiresAt = this.#f64[p + E_EXPIRES_AT]!
    const flags = u32[(p << 1) + E_USER_FLAGS]!
    const start = p * 8 + E_KEY + this.#keyLength
    const length = u32[(p << 1) + E_VALUE_LEN]!
    // A value too large to lend goes the way of a contended read, which answers TOO_LARGE_TO_LEND.
    if (!this.#lend(start, length)) return READ_CONTENDED
    if (Atomics.load(i32, H_SEQ) !== seq) return READ_CONTENDED
    this.#lastEntryExpires = expiresAt !== 0
    if (expiresAt !== 0 && now !== now) now = this.#clock()
    const stale = expiresAt !== 0 && expiresAt <= now
    fillView(view, start, length, flags, expiresAt, now, stale)
    if (!stale && this.#touchCount < TOUCH_BATCH) {
      const at = 2 * this.#touchCount++
      this.#touches[at] = p
      this.#touches[at + 1] = seq
    }
    return 1
  }

  /** `ttl` (nginx's `peek`: no expiry check, no touch): ms left, 0 = never, `undefined` = missing. */
  ttl(now: number): number | undefined {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, 0)
    if (p === 0) return undefined
    const expiresAt = this.#f64[p + E_EXPIRES_AT]!
    return expiresAt === 0 ? 0 : expiresAt - now
  }

  /** `expire` (peek, then a new expiry; can revive an expired entry). */
  expire(now: number, ttl: number): boolean {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, 0)
    if (p !== 0) this.#f64[p + E_EXPIRES_AT] = ttl > 0 ? now + ttl : 0
    return p !== 0
  }

  /**
   * `ngx_http_lua_shdict_set_helper`: pre-op sweep, lookup, the add/replace
   * checks, an in-place rewrite when the value length is unchanged,
   * otherwise the old entry is removed first (so a failed store has deleted
   * it), then allocation, with forcible eviction unless `MODE_SAFE`.
   */
  store(mode: number, now: number, ttl: number, flags: number): DictSetResult {
    this.#expireTail(now, 1)
    let p = this.#lookup(now, 0)
    if ((mode & MODE_REPLACE) !== 0 && p <= 0) return { ok: false, err: 'not found', forcible: false }
    if ((mode & MODE_ADD) !== 0 && p > 0) return { ok: false, err: 'exists', forcible: false }
    if (p !== 0) {
      if (p < 0) p = -p
      if (this.#valueType !== VT_NONE && this.#u32[(p << 1) + E_VALUE_LEN] === this.#valueLength) {
        this.#rewrite(p, now, ttl, flags)
        return { ok: true, forcible: false }
      }
      this.#removeEntry(p)
    }
    if (this.#valueType === VT_NONE) return { ok: true, forcible: false }
    const q = this.#alloc(now, (mode & MODE_SAFE) === 0)
    if (q === 0) return { ok: false, err: 'no memory', forcible: this.#forcible }
    this.#initEntry(q, now, ttl, flags, this.#valueEntryFlags)
    return { ok: true, forcible: this.#forcible }
  }

  /**
   * L2Store `writeEntry`: with a fence (see {@link DictCore.prepareFence}),
   * stores only while the key's lock holds that token, unvoided and within
   * its lease (`leaseNow`, real time); without one, voids the lock's fence
   * first. Then `set` of the current key and value, or `safe_set` when
   * `noEvict`.
   */
  writeEntry(now: number, leaseNow: number, ttl: number, flags: number, keepStale: boolean, noEvict: boolean): L2WriteResult {
    const lock = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (this.#fenceLength >= 0) {
      if (lock === 0 || !this.#holdsFence(lock, leaseNow)) return 'fenced'
    } else if (lock !== 0) {
      this.#voidFence(lock)
    }
    this.#valueEntryFlags = keepStale ? EF_KEEP_STALE : 0
    try {
      return this.store(noEvict ? MODE_SET | MODE_SAFE : MODE_SET, now, ttl, flags).ok ? 'ok' : 'no memory'
    } finally {
      this.#valueEntryFlags = 0
    }
  }

  /** L2Store `deleteEntry`: voids the fence of the key's lock, then deletes the value (the current value is none). */
  deleteEntry(now: number): void {
    const lock = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (lock !== 0) this.#voidFence(lock)
    this.store(MODE_SET, now, 0, 0)
  }

  /**
   * `ngx_http_lua_ffi_shdict_incr`: a live number is incremented in place
   * (expiry and flags kept); a missing or expired key needs `init` and then
   * becomes `init + step` with flags 0 and the `initTtl` expiry, reusing an
   * expired 8-byte entry in place (whatever its type) or allocating, with
   * forcible eviction.
   */
  incr(now: number, step: number, init: number | undefined, initTtl: number): DictIncrResult {
    this.#expireTail(now, 1)
    const p = this.#lookup(now, 0)
    if (p > 0) {
      if (this.#u8[p * 8 + E_VALUE_TYPE] !== VT_NUMBER || this.#u32[(p << 1) + E_VALUE_LEN] !== 8) {
        return { err: 'not a number', forcible: false }
      }
      const offset = p * 8 + E_KEY + this.#keyLength
      const value = this.#v.dv.getFloat64(offset, true) + step
      if (!Number.isFinite(value)) return INCR_NOT_FINITE
      this.#v.dv.setFloat64(offset, value, true)
      return { value, forcible: false }
    }
    if (init === undefined) return { err: 'not found', forcible: false }
    if (!Number.isFinite(step + init)) return INCR_NOT_FINITE
    this.#valueType = VT_NUMBER
    this.#valueLength = 8
    this.#valueNumber = step + init
    if (p < 0 && this.#u32[(-p << 1) + E_VALUE_LEN] === 8) {
      this.#rewrite(-p, now, initTtl, 0)
      return { value: this.#valueNumber, forcible: false }
    }
    if (p < 0) this.#removeEntry(-p)
    const q = this.#alloc(now, true)
    if (q === 0) return { err: 'no memory', forcible: this.#forcible }
    this.#initEntry(q, now, initTtl, 0, 0)
    return { value: this.#valueNumber, forcible: this.#forcible }
  }

  /**
   * `flush_all`: every LRU entry expires (memory kept, stale reads still see
   * them), then one forced round frees up to three tail entries, as nginx's
   * `ngx_http_lua_shdict_expire(ctx, 0)`. Pinned locks are not in the LRU.
   */
  flushAll(now: number): void {
    const expiresAt = pastExpiry(now)
    for (let p = this.#lru.head; p !== 0; p = this.#lru.older(p)) {
      this.#step()
      this.#f64[p + E_EXPIRES_AT] = expiresAt
    }
    this.#expireTail(now, 0)
    Atomics.add(this.#i32, H_GENERATION, 1)
  }

  /** `flush_expired`: frees expired entries from the LRU tail, at most `max` (0 = all). */
  flushExpired(now: number, max: number): number {
    let freed = 0
    for (let p = this.#lru.tail; p !== 0 && (max === 0 || freed < max); ) {
      this.#step()
      const newer = this.#lru.newer(p)
      if (this.#isExpired(p, now)) {
        this.#count(F_EXPIRED_FREED)
        this.#removeEntry(p)
        freed++
      }
      p = newer
    }
    return freed
  }

  /** `get_keys`: keys of live entries from the LRU tail, at most `max` (0 = all). */
  keys(now: number, max: number): string[] {
    const keys: string[] = []
    for (let p = this.#lru.tail; p !== 0 && (max === 0 || keys.length < max); p = this.#lru.newer(p)) {
      this.#step()
      if (!this.#isExpired(p, now)) {
        const start = p * 8 + E_KEY
        keys.push(readUtf8(this.#v.buf, start, this.#u32[(p << 1) + E_KEY_LEN]!))
      }
    }
    return keys
  }

  /**
   * L2Store `purgeNamespace`: every value whose key starts with the current
   * key (a namespace prefix) expires as in `flushAll`, or with `free` is
   * freed; every loader lock of the namespace has its fence voided, and its
   * records are left alone. Locks are outside the LRU, so this walks every
   * block in address order, then frees what it found (freeing during the
   * walk would coalesce the blocks ahead).
   */
  purgePrefix(now: number, free: boolean): void {
    const expiresAt = pastExpiry(now)
    const arena = this.#arena
    const found: number[] = []
    for (let p = arena.first; p !== 0; p = arena.next(p)) {
      this.#step()
      if (!arena.isUsed(p) || !this.#hasKeyPrefix(p)) continue
      if ((this.#u8[p * 8 + E_ENTRY_FLAGS]! & EF_PINNED) !== 0) {
        // A record has no fence to void, and a purge leaves it as it was.
        if (this.#u32[(p << 1) + E_USER_FLAGS] !== RECORD_OWNER) this.#voidFence(p)
      } else if (free) found.push(p)
      else this.#f64[p + E_EXPIRES_AT] = expiresAt
    }
    for (const p of found) {
      this.#count(F_EXPIRED_FREED)
      this.#removeEntry(p)
    }
  }

  /**
   * L2Store `tryLock`: the lock is a pinned entry under the value's own key
   * (the pinned kind keeps the two apart) holding the token, with the owner's
   * thread id in its user flags and its lease on real time (`leaseNow`). A
   * live one is 'held'; an expired one is taken over (in place when the
   * token length matches). A new one never evicts a value: only when the
   * arena is full does it reclaim expired values from the LRU tail (see
   * #allocLock). No pre-op sweep runs, so a stale value that a loader may
   * resurrect survives taking its lock while memory allows.
   */
  tryLock(now: number, leaseNow: number, lease: number, owner: number): LockResult {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p !== 0 && !this.#isExpired(p, leaseNow)) return 'held'
    if (p !== 0 && this.#u32[(p << 1) + E_VALUE_LEN] === this.#valueLength) {
      this.#writeValue(p, leaseNow, lease, owner)
      this.#u8[p * 8 + E_ENTRY_FLAGS] = EF_PINNED
      return 'acquired'
    }
    if (p !== 0) this.#removeEntry(p)
    const q = this.#allocLock(now)
    if (q === 0) return 'no memory'
    this.#initEntry(q, leaseNow, lease, owner, EF_PINNED)
    return 'acquired'
  }

  /** L2Store `extendLock`: a new lease for the lock if it holds exactly the current token and its lease is running. */
  extendLock(leaseNow: number, lease: number): boolean {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p === 0 || this.#isExpired(p, leaseNow) || !this.#valueEquals(p)) return false
    this.#f64[p + E_EXPIRES_AT] = lease > 0 ? leaseNow + lease : 0
    return true
  }

  /** L2Store `unlock`: deletes the lock if it holds exactly the current token (compare-and-delete). */
  unlock(): boolean {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p === 0 || !this.#valueEquals(p)) return false
    this.#removeEntry(p)
    return true
  }

  /**
   * For `reapThread`: deletes every loader lock whose owner (its user
   * flags) is thread `threadId` and wakes its wait cell (safe under the
   * mutex: a waiter re-checks the lock after it). Locks are pinned, outside
   * the LRU, so this walks every block in address order (sequential memory:
   * about 10 ms per million entries, once per dead worker), then removes
   * what it found, since removing during the walk would coalesce the blocks
   * ahead.
   */
  reapLocks(threadId: number): void {
    const arena = this.#arena
    const found: number[] = []
    for (let p = arena.first; p !== 0; p = arena.next(p)) {
      this.#step()
      const isPinned = arena.isUsed(p) && (this.#u8[p * 8 + E_ENTRY_FLAGS]! & EF_PINNED) !== 0
      const owner = this.#u32[(p << 1) + E_USER_FLAGS]
      // A record belongs to no thread, whatever id the caller passes.
      if (isPinned && owner === threadId && owner !== RECORD_OWNER) found.push(p)
    }
    for (const p of found) {
      // The hash first: freeing the block overwrites it with free-list links.
      const cell = waitCellOf(this.#u32[(p << 1) + E_HASH]!)
      this.#removeEntry(p)
      wakeCell(this.#i32, cell)
    }
  }

  /**
   * L2Store `readRecord`: the string of the current key's record, or
   * `undefined` when the key has none (a loader lock on the key is not a
   * record). Bytes with `DEFERRED_STRING` for a large one, or `undefined`
   * with `DEFERRED_BUFFER` (see {@link LARGE_VALUE_BYTES}). A voided fence
   * bit, which a write or delete of an entry of the same key sets on any
   * pinned entry, does not matter to a record.
   */
  readRecord(): DictValue | undefined {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p === 0 || this.#u32[(p << 1) + E_USER_FLAGS] !== RECORD_OWNER) return undefined
    return this.#readValue(p)
  }

  /**
   * L2Store `writeRecord`: makes the current value (a string) the record of
   * the current key, a pinned entry owned by {@link RECORD_OWNER} that never
   * expires. Rewritten in place when its length is unchanged; otherwise the
   * new block is allocated before the old one is freed, so that a write
   * without memory answers `false` with the old record intact (it needs room
   * for both at once). Allocates as a lock does (#allocLock): never evicts
   * a value, may reclaim expired ones.
   */
  writeRecord(now: number): boolean {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p !== 0 && this.#u32[(p << 1) + E_VALUE_LEN] === this.#valueLength) {
      this.#writeValue(p, 0, 0, RECORD_OWNER)
      this.#u8[p * 8 + E_ENTRY_FLAGS] = EF_PINNED
      return true
    }
    const q = this.#allocLock(now)
    if (q === 0) return false
    if (p !== 0) this.#removeEntry(p)
    this.#initEntry(q, 0, 0, RECORD_OWNER, EF_PINNED)
    return true
  }

  /**
   * How long the current key's lock may still be held, in real ms from
   * `leaseNow`: at most 0 when there is none or its lease has ended,
   * `Infinity` for a lease without expiry.
   */
  lockTimeLeft(leaseNow: number): number {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, EF_PINNED)
    if (p === 0) return 0
    const expiresAt = this.#f64[p + E_EXPIRES_AT]!
    return expiresAt === 0 ? Number.POSITIVE_INFINITY : expiresAt - leaseNow
  }

  /** Bytes in free blocks. */
  freeBytes(): number {
    return this.#u32[H_FREE_BYTES]!
  }

  /** The shared counters. */
  stats(): SharedDictStats {
    const u32 = this.#u32
    const f64 = this.#f64
    return {
      entries: u32[H_ENTRIES]!,
      usedBytes: u32[H_USED_BYTES]!,
      freeBytes: u32[H_FREE_BYTES]!,
      forcibleEvictions: f64[F_FORCIBLE_EVICTIONS]!,
      expiredFreed: f64[F_EXPIRED_FREED]!,
      noMemory: f64[F_NO_MEMORY]!,
      recoveries: f64[F_RECOVERIES]!,
    }
  }

  // ------------------------------------------------------------ internals (mutex held)

  /** Finds the current key among entries of kind `pinned`; a live value entry is made most recently used. */
  #lookup(now: number, pinned: number): number {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, pinned)
    if (p === 0) return 0
    if (this.#isExpired(p, now)) return -p
    if (pinned === 0) this.#lru.touch(p)
    return p
  }

  /**
   * {@link DictCore.#lookup} of a value entry for an L2Store read, whose
   * `now` may be {@link CLOCK_UNREAD}: the time used is left in `#readNow`,
   * and whether the entry expires in {@link DictCore.lastEntryExpires}.
   */
  #lookupEntry(now: number): number {
    const p = this.#index.find(this.#keyHash, this.#key, this.#keyLength, 0)
    if (p === 0) return 0
    const expiresAt = this.#f64[p + E_EXPIRES_AT]!
    this.#lastEntryExpires = expiresAt !== 0
    // NaN is CLOCK_UNREAD.
    if (expiresAt !== 0 && now !== now) now = this.#clock()
    this.#readNow = now
    if (expiresAt !== 0 && expiresAt <= now) return -p
    this.#lru.touch(p)
    return p
  }

  /** Whether the entry the last L2Store read found expires, so that its time was needed (see {@link CLOCK_UNREAD}). */
  get lastEntryExpires(): boolean {
    return this.#lastEntryExpires
  }

  #isExpired(p: number, now: number): boolean {
    const expiresAt = this.#f64[p + E_EXPIRES_AT]!
    return expiresAt !== 0 && expiresAt <= now
  }

  /**
   * `ngx_http_lua_shdict_expire(ctx, n)` on the LRU tail: `n = 1` (the
   * pre-op sweep) frees up to two expired entries, stopping at the first
   * live one or one kept for its stale window (unless `keepStale` is
   * false); `n = 0` (a forced round) frees the tail unconditionally, then
   * up to two more if expired. Answers how many it freed.
   */
  #expireTail(now: number, n: number, keepStale = true): number {
    // The sweep passes by an expired entry kept for its stale window; a forced round does not.
    const keep = n !== 0 && keepStale ? EF_KEEP_STALE : 0
    let freed = 0
    while (n < 3) {
      const p = this.#lru.tail
      if (p === 0) break
      const expired = (this.#u8[p * 8 + E_ENTRY_FLAGS]! & keep) === 0 && this.#isExpired(p, now)
      if (n++ !== 0 && !expired) break
      this.#count(expired ? F_EXPIRED_FREED : F_FORCIBLE_EVICTIONS)
      // A `get` holds the mutex without the sequence word until its sweep frees something.
      this.#openSeq()
      this.#removeEntry(p)
      freed++
    }
    return freed
  }

  /**
   * Allocates the block of the current key and value. When the arena is
   * full and `evict` is set, runs up to 30 forced rounds with a retry after
   * each and sets #forcible when a round freed something (nginx's loop). A
   * block larger than the whole arena fails at once, evicting nothing (the
   * contract's choice; nginx evicts up to 90 entries first).
   */
  #alloc(now: number, evict: boolean): number {
    const units = entryBlockBytes(this.#keyLength, this.#valueLength) / 8
    this.#forcible = false
    let p = this.#arena.malloc(units)
    if (p === 0 && evict && units <= this.#arena.units) {
      for (let round = 0; round < EVICTION_ROUNDS && p === 0; round++) {
        if (this.#expireTail(now, 0) === 0) break
        this.#forcible = true
        p = this.#arena.malloc(units)
      }
    }
    if (p === 0) this.#count(F_NO_MEMORY)
    return p
  }

  /**
   * Allocates a lock's block without evicting any value: when the arena is
   * full, up to 30 rounds of the pre-op sweep (`expire(ctx, 1)`: at most two
   * expired entries from the LRU tail, stopping at a live one), each
   * followed by a retry. Live values are never touched.
   */
  #allocLock(now: number): number {
    const units = entryBlockBytes(this.#keyLength, this.#valueLength) / 8
    let p = this.#arena.malloc(units)
    for (let round = 0; p === 0 && round < EVICTION_ROUNDS; round++) {
      // Expired values go, even those kept for a stale window: a lock needs the room more.
      if (this.#expireTail(now, 1, false) === 0) break
      p = this.#arena.malloc(units)
    }
    if (p === 0) this.#count(F_NO_MEMORY)
    return p
  }

  /** Fills the fresh block `p` with the current key and value and links it (at the LRU head unless pinned). */
  #initEntry(p: number, now: number, ttl: number, flags: number, entryFlags: number): void {
    const u32 = this.#u32
    const u8 = this.#u8
    const at = p * 8
    u32[(p << 1) + E_HASH] = this.#keyHash
    u32[(p << 1) + E_KEY_LEN] = this.#keyLength
    u8[at + E_ENTRY_FLAGS] = entryFlags
    const key = this.#key
    for (let i = 0, n = this.#keyLength; i < n; i++) u8[at + E_KEY + i] = key[i]!
    this.#writeValue(p, now, ttl, flags)
    this.#index.insert(p)
    if ((entryFlags & EF_PINNED) === 0) this.#lru.linkHead(p)
    u32[H_ENTRIES] = u32[H_ENTRIES]! + 1
  }

  /** nginx's "found old entry and value size matched, reusing it": rewrite in place, then touch. */
  #rewrite(p: number, now: number, ttl: number, flags: number): void {
    this.#u8[p * 8 + E_ENTRY_FLAGS] = this.#valueEntryFlags
    this.#writeValue(p, now, ttl, flags)
    this.#lru.touch(p)
  }

  /** Writes the current value (type, length, bytes), its expiry and `flags` into the entry `p`. */
  #writeValue(p: number, now: number, ttl: number, flags: number): void {
    const at = p * 8
    this.#u32[(p << 1) + E_USER_FLAGS] = flags
    this.#f64[p + E_EXPIRES_AT] = ttl > 0 ? now + ttl : 0
    this.#u32[(p << 1) + E_VALUE_LEN] = this.#valueLength
    this.#u8[at + E_VALUE_TYPE] = this.#valueType
    const offset = at + E_KEY + this.#keyLength
    switch (this.#valueType) {
      case VT_NUMBER:
        this.#v.dv.setFloat64(offset, this.#valueNumber, true)
        break
      case VT_BOOLEAN:
        this.#u8[offset] = this.#valueNumber
        break
      default: {
        const bytes = this.#valueBytes
        const n = this.#valueLength
        if (n <= SMALL_COPY) for (let i = 0; i < n; i++) this.#u8[offset + i] = bytes[i]!
        else this.#u8.set(n === bytes.length ? bytes : bytes.subarray(0, n), offset)
      }
    }
  }

  /** Unlinks the entry `p` from its bucket and the LRU and frees its block. */
  #removeEntry(p: number): void {
    this.#index.remove(p)
    if ((this.#u8[p * 8 + E_ENTRY_FLAGS]! & EF_PINNED) === 0) this.#lru.unlink(p)
    this.#u32[H_ENTRIES] = this.#u32[H_ENTRIES]! - 1
    this.#arena.free(p)
  }

  /** The value of entry `p`, or `undefined` when it is large and the read is deferred (see {@link LARGE_VALUE_BYTES}). */
  #readValue(p: number): DictValue | undefined {
    const at = p * 8
    const start = at + E_KEY + this.#u32[(p << 1) + E_KEY_LEN]!
    const length = this.#u32[(p << 1) + E_VALUE_LEN]!
    switch (this.#u8[at + E_VALUE_TYPE]) {
      case VT_STRING: {
        if (length <= LARGE_VALUE_BYTES) return readUtf8(this.#v.buf, start, length)
        const bytes = this.#copyOut(start, length)
        if (bytes !== undefined) this.#deferred = DEFERRED_STRING
        return bytes
      }
      case VT_NUMBER:
        return this.#v.dv.getFloat64(start, true)
      case VT_BOOLEAN:
        return this.#u8[start] !== 0
      default:
        return this.#copyOut(start, length)
    }
  }

  /**
   * A private copy of the value bytes at `start`: allocated here when small;
   * when large, copied into the buffer allocated outside the mutex if it has
   * the right size, else `undefined` with `DEFERRED_BUFFER` (see
   * {@link LARGE_VALUE_BYTES}).
   */
  #copyOut(start: number, length: number): Uint8Array | undefined {
    if (length <= LARGE_VALUE_BYTES) return copyBytes(this.#u8, start, length)
    // A damaged length must fail here, under the mutex (the dict is then
    // emptied), not as a huge allocation after the release.
    if (start + length > this.#u8.length) throw new RangeError('SharedDict entry value runs past the end of the dict')
    const out = this.#largeOut
    if (out === undefined || out.length !== length) {
      this.#deferred = DEFERRED_BUFFER
      this.#wantedBytes = length
      return undefined
    }
    this.#largeOut = undefined
    out.set(this.#u8.subarray(start, start + length))
    return out
  }

  /** Whether the entry `p`, whose key is the current key, holds exactly the current value (type and bytes). */
  #valueEquals(p: number): boolean {
    return this.#u32[(p << 1) + E_VALUE_LEN] === this.#valueLength && this.#valueStartsWith(p)
  }

  /** Whether the lock `p` holds the current fence, unvoided and within its lease. */
  #holdsFence(p: number, leaseNow: number): boolean {
    const at = p * 8
    const n = this.#fenceLength
    return (
      (this.#u8[at + E_ENTRY_FLAGS]! & EF_REVOKED) === 0 &&
      !this.#isExpired(p, leaseNow) &&
      this.#u8[at + E_VALUE_TYPE] === VT_STRING &&
      this.#u32[(p << 1) + E_VALUE_LEN] === n &&
      this.#bytesAt(at + E_KEY + this.#u32[(p << 1) + E_KEY_LEN]!, this.#fence, n)
    )
  }

  /** Voids the fence of the lock `p`: it stays held, but no fenced write with its token will land. */
  #voidFence(p: number): void {
    this.#u8[p * 8 + E_ENTRY_FLAGS] = EF_PINNED | EF_REVOKED
  }

  /** Whether the value of entry `p` (any key) has the current value's type and starts with its bytes. */
  #valueStartsWith(p: number): boolean {
    const n = this.#valueLength
    if (this.#u8[p * 8 + E_VALUE_TYPE] !== this.#valueType || this.#u32[(p << 1) + E_VALUE_LEN]! < n) return false
    return this.#bytesAt(p * 8 + E_KEY + this.#u32[(p << 1) + E_KEY_LEN]!, this.#valueBytes, n)
  }

  /** Whether the key of entry `p` starts with the current key bytes. */
  #hasKeyPrefix(p: number): boolean {
    const n = this.#keyLength
    return this.#u32[(p << 1) + E_KEY_LEN]! >= n && this.#bytesAt(p * 8 + E_KEY, this.#key, n)
  }

  /** Whether the buffer holds `bytes[0..n)` at byte `offset`. */
  #bytesAt(offset: number, bytes: Uint8Array, n: number): boolean {
    const u8 = this.#u8
    for (let i = 0; i < n; i++) if (u8[offset + i] !== bytes[i]) return false
    return true
  }

  /**
   * One step of a walk over every entry, which on a big dict (millions of
   * entries) may hold the mutex for a second or more: every
   * {@link PROGRESS_STEPS} steps, bumps `H_PROGRESS` so that waiters do not
   * presume this live owner dead (see `ownerDeadAfter` in robust-mutex.ts).
   */
  #step(): void {
    if (++this.#steps % PROGRESS_STEPS === 0) Atomics.add(this.#i32, H_PROGRESS, 1)
  }

  #count(index: number): void {
    this.#f64[index] = this.#f64[index]! + 1
  }

  // ------------------------------------------------------------ encoding (before the mutex)

  /** Makes `key` the current key: UTF-8 and hash, in one pass when it is ASCII (the hot path). */
  encodeKey(key: string): void {
    this.#keyPrefixOf = undefined
    this.#reserveKey(key.length * 3)
    this.#writeKey(key, 0, FNV_OFFSET ^ this.#seed)
  }

  /**
   * Writes `key` as UTF-8 at `start` of the staged key, after bytes already
   * hashed into the FNV state `h`, and sets the key's length and hash. An
   * ASCII key is copied and hashed in one pass.
   */
  #writeKey(key: string, start: number, h: number): void {
    const bytes = this.#key
    for (let i = 0, n = key.length; i < n; i++) {
      const c = key.charCodeAt(i)
      if (c >= 0x80) {
        // Only a non-ASCII key can hold a lone surrogate, which UTF-8 would
        // turn into U+FFFD: two keys would share an entry.
        assertWellFormed(key, 'key')
        // The whole key again from `start` (its ASCII head rewrites the same bytes); the hash goes on from `i`.
        this.#keyLength = writeUtf8(key, bytes, start)
        for (let at = start + i; at < this.#keyLength; at++) h = Math.imul(h ^ bytes[at]!, FNV_PRIME)
        this.#keyHash = finishHash(h)
        return
      }
      bytes[start + i] = c
      h = Math.imul(h ^ c, FNV_PRIME)
    }
    this.#keyLength = start + key.length
    this.#keyHash = finishHash(h)
  }

  /**
   * Makes the internal key of an L2Store entry current:
   * `${ns.length}:${ns}:${key}`, for a value and for its loader lock alike
   * (the pinned kind keeps them apart, and one staged key reaches both
   * within one operation). The length prefix fixes where the namespace
   * ends, so two namespaces never collide whatever their keys contain
   * (upstream's bare `name .. key` could).
   */
  encodeNamespaced(namespace: string, key: string): void {
    if (namespace !== this.#prefixOf) this.#stagePrefix(namespace)
    const prefix = this.#prefix
    const start = prefix.length
    this.#reserveKey(start + key.length * 3)
    if (this.#keyPrefixOf !== namespace) {
      const bytes = this.#key
      // A loop: prefixes are a few bytes, less than the cost of a native set() call.
      for (let i = 0; i < start; i++) bytes[i] = prefix[i]!
      this.#keyPrefixOf = namespace
    }
    // The hash goes on from the prefix's.
    this.#writeKey(key, start, this.#prefixHash)
  }

  /**
   * Encodes the prefix of `namespace`'s keys once, for every call on that
   * namespace until another comes: its bytes and the hash state after them.
   */
  #stagePrefix(namespace: string): void {
    this.#reserveKey(32 + namespace.length * 3)
    const length = this.#writeNamespacePrefix(namespace, 0)
    this.#prefix = this.#key.slice(0, length)
    let h = FNV_OFFSET ^ this.#seed
    for (let i = 0; i < length; i++) h = Math.imul(h ^ this.#prefix[i]!, FNV_PRIME)
    this.#prefixHash = h
    this.#prefixOf = namespace
  }

  /** Makes `${ns.length}:${ns}:`, the prefix of every value key of `namespace`, the current key. */
  encodeNamespacePrefix(namespace: string): void {
    this.#keyPrefixOf = undefined
    this.#reserveKey(32 + namespace.length * 3)
    this.#keyLength = this.#writeNamespacePrefix(namespace, 0)
  }

  /**
   * Makes `value` the current value, encoding a string into the value
   * scratch. `null`/`undefined` means "delete" when `nullDeletes`.
   *
   * @throws {TypeError} for any other type (Lua's "bad value type"), or a
   *   string that is not well-formed UTF-16.
   */
  prepareValue(value: unknown, nullDeletes: boolean): void {
    switch (typeof value) {
      case 'string':
        if (value.length * 3 > this.#valueScratch.length) {
          this.#valueScratch = new Uint8Array(Math.max(value.length * 3, this.#valueScratch.length * 2))
        }
        this.#valueType = VT_STRING
        this.#valueBytes = this.#valueScratch
        this.#valueLength = writeUtf8(value, this.#valueScratch, 0)
        // More bytes than code units: not ASCII, so it may hold a lone
        // surrogate, which UTF-8 turned into U+FFFD (it would not come back as stored).
        if (this.#valueLength !== value.length) assertWellFormed(value, 'value')
        return
      case 'number':
        this.#valueType = VT_NUMBER
        this.#valueLength = 8
        this.#valueNumber = value
        return
      case 'boolean':
        this.#valueType = VT_BOOLEAN
        this.#valueLength = 1
        this.#valueNumber = value ? 1 : 0
        return
      default:
        if (value instanceof Uint8Array) {
          this.#valueType = VT_BYTES
          this.#valueBytes = value
          this.#valueLength = value.length
          return
        }
        if (nullDeletes && (value === null || value === undefined)) {
          this.#valueType = VT_NONE
          this.#valueLength = 0
          return
        }
        throw new TypeError(`value must be a string, number, boolean or Uint8Array${nullDeletes ? ', or null' : ''}`)
    }
  }

  /** Makes `token` the fence of the next `writeEntry` (UTF-8), or `undefined` for an unfenced write. */
  prepareFence(token: string | undefined): void {
    if (token === undefined) {
      this.#fenceLength = -1
      return
    }
    if (token.length * 3 > this.#fence.length) this.#fence = new Uint8Array(token.length * 3)
    this.#fenceLength = writeUtf8(token, this.#fence, 0)
  }

  #writeNamespacePrefix(namespace: string, pos: number): number {
    const key = this.#key
    pos = writeDecimal(namespace.length, key, pos)
    key[pos++] = 0x3a
    const end = writeUtf8(namespace, key, pos)
    if (end - pos !== namespace.length) assertWellFormed(namespace, 'namespace')
    key[end] = 0x3a
    return end + 1
  }

  #reserveKey(bytes: number): void {
    if (bytes <= this.#key.length) return
    const grown = new Uint8Array(Math.max(bytes, this.#key.length * 2))
    grown.set(this.#key)
    this.#key = grown
  }
}
