/**
 * `SharedDict`: OpenResty's `lua_shared_dict` over a SharedArrayBuffer, the
 * L2 of mlcache shared by every worker thread that attaches to it.
 *
 * Concurrency is nginx's: one mutex per dict, taken by every call (reads
 * included, since a hit moves the entry in the LRU) for the whole call, so
 * every call is atomic across threads and none spans two. The exceptions
 * are the L2Store reads (`readEntryInto`, MLCache's L2 hit, `readEntry`,
 * `readEntries`): seqlock reads that take the mutex only when a write
 * overlaps them, and apply their LRU moves later in batches (see
 * `DictCore.readEntryOptimistic`). Each method here
 * validates its arguments, encodes the key and value into scratch buffers
 * and reads the clock, all before taking the mutex (an L2Store read of a
 * dict on `Date.now` may read it under the mutex instead, see CLOCK_UNREAD);
 * then it runs one operation of the engine (`dict-core.ts`) between `enter`
 * and `release`. Under the mutex there is only copying and pointer work:
 * never user code, an `await` or a nested lock.
 */

import { threadId as ownThreadId } from 'node:worker_threads'
import { registerReapable } from '../../internal/thread-reaper.js'
import {
  assertDuration,
  assertFunction,
  assertIntegerAtLeast,
  assertKeyShape,
  assertKnownOptions,
  assertOptionsObject,
} from '../../internal/validate.js'
import { resolveOwnerDeadAfter } from '../../internal/robust-mutex.js'
import { realTime } from '../../internal/real-time.js'
import type { EntryView, L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult } from '../l2-store.js'
import { assertFinite, assertString, flagsArgument, ttlArgument } from './args.js'
import { copyBytes } from './byte-pool.js'
import {
  CLOCK_UNREAD,
  DEFERRED_BUFFER,
  DictCore,
  INCR_NOT_FINITE,
  LOCK_FREE_READS,
  MODE_ADD,
  MODE_REPLACE,
  MODE_SAFE,
  MODE_SET,
  READ_CONTENDED,
  TOO_LARGE_TO_LEND,
} from './dict-core.js'
import { decodeUtf8 } from './utf8.js'
import { assertDictBuffer, DictViews, H_COPY_ID, publishHeader, writeHeader } from './layout.js'
import { parseDictSize } from './size.js'
import type {
  DictEntry,
  DictIncrResult,
  DictSetResult,
  DictStaleEntry,
  DictValue,
  SharedDictAttachOptions,
  SharedDictHandle,
  SharedDictOptions,
  SharedDictRecovery,
  SharedDictStats,
} from './types.js'
import { MAX_WAIT_MS, waitCellOf, waitOnCell, wakeCell } from './wait-cells.js'

export type * from './types.js'

const CONSTRUCT = Symbol('SharedDict.construct')
const INSTANCE = Symbol('SharedDict.instance')

function clockOption(clock: unknown): () => number {
  if (clock === undefined) return Date.now
  assertFunction(clock, 'options.clock')
  return clock as () => number
}

/**
 * The default `onRecover`: a process warning, the analogue of nginx's alert
 * `shared memory zone "<name>" was locked by <pid>` (`ngx_unlock_mutexes`).
 */
function warnRecovery({ reason, threadId, emptied }: SharedDictRecovery): void {
  const causes: Record<SharedDictRecovery['reason'], string> = {
    exception: `an exception escaped a mutation in thread ${threadId}`,
    reaped: `the mutex was held by thread ${threadId}, which died`,
    'owner-timeout': `the mutex was held by thread ${threadId}, presumed dead`,
    'taken-over': `thread ${threadId} was presumed dead inside a mutation while it was only paused`,
  }
  const cause = causes[reason]
  const outcome = emptied ? 'the dict was emptied' : 'the mutex was released'
  process.emitWarning(`SharedDict: ${cause}; ${outcome}`, {
    type: 'SharedDictWarning',
    code: 'MLCACHE_SHARED_DICT_RECOVERED',
  })
}

function onRecoverOption(onRecover: unknown): (recovery: SharedDictRecovery) => void {
  if (onRecover === undefined) return warnRecovery
  assertFunction(onRecover, 'options.onRecover')
  return onRecover as (recovery: SharedDictRecovery) => void
}

const CREATE_OPTIONS: ReadonlySet<string> = new Set(['size', 'clock', 'onRecover', 'ownerDeadAfter'])
const ATTACH_OPTIONS: ReadonlySet<string> = new Set(['clock', 'onRecover', 'ownerDeadAfter'])

/** What each thread's instance of a dict is configured with. */
interface InstanceOptions {
  readonly clock: () => number
  readonly onRecover: (recovery: SharedDictRecovery) => void
  readonly ownerDeadAfter: number
}

