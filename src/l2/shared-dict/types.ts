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
  /** Times the dict was emptied because a mutation was left half done. */
  recoveries: number
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
}

/** Options of {@link SharedDict.attach}. */
export interface SharedDictAttachOptions {
  /** As {@link SharedDictOptions.clock}; `Date.now` by default. */
  clock?: () => number
}
