/**
 * The public types of {@link SharedDict}: values, answers, options, handle.
 */

import type { SharedDict } from './shared-dict.js'

/** A value a {@link SharedDict} stores: Lua's primitive types plus bytes. */
export type DictValue = string | number | boolean | Uint8Array

/** The answer of the `set` family (Lua's `ok, err, forcible`). */
export interface DictSetResult {
  /** Whether the value was stored (or, for a delete, the key is gone). */
  ok: boolean
  /** Why not: out of memory, `add` on a live key, `replace` on a missing or expired key. */
  err?: 'no memory' | 'exists' | 'not found'
  /** Whether entries were evicted from the LRU tail to make room (always `false` for `safe*`). */
  forcible: boolean
}

/** The answer of {@link SharedDict.incr} (Lua's `newval, err, forcible`). */
export interface DictIncrResult {
  /** The new value, when the increment happened. */
  value?: number
  /** Why not. */
  err?: 'not found' | 'not a number' | 'no memory'
  /** Whether entries were evicted to create the entry (only possible with `init`). */
  forcible: boolean
}

/** A fresh entry read by {@link SharedDict.get}. */
export interface DictEntry {
  /** The value (bytes are a fresh copy). */
  value: DictValue
  /** The uint32 flags stored with the value (0 by default). */
  flags: number
}

/** An entry read by {@link SharedDict.getStale}. */
export interface DictStaleEntry extends DictEntry {
  /** `true` when the entry has expired but its memory has not been reused yet. */
  stale: boolean
}

/** Counters of a {@link SharedDict}, shared by every thread attached to it. */
export interface SharedDictStats {
  /** Entries in the dict, expired ones and loader locks included. */
  entries: number
  /** Bytes of arena in used blocks (entry headers, keys, values, alignment). */
  usedBytes: number
  /** Bytes of arena in free blocks ({@link SharedDict.freeSpace}). */
  freeBytes: number
  /** Unexpired entries evicted to make room (behind `forcible: true`). */
  forcibleEvictions: number
  /** Expired entries whose memory was reclaimed. */
  expiredFreed: number
  /** Writes (and lock attempts) that answered "no memory". */
  noMemory: number
  /**
   * Times the dict was emptied because a mutation was left half done: by a
   * thread that died inside it, or by an exception.
   */
  recoveries: number
}

/**
 * What {@link SharedDictOptions.onRecover} is told when a thread repaired
 * the dict after another thread died (or threw) inside a critical section:
 * nginx's alert `shared memory zone "<name>" was locked by <pid>`.
 */
export interface SharedDictRecovery {
  /**
   * How the recovery was triggered:
   * - `'reaped'`: {@link SharedDict.reapThread} (called by the thread that
   *   created the dead worker) found it owning the mutex;
   * - `'owner-timeout'`: a thread waiting for the mutex saw the same owner,
   *   one without a supervisor, hold it with no progress for
   *   `ownerDeadAfter` ms and presumed it dead;
   * - `'taken-over'`: this thread was that owner: it was only paused inside
   *   a mutation, found the mutex taken over when it resumed, and emptied
   *   the dict again, since its own writes may have landed after the
   *   takeover (the operation then ran again);
   * - `'exception'`: an exception escaped a mutation in this thread (it is
   *   also thrown to the caller).
   */
  reason: 'reaped' | 'owner-timeout' | 'taken-over' | 'exception'
  /** `threadId` of the thread that held the mutex (this thread's for `'exception'`). */
  threadId: number
  /**
   * Whether the dict was emptied: the holder was in the middle of a
   * mutation, so the structures could be half relinked. Otherwise only the
   * mutex was taken back.
   */
  emptied: boolean
}

/**
 * The structured-cloneable description of a dict: send it to a worker in
 * `workerData` or with `postMessage` and call {@link SharedDict.attach}
 * there. Cloning shares the buffer, it does not copy it.
 */
export interface SharedDictHandle {
  /** The dict's memory. */
  readonly buffer: SharedArrayBuffer
}

/** Options of {@link SharedDict.create}. */
export interface SharedDictOptions {
  /**
   * Bytes, or `'64m'`, `'512k'`, `'1g'`: from 8 KiB to 4 GiB − 1. This is
   * {@link SharedDict.capacity}; the first 4 KiB and the bucket array
   * (1/64 of the size) hold the dict's own structures.
   */
  size: number | string
  /**
   * Milliseconds since an epoch, used for every expiry; `Date.now` by
   * default. Every thread should use the same clock, since expiry times are
   * absolute values shared by all of them. Called before the dict mutex is
   * taken, never under it.
   */
  clock?: () => number
  /**
   * Called for each recovery this instance performs (see
   * {@link SharedDictRecovery}); each thread sets its own. It runs in a
   * microtask, after the mutex is released, and must not throw. By default
   * a process warning is emitted (`process.emitWarning`, code
   * `MLCACHE_SHARED_DICT_RECOVERED`), like nginx's alert. Every recovery
   * that empties the dict is also counted in `stats().recoveries`.
   */
  onRecover?: (recovery: SharedDictRecovery) => void
  /**
   * How long, in real ms, this thread waits for the mutex behind an owner
   * *without a supervisor* that shows no progress before it presumes that
   * owner dead and takes the mutex over (30 000 by default; `Infinity`:
   * never). A supervised owner (the main thread, and every worker created
   * by a thread that uses a SharedDict or a WorkerBus) is never presumed
   * dead, however long it pauses: its creator reaps it when it exits. Keep
   * it far above the longest GC pause of your threads.
   */
  ownerDeadAfter?: number
}

/** Options of {@link SharedDict.attach}. */
export interface SharedDictAttachOptions {
  /** As {@link SharedDictOptions.clock}; `Date.now` by default. */
  clock?: () => number
  /** As {@link SharedDictOptions.onRecover}; a process warning by default. */
  onRecover?: (recovery: SharedDictRecovery) => void
  /** As {@link SharedDictOptions.ownerDeadAfter}; 30 000 by default. */
  ownerDeadAfter?: number
}