function instanceOptions(options: SharedDictAttachOptions | undefined): InstanceOptions {
  return {
    clock: clockOption(options?.clock),
    onRecover: onRecoverOption(options?.onRecover),
    ownerDeadAfter: resolveOwnerDeadAfter(options?.ownerDeadAfter),
  }
}

// Operations without arguments of their own, shared instead of a closure per call.
const ttlOf = (core: DictCore, now: number): number | undefined => core.ttl(now)
const getStaleOf = (core: DictCore, now: number): DictStaleEntry | undefined => core.getStale(now)
const flushAll = (core: DictCore, now: number): void => core.flushAll(now)
const freeBytesOf = (core: DictCore): number => core.freeBytes()
const statsOf = (core: DictCore): SharedDictStats => core.stats()
const unlockOf = (core: DictCore): boolean => core.unlock()
// Real time for leases is read under the mutex, never before it: a call may
// wait for the mutex (`ownerDeadAfter` when it takes it over from a dead owner), and
// a lease must be judged when the operation runs, not when the call began.
const lockTimeLeftOf = (core: DictCore): number => core.lockTimeLeft(realTime())
const readRecordOf = (core: DictCore): DictValue | undefined => core.readRecord()

/** `readEntry`'s answer for an entry a read without the mutex lent in `view`: a private copy of its bytes. */
function entryOf(view: EntryView): L2Entry {
  const entry = { value: copyBytes(view.bytes, view.start, view.end - view.start), flags: view.flags, ttl: view.ttl, stale: view.stale }
  return view.purged ? { ...entry, purged: true } : entry
}

/**
 * `lua_shared_dict` in a SharedArrayBuffer: a fixed-size key/value store
 * with per-entry TTL, LRU eviction and stale reads, shared by every
 * worker thread that attaches to it. Every call is synchronous and atomic
 * across threads. It also implements {@link L2Store}, so MLCache can use it
 * as its `store`, `missStore` and `lockStore`.
 *
 * Differences from `lua_shared_dict`, chosen by the contract:
 * - TTLs are milliseconds (`0` = never). Fractional milliseconds are kept:
 *   `expiresAt = now + ttl` is a float64, so `ttl = 0.5` expires half a
 *   millisecond later on the dict clock (nginx truncates `exptime * 1000`,
 *   turning anything under 1 ms into "never").
 * - Bad keys, TTLs, flags, values and `incr` arguments throw
 *   `TypeError`/`RangeError`; keys are 1 to 65535 UTF-8 bytes.
 * - A value that could not fit even in an empty dict answers
 *   `{ ok: false, err: 'no memory', forcible: false }` without evicting
 *   anything (nginx first evicts up to 90 entries, `t/043-shdict.t` TEST 26).
 *   Like any other `set`, it still removes the key's previous value.
 * - Values are `string | number | boolean | Uint8Array`; bytes come back as
 *   a fresh copy. `flags` are returned even when 0.
 * - {@link SharedDict.freeSpace} counts free bytes, not whole free pages.
 * - No list operations (`lpush`...).
 * - A thread that dies inside a call (`worker.terminate()` skips `finally`
 *   blocks) never leaves the dict unusable: {@link SharedDict.reapThread},
 *   called by the thread that created the worker when it exits, or for a
 *   worker nobody supervises the first thread that waits `ownerDeadAfter`
 *   for the mutex, takes the mutex back and empties the dict if the dead
 *   thread was mid-mutation (nginx only force-unlocks and hopes the zone is
 *   intact). A supervised thread is never presumed dead, however long it
 *   stays inside a call.
 * - The L2Store reads ({@link SharedDict.readEntryInto},
 *   {@link SharedDict.readEntry}) take no mutex unless a write overlaps
 *   them (on x86-64; see `LOCK_FREE_READS`), and the use they make of an
 *   entry reaches the LRU list at the thread's next call that takes the
 *   mutex, or after 64 such reads. The
 *   LRU order is exact within a thread (every call that can evict applies
 *   the thread's uses first); another thread's uses may land up to 64 reads
 *   late.
 *
 * @example
 * ```ts
 * const dict = SharedDict.create({ size: '64m' })
 * dict.set('hits', 0)
 * dict.incr('hits', 1)                    // { value: 1, forcible: false }
 * new Worker(file, { workerData: { dict: dict.handle } })
 * // in the worker: SharedDict.attach(workerData.dict).get('hits')
 * ```
 */
export class SharedDict implements L2Store {
  /** Send this to other threads and {@link SharedDict.attach} it there. */
  readonly handle: SharedDictHandle
  /**
   * {@link L2Store.copyId}: 128 random bits drawn by `create` and kept in the
   * dict, so every thread that attaches it answers the same id and no other
   * dict, in any process or host, does.
   */
  readonly copyId: string

