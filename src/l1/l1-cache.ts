/**
 * L1: this thread's LRU of live values, and the one rule for what goes in
 * it: the L1 form of a value (`l1Serializer`, the negative sentinel) and
 * the TTL it is kept for, so that L1 never outlives L2.
 */
import { LRUCache } from 'lru-cache'
import { SerializerError } from '../errors.js'
import { describe } from '../internal/describe.js'
import type { L1Store } from '../types.js'

/**
 * The L1 value of a "not found" entry (upstream's private sentinel table).
 * A frozen object, so an L1 can hold it like any value.
 */
export const NEGATIVE: object = Object.freeze({ mlcache: 'not found' })

/**
 * The most slots the default L1 takes (`lruSize`). lru-cache allocates its
 * arrays for every slot up front, used or not: 40 bytes a slot when the
 * cache is made (key and value arrays on the heap, index arrays beside it)
 * and 16 more at the first entry with a TTL (expiry arrays), 56 MB at this
 * maximum. Ten million slots (560 MB) already strain a small heap, and
 * 10^8 abort the process with an uncatchable out-of-memory error; a larger
 * L1 can still be passed as a custom `lru`.
 */
export const MAX_LRU_SIZE = 1_000_000

/** The L1 of `lruSize: 0`: remembers nothing. */
const DISABLED_L1: L1Store = {
  get: () => undefined,
  set: () => undefined,
  delete: () => false,
  clear: () => undefined,
}

/**
 * How much shorter the default L1 keeps an entry than its TTL: lru-cache
 * counts an entry stale only once `now - start > ttl`, L2 once
 * `now >= start + ttl`; shortening by a hair makes both expire at the same
 * instant on a clock of whole milliseconds.
 */
const EXPIRY_ALIGNMENT = 1e-6

/**
 * Reused by every L1 write: lru-cache reads it synchronously. It also stores
 * its diagnostics `status` object on it, reset before each write. `start: 0`
 * for an entry that never expires spares lru-cache a clock read for a TTL
 * start it never uses (clock reads cost tens of nanoseconds on some VMs).
 */
const SET_OPTIONS: { ttl: number; start: number | undefined; status: undefined } = { ttl: 0, start: undefined, status: undefined }

/**
 * One L1: the default lru-cache on the cache's clock, a custom `lru` used as
 * given, or nothing (`lruSize: 0`).
 */
export class L1 {
  /** The store itself (the contract lets a custom `lru` be inspected). */
  readonly lru: L1Store
  /** Whether this is the default lru-cache, whose TTLs need {@link EXPIRY_ALIGNMENT}. */
  readonly #aligned: boolean

  /**
   * @param lruSize - slots of the default L1; `0` disables L1
   * @param clock - the cache's clock, which the default L1 follows
   * @param lru - a custom L1, used as given instead of the default
   */
  constructor(lruSize: number, clock: () => number, lru?: L1Store) {
    if (lru !== undefined) {
      this.lru = lru
      this.#aligned = false
    } else if (lruSize === 0) {
      this.lru = DISABLED_L1
      this.#aligned = false
    } else {
      // On the wall clock, lru-cache may cache the time for 1 ms (one unref'd
      // timer, no clock read per hit); an injected clock is read every time.
      // The clock is shifted by one: lru-cache ignores TTLs whose start is exactly 0.
      const ttlResolution = clock === Date.now ? 1 : 0
      this.lru = new LRUCache<string, object>({ max: lruSize, ttlResolution, perf: { now: () => clock() + 1 } })
      this.#aligned = true
    }
  }

  /** The L1 value of `key` (the negative sentinel for "not found"), `undefined` on a miss. */
  get(key: string): unknown {
    return this.lru.get(key)
  }

  /**
   * Keeps `value` (an L1 form) for `ttl` milliseconds of life: `0` never
   * expires, anything else is finite. A TTL too short to represent (a
   * negative one, or one that the alignment would turn into lru-cache's "no
   * TTL") stores nothing and drops what the key held, so a finite TTL never
   * becomes "never" and L1 never serves what L2 considers gone.
   */
  set(key: string, value: unknown, ttl: number): void {
    const lruTtl = ttl === 0 || !this.#aligned ? ttl : ttl - EXPIRY_ALIGNMENT
    if (ttl < 0 || (ttl > 0 && !(lruTtl > 0))) {
      this.lru.delete(key)
      return
    }
    SET_OPTIONS.ttl = lruTtl
    SET_OPTIONS.start = lruTtl === 0 ? 0 : undefined
    SET_OPTIONS.status = undefined
    this.lru.set(key, value, SET_OPTIONS)
  }

  /** Drops `key`. */
  delete(key: string): void {
    this.lru.delete(key)
  }

  /** Drops everything. */
  clear(): void {
    this.lru.clear()
  }
}

/**
 * The L1 form of a value: the negative sentinel for "not found", else the
 * value through `serializer` when there is one.
 * @throws {SerializerError} the serializer threw or returned `undefined`
 */
export function toL1Form<V>(value: V | null | undefined, serializer: ((value: V) => unknown) | undefined): unknown {
  if (value === undefined || value === null) return NEGATIVE
  if (serializer === undefined) return value
  let serialized: unknown
  try {
    serialized = serializer(value)
  } catch (error) {
    throw new SerializerError(`l1Serializer threw: ${describe(error)}`, { cause: error })
  }
  if (serialized === undefined) throw new SerializerError('l1Serializer returned undefined')
  return serialized
}

/** What a caller receives for an L1 form: `undefined` for the negative sentinel. */
export function fromL1Form<T>(form: unknown): T | undefined {
  return form === NEGATIVE ? undefined : (form as T)
}
