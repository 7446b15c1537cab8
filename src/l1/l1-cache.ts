/**
 * L1: the per-thread LRU of live values, and the registry that lets caches
 * with the same name and the same store share one L1 (upstream keeps a
 * weak-valued table of lrucaches per name; the contract adds the store to
 * the key, so two stores never mix).
 */
import { LRUCache } from 'lru-cache'
import type { L1Store } from '../types.js'

/**
 * The L1 value of a "not found" entry (upstream's private sentinel table).
 * A frozen object, so an L1 can hold it like any value.
 */
export const NEGATIVE: object = Object.freeze({ mlcache: 'not found' })

/** The L1 of `lruSize: 0`: remembers nothing. */
const DISABLED_L1: L1Store = {
  get: () => undefined,
  set: () => undefined,
  delete: () => false,
  clear: () => undefined,
}

/**
 * Makes the default L1: an lru-cache whose clock is the cache's. Two
 * adjustments keep its expiry identical to L2's (an entry is gone once
 * `now >= start + ttl`): lru-cache counts an entry stale only when
 * `now - start > ttl` and ignores TTLs whose start is exactly 0, so the
 * clock is shifted by one and the TTL shortened by a hair (see {@link l1Ttl}).
 */
function createDefaultL1(max: number, clock: () => number): L1Store {
  if (max === 0) return DISABLED_L1
  // On the wall clock, lru-cache may cache the time for 1 ms (its default: one
  // unref'd timer, no clock read per hit); an injected clock is read every time.
  const ttlResolution = clock === Date.now ? 1 : 0
  return new LRUCache<string, object>({ max, ttlResolution, perf: { now: () => clock() + 1 } })
}

/** The TTL to hand to the default L1 for `ttl` milliseconds of life (`0`: never). */
function l1Ttl(ttl: number): number {
  return ttl === 0 ? 0 : ttl - 1e-6
}

/**
 * Reused by every L1 write: lru-cache reads it synchronously. It also stores
 * its diagnostics `status` object on it, reset before each write. `start: 0`
 * for an entry that never expires spares lru-cache a clock read for a TTL
 * start it never uses (clock reads cost tens of nanoseconds on some VMs).
 */
const SET_OPTIONS: { ttl: number; start: number | undefined; status: undefined } = { ttl: 0, start: undefined, status: undefined }

/** One L1 and what goes with it: the loads in flight for its keys. */
export class L1Group {
  static #nextId = 1
  /** Identifies this L1 in bus events, so it ignores its own invalidations. */
  readonly id = L1Group.#nextId++
  /** Loads in flight by key: concurrent callers in this thread share one. */
  readonly inflight = new Map<string, Promise<unknown>>()
  /** Whether this L1 is the default lru-cache (its TTLs need {@link l1Ttl}). */
  readonly #isDefault: boolean
  refs = 1

  constructor(
    readonly lru: L1Store,
    isDefault: boolean,
    readonly release: () => void = () => undefined,
  ) {
    this.#isDefault = isDefault
  }

  /**
   * Stores `value` for `ttl` milliseconds of life (`0`: never expires; a
   * negative TTL stores nothing). A custom `lru` gets `ttl` as is; the
   * default one gets it shortened so that it expires exactly with L2 (see
   * {@link createDefaultL1}).
   */
  set(key: string, value: unknown, ttl: number): void {
    const lruTtl = this.#isDefault ? l1Ttl(ttl) : ttl
    if (lruTtl < 0) return
    SET_OPTIONS.ttl = lruTtl
    SET_OPTIONS.start = lruTtl === 0 ? 0 : undefined
    SET_OPTIONS.status = undefined
    this.lru.set(key, value, SET_OPTIONS)
  }
}

const shared = new WeakMap<object, Map<string, L1Group>>()

/**
 * Returns the L1 of (`store`, `name`) in this thread, creating it with
 * `lruSize` on first use; a custom `lru` is used as given and never shared.
 * Call `group.release()` when the cache closes.
 */
export function acquireL1Group(
  store: object,
  name: string,
  lruSize: number,
  clock: () => number,
  lru: L1Store | undefined,
): L1Group {
  if (lru !== undefined) return new L1Group(lru, false)
  let byName = shared.get(store)
  if (byName === undefined) {
    byName = new Map()
    shared.set(store, byName)
  }
  const existing = byName.get(name)
  if (existing !== undefined) {
    existing.refs++
    return existing
  }
  const names = byName
  const group: L1Group = new L1Group(createDefaultL1(lruSize, clock), lruSize !== 0, () => {
    if (--group.refs === 0 && names.get(name) === group) names.delete(name)
  })
  names.set(name, group)
  return group
}