  readonly #core: DictCore
  readonly #clock: () => number
  readonly #i32: Int32Array
  /**
   * Whether an entry read takes the time before the mutex: always with an
   * injected clock; with `Date.now`, while the entries read lately expire
   * (else the read takes it under the mutex only if needed, see CLOCK_UNREAD).
   */
  #readClockFirst: boolean
  /** Whether the clock is `Date.now` as it was when the dict was made (see CLOCK_UNREAD). */
  readonly #clockIsNative: boolean
  /** Where `readEntry` has a read without the mutex lend the bytes it then copies. */
  readonly #copyView: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }

  /**
   * Creates a dict of `options.size` bytes (`'64m'`, `'512k'`, `'1g'` or a
   * byte count, from 8 KiB to 4 GiB − 1), the analogue of
   * `lua_shared_dict <name> <size>`.
   *
   * @throws {TypeError} when `options`, `options.size`, `options.clock` or
   *   `options.onRecover` has the wrong type.
   * @throws {RangeError} when `options.size` is malformed or out of range.
   */
  static create(options: SharedDictOptions): SharedDict {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
    assertKnownOptions(options, CREATE_OPTIONS)
    const total = parseDictSize(options.size)
    const instance = instanceOptions(options)
    const buffer = new SharedArrayBuffer(total)
    const random = crypto.getRandomValues(new Uint32Array(5))
    writeHeader(buffer, random[0]!, random.subarray(1))
    const dict = new SharedDict(CONSTRUCT, buffer, instance)
    dict.#core.reset()
    publishHeader(buffer)
    return dict
  }

  /**
   * Opens the dict described by `handle` (from `dict.handle`, usually in
   * another thread). Checks the magic number and the layout version, so two
   * incompatible copies of this library never share a dict. `options` is an
   * addition to the contract.
   *
   * @throws {TypeError} `handle is not a SharedDict handle`, or
   *   `SharedDict layout version X, expected Y`; or a bad `options.clock`
   *   or `options.onRecover`.
   */
  static attach(handle: SharedDictHandle, options?: SharedDictAttachOptions): SharedDict {
    const buffer: unknown = typeof handle === 'object' && handle !== null ? handle.buffer : undefined
    assertDictBuffer(buffer)
    assertOptionsObject(options)
    if (options !== undefined) assertKnownOptions(options, ATTACH_OPTIONS)
    return new SharedDict(CONSTRUCT, buffer, instanceOptions(options))
  }

  /**
   * @internal Use {@link SharedDict.create} or {@link SharedDict.attach}.
   * Registers the instance with this thread's reaper (weakly), so that the
   * thread's supervisor reaches it through `reapThread` of
   * `internal/thread-reaper`.
   */
  private constructor(
    token: typeof CONSTRUCT,
    buffer: SharedArrayBuffer,
    { clock, onRecover, ownerDeadAfter }: InstanceOptions,
  ) {
    if (token !== CONSTRUCT) throw new TypeError('use SharedDict.create() or SharedDict.attach()')
    // The handle keeps this instance alive while it is referenced (the key
    // is a symbol, so cloning the handle to a worker leaves it behind): a
    // dict is reachable by this thread's reaper as long as its handle can
    // still be sent to a worker.
    this.handle = Object.defineProperty({ buffer }, INSTANCE, { value: this })
    const views = new DictViews(buffer)
    this.#core = new DictCore(views, onRecover, ownerDeadAfter, clock)
    this.#i32 = views.i32
    this.#clock = clock
    this.#clockIsNative = clock === Date.now
    this.#readClockFirst = !this.#clockIsNative
    this.copyId = Array.from(new Uint32Array(buffer, H_COPY_ID * 4, 4), (word) => word.toString(16).padStart(8, '0')).join('')
    registerReapable(this)
  }

  /**
   * The value of `key` and its flags, or `undefined` when missing or
   * expired (`ngx.shared.DICT:get`). A hit makes the entry the most
   * recently used. Like nginx, first frees up to two expired entries at the
   * LRU tail.
   *
   * @throws {TypeError | RangeError} for a bad key.
   */
  get(key: string): DictEntry | undefined {
    assertKeyShape(key)
    const now = this.#clock()
    const core = this.#core
    core.encodeKey(key)
    core.enterToReorder()
    let entry
    try {
      entry = core.get(now)
      core.leave()
    } catch (error) {
      core.recover()
      throw error
    } finally {
      core.release()
    }
    if (!core.intact) return this.get(key)
    return core.deferred === 0 ? entry : this.#settleLarge(entry, () => this.get(key))
  }

  /**
   * Like {@link SharedDict.get}, but also returns an expired entry whose
   * memory has not been reused yet, with `stale: true`
   * (`ngx.shared.DICT:get_stale`). No expiry sweep runs first, and a stale
   * hit does not count as a use. Stale values may vanish at any time.
   */
  getStale(key: string): DictStaleEntry | undefined {
    assertKeyShape(key)
    const now = this.#clock()
    this.#core.encodeKey(key)
    const entry = this.#mutate(now, getStaleOf)
    return this.#core.deferred === 0 ? entry : this.#settleLarge(entry, () => this.getStale(key))
  }

  /**
   * Stores `value` under `key` for `ttl` ms (`0`, the default, = never)
   * with uint32 `flags` (default 0); `null`/`undefined` deletes
   * (`ngx.shared.DICT:set`). When memory runs out it evicts least recently
   * used entries, up to 30 rounds, and answers `forcible: true`. A value of
   * the same byte length as the old one is rewritten in place; otherwise the
   * old entry is removed first, so a `set` that fails with "no memory" has
   * deleted the old value (as in nginx).
   *
   * @throws {TypeError | RangeError} for a bad key, value type, ttl or flags.
   */
  set(key: string, value: DictValue | null | undefined, ttl?: number, flags?: number): DictSetResult {
    return this.#store(MODE_SET, key, value, ttl, flags)
  }

  /**
   * {@link SharedDict.set} that never evicts: answers
   * `{ ok: false, err: 'no memory', forcible: false }` instead (`safe_set`).
   * As in nginx, `null`/`undefined` deletes.
   */
  safeSet(key: string, value: DictValue | null | undefined, ttl?: number, flags?: number): DictSetResult {
    return this.#store(MODE_SET | MODE_SAFE, key, value, ttl, flags)
  }

  /**
   * {@link SharedDict.set} only when `key` is missing or expired, else
   * `{ ok: false, err: 'exists' }` (`add`; a live key also becomes the most
   * recently used, as nginx's lookup makes it). An expired entry counts as
   * missing and is overwritten.
   */
  add(key: string, value: DictValue, ttl?: number, flags?: number): DictSetResult {
    return this.#store(MODE_ADD, key, value, ttl, flags)
  }

  /** {@link SharedDict.add} that never evicts (`safe_add`). */
  safeAdd(key: string, value: DictValue, ttl?: number, flags?: number): DictSetResult {
    return this.#store(MODE_ADD | MODE_SAFE, key, value, ttl, flags)
  }

  /**
   * {@link SharedDict.set} only when `key` exists and has not expired, else
   * `{ ok: false, err: 'not found' }` (`replace`).
   */
  replace(key: string, value: DictValue, ttl?: number, flags?: number): DictSetResult {
    return this.#store(MODE_REPLACE, key, value, ttl, flags)
  }

  /** Removes `key`; a missing key is fine (`delete`, which is nginx's `set(key, nil)`). */
  delete(key: string): void {
    this.#store(MODE_SET, key, null, undefined, undefined)
  }

  /**
   * Adds `step` to the number stored under `key`, in place, keeping its
   * expiry and flags, and answers the new value (`incr`). A missing or
   * expired key answers `err: 'not found'` unless `init` is given: the entry
   * then becomes `init + step` with flags 0, expiring after `initTtl` ms
   * (default 0 = never), and creating it may evict (`forcible`). A
   * non-number answers `err: 'not a number'`.
   *
   * @throws {TypeError | RangeError} for a bad key, a non-finite `step` or
   *   `init`, a bad `initTtl`, or `initTtl` without `init`.
   */
  incr(key: string, step: number, init?: number, initTtl?: number): DictIncrResult {
    assertKeyShape(key)
    assertFinite(step, 'step')
    if (init !== undefined) assertFinite(init, 'init')
    const ttl = ttlArgument(initTtl, 'initTtl')
    if (initTtl !== undefined && init === undefined) throw new TypeError('initTtl requires init')
    const now = this.#clock()
    this.#core.encodeKey(key)
    const result = this.#mutate(now, (core) => core.incr(now, step, init, ttl))
    if (result === INCR_NOT_FINITE) throw new RangeError(`incr would make the value of ${JSON.stringify(key)} non-finite`)
    return result
  }

  /**
   * Remaining time to live of `key` in ms: `0` when it never expires,
   * negative for an expired entry not yet reclaimed (nginx's `ttl` peeks
   * without checking expiry; an entry expiring at this very millisecond also
   * gives 0), `undefined` when missing. Not a use.
   */
  ttl(key: string): number | undefined {
    assertKeyShape(key)
    const now = this.#clock()
    this.#core.encodeKey(key)
    return this.#read(now, ttlOf)
  }

  /**
   * Sets the TTL of `key` to `ttl` ms from now (`0` = never) and answers
   * whether the key was there. Like nginx's `expire` it peeks without
   * checking expiry, so it can revive an expired entry not yet reclaimed.
   * Not a use.
   *
   * @throws {TypeError | RangeError} for a bad key or ttl.
   */
  expire(key: string, ttl: number): boolean {
    assertKeyShape(key)
    assertDuration(ttl, 'ttl')
    const now = this.#clock()
    this.#core.encodeKey(key)
    return this.#mutate(now, (core) => core.expire(now, ttl))
  }

  /**
   * Expires every entry without freeing memory (`flush_all`): `getStale`
   * still sees them until their memory is reused. Then frees up to three
   * entries from the LRU tail, as nginx's one forced expire round. Loader
   * locks are untouched.
   */
  flushAll(): void {
    this.#mutate(this.#clock(), flushAll)
  }

  /**
   * Frees expired entries, walking from the LRU tail, at most `max` of them
   * (`0`, the default, = all), and answers how many (`flush_expired`).
   *
   * @throws {TypeError | RangeError} unless `max` is an integer >= 0.
   */
  flushExpired(max = 0): number {
    assertIntegerAtLeast(max, 'max', 0)
    return this.#mutate(this.#clock(), (core, now) => core.flushExpired(now, max))
  }

  /**
   * Keys of unexpired entries, least recently used first (nginx's
   * `get_keys` walks the LRU from the tail): at most `max` (default 1024),
   * `0` for all. Holds the mutex for the whole walk, as nginx does: keep
   * `max` small on a big, busy dict.
   *
   * @throws {TypeError | RangeError} unless `max` is an integer >= 0.
   */
  keys(max = 1024): string[] {
    assertIntegerAtLeast(max, 'max', 0)
    return this.#read(this.#clock(), (core, now) => core.keys(now, max))
  }

  /** The dict's size in bytes: its buffer's `byteLength`, as requested at creation. */
  capacity(): number {
    return this.handle.buffer.byteLength
  }

  /**
   * Bytes in free blocks. nginx's `free_space` counts whole free 4 KiB pages
   * only; this counts every free byte. A value still needs one free block of
   * its size: 42 bytes of header, the key and the value, rounded up to 8.
   */
  freeSpace(): number {
    return this.#read(0, freeBytesOf)
  }

  /** A consistent snapshot of the dict's counters (an addition to the contract). */
  stats(): SharedDictStats {
    return this.#read(0, statsOf)
  }

  /**
   * {@link L2Store.readEntry}: `getStale` of the namespaced key, answering a
   * private copy of the stored bytes and the remaining TTL in ms. A fresh
   * read is a use; no expiry sweep runs first. Like
   * {@link SharedDict.readEntryInto}, it takes no mutex unless a write
   * overlaps it (then copies out of the lent buffer), and its use reaches
   * the LRU list later.
   */
  readEntry(namespace: string, key: string): L2Entry | undefined {
    const now = this.#stageRead(namespace, key)
    if (LOCK_FREE_READS) {
      const found = this.#core.readEntryOptimistic(now, this.#copyView)
      if (found !== READ_CONTENDED) {
        this.#afterLockFreeRead()
        return found === 0 ? undefined : entryOf(this.#copyView)
      }
    }
    const entry = this.#readHeld(now, undefined) as L2Entry | undefined
    return this.#core.deferred === 0 ? entry : this.#settleLarge(entry, () => this.readEntry(namespace, key))
  }

  /**
   * {@link L2Store.readEntryInto}: {@link SharedDict.readEntry} lending the
   * bytes in the thread's buffer instead of a private copy (a value over
   * 64 KiB still gets its copy). It takes no mutex unless a write overlaps
   * it (a seqlock read, see `DictCore.readEntryOptimistic`), so threads
   * reading one dict do not contend; the use it makes of a fresh entry
   * reaches the LRU list at the thread's next call that takes the mutex, or
   * after 64 such reads.
   */
  readEntryInto(namespace: string, key: string, view: EntryView): boolean {
    const now = this.#stageRead(namespace, key)
    const core = this.#core
    let found = LOCK_FREE_READS ? core.readEntryOptimistic(now, view) : READ_CONTENDED
    if (found === READ_CONTENDED) found = this.#readHeld(now, view) as number
    else this.#afterLockFreeRead()
    if (found !== TOO_LARGE_TO_LEND) return found === 1
    const entry = this.readEntry(namespace, key)
    if (entry === undefined) return false
    const { value } = entry
    view.bytes = Buffer.from(value.buffer, value.byteOffset, value.length)
    view.start = 0
    view.end = value.length
    view.flags = entry.flags
    view.ttl = entry.ttl
    view.stale = entry.stale
    view.purged = entry.purged === true
    return true
  }

  /**
   * Checks and stages the key of an L2Store read, and answers its `now`:
   * the time, or {@link CLOCK_UNREAD} while the last entries read never
   * expired.
   */
  #stageRead(namespace: string, key: string): number {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    const now = this.#readClockFirst ? this.#clock() : CLOCK_UNREAD
    this.#core.encodeNamespaced(namespace, key)
    return now
  }

  /**
   * The mutex-held part of {@link SharedDict.readEntry} (no `view`: its
   * answer) and of {@link SharedDict.readEntryInto} (its code), on the key
   * staged by {@link SharedDict.#stageRead}. It moves the entry in the LRU
   * list and nothing else, so it leaves the sequence word alone.
   */
  #readHeld(now: number, view: EntryView | undefined): L2Entry | number | undefined {
    const core = this.#core
    core.enterToReorder()
    let result
    try {
      result = view === undefined ? core.readEntry(now) : core.readEntryInto(now, view)
      core.leave()
    } catch (error) {
      core.recover()
      throw error
    } finally {
      core.release()
    }
    // Taken over meanwhile: the staged key is kept, so read again.
    if (!core.intact) return this.#readHeld(now, view)
    this.#readClockFirst = !this.#clockIsNative || core.lastEntryExpires
    return result
  }

  /**
   * After a read without the mutex: whether the next read reads the clock
   * first, as after any L2Store read, and the LRU uses recorded, applied
   * once there is a batch of them (see `DictCore.readEntryOptimistic`).
   */
  #afterLockFreeRead(): void {
    const core = this.#core
    this.#readClockFirst = !this.#clockIsNative || core.lastEntryExpires
    if (!core.touchesDue) return
    core.enterToReorder()
    core.leave()
    core.release()
  }

  /** {@link L2Store.readEntries}: {@link SharedDict.readEntry} of each key, in order. */
  readEntries(namespace: string, keys: readonly string[]): (L2Entry | undefined)[] {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array')
    return keys.map((key) => this.readEntry(namespace, key))
  }

  /**
   * {@link L2Store.writeEntry}: `set` of the namespaced key (may evict).
   * An entry written with `options.staleTtl` stays readable as stale after
   * it expires until its memory is needed: the sweep that frees expired
   * entries before each operation passes it by, eviction does not. A write
   * with `options.fence` lands only while the key's loader lock in this dict
   * holds that token within its lease, and no other write, delete or purge
   * of the key voided it; a write without one voids that lock's fence.
   * With `options.noEvict` it is a `safeSet`: it evicts no live entry and
   * answers 'no memory' instead (the sweep before it may still free up to
   * two expired entries from the LRU tail, as before any `set`).
   */
  writeEntry(namespace: string, key: string, value: Uint8Array, ttl: number, flags: number, options?: L2WriteOptions): L2WriteResult {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array')
    const ttlMs = ttlArgument(ttl, 'ttl')
    const userFlags = flagsArgument(flags)
    assertOptionsObject(options)
    if (options?.staleTtl !== undefined) assertDuration(options.staleTtl, 'options.staleTtl')
    const keepStale = (options?.staleTtl ?? 0) > 0
    const fence = options?.fence
    if (fence !== undefined) assertString(fence, 'options.fence')
    const noEvict = options?.noEvict
    if (noEvict !== undefined && typeof noEvict !== 'boolean') throw new TypeError('options.noEvict must be a boolean')
    const now = this.#clock()
    const core = this.#core
    core.encodeNamespaced(namespace, key)
    core.prepareValue(value, false)
    core.prepareFence(fence)
    return this.#mutate(now, () => core.writeEntry(now, realTime(), ttlMs, userFlags, keepStale, noEvict === true))
  }

  /** {@link L2Store.deleteEntry}: `delete` of the namespaced key; voids the fence of its lock. */
  deleteEntry(namespace: string, key: string): void {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    const now = this.#clock()
    this.#core.encodeNamespaced(namespace, key)
    this.#core.prepareValue(null, true)
    this.#mutate(now, (core) => core.deleteEntry(now))
  }

  /**
   * {@link L2Store.purgeNamespace}: expires every entry of `namespace` as
   * `flushAll` does (stale reads still see them), or with `flushExpired`
   * frees them, and voids the fences of its loader locks. Other namespaces
   * are untouched. Walks every block, like `reapThread`.
   */
  purgeNamespace(namespace: string, flushExpired: boolean): void {
    assertString(namespace, 'namespace')
    const now = this.#clock()
    this.#core.encodeNamespacePrefix(namespace)
    this.#mutate(now, (core) => core.purgePrefix(now, flushExpired))
  }

  /**
   * {@link L2Store.forget}: this dict is a copy of its own, so forgetting
   * is deleting `key` (voiding its fence), or without one expiring the
   * namespace as `purgeNamespace(namespace, false)` does.
   */
  forget(namespace: string, key?: string): void {
    if (key === undefined) this.purgeNamespace(namespace, false)
    else this.deleteEntry(namespace, key)
  }

  /**
   * {@link L2Store.readRecord}: the record written by
   * {@link SharedDict.writeRecord}, or `undefined`. Not a use of anything:
   * records are outside the LRU.
   *
   * @throws {TypeError | RangeError} for a bad namespace or key.
   */
  readRecord(namespace: string, key: string): string | undefined {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    const core = this.#core
    core.encodeNamespaced(namespace, key)
    const value = this.#read(0, readRecordOf)
    if (core.deferred === 0) return value as string | undefined
    if (core.deferred === DEFERRED_BUFFER) {
      core.allocateLarge()
      return this.readRecord(namespace, key)
    }
    return decodeUtf8(value as Uint8Array)
  }

  /**
   * {@link L2Store.writeRecord}. A record is a pinned entry, like a loader
   * lock: outside the LRU list (so eviction, `keys`, `flushAll` and
   * `flushExpired` never see it), with no expiry, and owned by no thread
   * (`reapThread` never removes it); `purgeNamespace` leaves it alone. Like
   * a lock it never evicts a value to make room (it may reclaim expired
   * values) and answers `false`, with the old record intact, when there is
   * no memory; a record whose byte length changes needs room for the old
   * and the new one at once.
   *
   * A record shares the pinned kind with loader locks: a record and a
   * loader lock must never use the same namespace and key (MLCache uses
   * distinct keys), or each would be taken for the other. A recovery that
   * empties the dict (see {@link SharedDict.reapThread}) loses records with
   * everything else.
   *
   * @throws {TypeError | RangeError} for a bad namespace or key, or a value
   *   that is not a well-formed string.
   */
  writeRecord(namespace: string, key: string, value: string): boolean {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(value, 'value')
    const now = this.#clock()
    const core = this.#core
    core.encodeNamespaced(namespace, key)
    core.prepareValue(value, false)
    return this.#mutate(now, () => core.writeRecord(now))
  }

  /**
   * {@link L2Store.tryLock}. A lock is a pinned entry: indexed like a value
   * but never linked in the LRU list, so eviction, `keys`, `flushAll` and
   * `flushExpired` never see it. Taking one never evicts a value: when the
   * dict is full it only reclaims expired values from the LRU tail, and
   * otherwise answers 'no memory'. An expired lease is taken over. `lease`
   * is in real ms (`0` = no expiry), whatever the dict's clock. The lock
   * records the calling thread as its owner, for {@link SharedDict.reapThread}.
   */
  tryLock(namespace: string, key: string, token: string, lease: number): LockResult {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    assertDuration(lease, 'lease')
    const now = this.#clock()
    this.#core.encodeNamespaced(namespace, key)
    this.#core.prepareValue(token, false)
    return this.#mutate(now, (core) => core.tryLock(now, realTime(), lease, ownThreadId))
  }

  /** {@link L2Store.extendLock}: a lease of `lease` real ms from now for a lock `token` holds. */
  extendLock(namespace: string, key: string, token: string, lease: number): boolean {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    assertDuration(lease, 'lease')
    this.#core.encodeNamespaced(namespace, key)
    this.#core.prepareValue(token, false)
    return this.#mutate(0, (core) => core.extendLock(realTime(), lease))
  }

  /**
   * {@link L2Store.unlock}: deletes the lock of `key` only if `token` holds
   * it (fixing lua-resty-lock's unconditional delete), then wakes the
   * callers of {@link SharedDict.waitForUnlock} on its wait cell.
   */
  unlock(namespace: string, key: string, token: string): boolean {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    this.#core.encodeNamespaced(namespace, key)
    this.#core.prepareValue(token, false)
    // No clock: releasing does not depend on time.
    const released = this.#mutate(0, unlockOf)
    // After the mutex: a waiter that read the cell before the delete now
    // sees another value, or is already waiting and gets the notify.
    if (released) wakeCell(this.#i32, waitCellOf(this.#core.keyHash))
    return released
  }

  /**
   * {@link L2Store.waitForUnlock}: resolves when the lock of `key` is
   * released, when its lease ends, or after `timeout` ms, whichever comes
   * first; at once when no live lock exists. Rejects only for bad
   * arguments. Another lock sharing its wait cell (one of 256) may wake it
   * early, which the caller tolerates.
   */
  waitForUnlock(namespace: string, key: string, timeout: number): Promise<void> {
    try {
      assertString(namespace, 'namespace')
      assertKeyShape(key)
      assertDuration(timeout, 'timeout')
      this.#core.encodeNamespaced(namespace, key)
    } catch (error) {
      return Promise.reject(error as Error)
    }
    const cell = waitCellOf(this.#core.keyHash)
    // Read the cell before looking at the lock: an unlock after the look
    // changes the cell before or during the wait, never unseen.
    const seen = Atomics.load(this.#i32, cell)
    const wait = Math.min(timeout, MAX_WAIT_MS, this.#read(0, lockTimeLeftOf))
    return wait > 0 ? waitOnCell(this.#i32, cell, seen, wait) : Promise.resolve()
  }

  /**
   * For supervisors: frees what thread `threadId`, which has exited, left in
   * this dict, as nginx's master calls `ngx_unlock_mutexes(pid)` on every
   * zone when it reaps a crashed worker. Usually reached through
   * `reapThread(threadId)` of `internal/thread-reaper`, which every thread
   * that uses a SharedDict or a WorkerBus calls from the `'exit'` event of
   * each worker it created since.
   *
   * 1. If that thread owns the mutex, takes it over
   *    (`ngx_shmtx_force_unlock`). If it died in the middle of a mutation,
   *    the structures may be half relinked, so the dict is emptied: the
   *    generation is bumped, `stats().recoveries` counted and every loader
   *    lock's waiters woken. Otherwise the mutex is just released. Either
   *    way `onRecover` is told (`reason: 'reaped'`).
   * 2. Deletes every loader lock that thread took (each lock records its
   *    owner's thread id) and wakes their
   *    waiters, so {@link SharedDict.waitForUnlock} resolves at once and the
   *    lock can be taken without waiting for its lease to end.
   *
   * Safe while live threads use the dict: the takeover is one CAS from the
   * dead owner's word, and the lock scan takes the mutex as usual (it walks
   * every block, about 10 ms per million entries). A death nobody reaps is
   * still recovered, by the first thread that waits `ownerDeadAfter` for the
   * mutex, and by lease expiry for locks.
   *
   * The supervising thread reaches every dict it created or attached while a
   * worker it created lives, even one it kept no reference to. Never call
   * this for a live thread: it could take the mutex from under it.
   *
   * @throws {TypeError | RangeError} unless `threadId` is an integer >= 0
   *   other than the calling thread's.
   */
  reapThread(threadId: number): void {
    assertIntegerAtLeast(threadId, 'threadId', 0)
    if (threadId === ownThreadId) throw new RangeError('threadId must not be the calling thread')
    const core = this.#core
    core.forceUnlock(threadId)
    this.#mutate(0, (dict) => dict.reapLocks(threadId))
  }

  /**
   * Runs `operation` under the mutex as a mutation (see `DictCore.enter`);
   * an exception empties the dict and propagates. Callers read the clock
   * (`now`) before encoding anything, so that even a clock calling into this
   * dict cannot clobber the staged key. The hot paths (`get`, `readEntry`,
   * the `set` family) inline this to avoid a closure.
   */
  #mutate<T>(now: number, operation: (core: DictCore, now: number) => T): T {
    const core = this.#core
    for (;;) {
      let result: T
      core.enter()
      try {
        result = operation(core, now)
        core.leave()
      } catch (error) {
        core.recover()
        throw error
      } finally {
        core.release()
      }
      // Taken over meanwhile: the staged key, value and fence are kept, so run it again.
      if (core.intact) return result
    }
  }

  /** Runs the read-only `operation` under the mutex, with the time `now` read by the caller. */
  #read<T>(now: number, operation: (core: DictCore, now: number) => T): T {
    const core = this.#core
    for (;;) {
      let result: T
      core.enterRead()
      try {
        result = operation(core, now)
      } finally {
        core.release()
      }
      if (core.intact) return result
    }
  }

  /**
   * Finishes a read of a large value outside the mutex (see
   * `LARGE_VALUE_BYTES`): allocates the buffer it asked for and runs it
   * again through `retry`, or decodes the string it copied out.
   */
  #settleLarge<T extends DictEntry | L2Entry>(entry: T | undefined, retry: () => T | undefined): T | undefined {
    const core = this.#core
    if (core.deferred === DEFERRED_BUFFER) {
      core.allocateLarge()
      return retry()
    }
    return { ...entry!, value: decodeUtf8(entry!.value as Uint8Array) }
  }

  /** Validates and encodes the arguments of the `set` family, then stores under the mutex. */
  #store(mode: number, key: string, value: unknown, ttl: unknown, flags: unknown): DictSetResult {
    assertKeyShape(key)
    const ttlMs = ttlArgument(ttl, 'ttl')
    const userFlags = flagsArgument(flags)
    const now = this.#clock()
    const core = this.#core
    core.encodeKey(key)
    core.prepareValue(value, (mode & (MODE_ADD | MODE_REPLACE)) === 0)
    let result
    core.enter()
    try {
      result = core.store(mode, now, ttlMs, userFlags)
      core.leave()
    } catch (error) {
      core.recover()
      throw error
    } finally {
      core.release()
    }
    return core.intact ? result : this.#store(mode, key, value, ttl, flags)
  }
}
