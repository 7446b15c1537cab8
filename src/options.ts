/**
 * Validation and merging of MLCache's options. Messages name the option
 * (`options.ttl must be >= 0`), as upstream's `opts.ttl must be >= 0` did.
 */
import { MAX_LRU_SIZE } from './l1/l1-cache.js'
import type { GetOptions, MLCacheOptions, SetOptions } from './types.js'
import {
  assertDuration,
  assertFunction,
  assertIntegerAtLeast,
  assertKnownOptions,
  assertNumberAtLeast,
  assertOptionsObject,
  assertTimerDuration,
} from './internal/validate.js'

/** The per-call tunables once defaults and overrides are applied. */
export interface ResolvedOptions<V> {
  readonly ttl: number
  readonly negTtl: number
  readonly resurrectTtl: number | undefined
  readonly l1Serializer: ((value: V) => unknown) | undefined
  readonly setTries: number
  readonly lockTimeout: number
  readonly lockExptime: number
}

/** Upstream's defaults, in milliseconds. */
export const DEFAULTS = {
  lruSize: 100,
  ttl: 30_000,
  negTtl: 5_000,
  setTries: 3,
  lockTimeout: 5_000,
  lockExptime: 30_000,
} as const

const CONSTRUCTOR_OPTIONS = new Set([
  'store', 'missStore', 'lockStore', 'bus', 'lruSize', 'lru', 'ttl', 'negTtl', 'resurrectTtl',
  'l1Serializer', 'setTries', 'lockTimeout', 'lockExptime', 'clock',
])
const GET_OPTIONS = new Set(['ttl', 'negTtl', 'resurrectTtl', 'l1Serializer', 'setTries', 'lockTimeout', 'lockExptime'])
const SET_OPTIONS = new Set(['ttl', 'negTtl', 'l1Serializer', 'setTries'])
// Option names nobody reads are rejected (assertKnownOptions): a typo such as `negTTL` should not pass silently.

/** Validates the tunables present in `options` (a per-call object or the constructor's). */
function assertTunables<V>(options: GetOptions<V, unknown>, name: string): void {
  if (options.ttl !== undefined) assertDuration(options.ttl, `${name}.ttl`)
  if (options.negTtl !== undefined) assertDuration(options.negTtl, `${name}.negTtl`)
  if (options.resurrectTtl !== undefined) {
    // Upstream accepted 0 and then resurrected forever (quirk 7); the contract requires > 0.
    assertDuration(options.resurrectTtl, `${name}.resurrectTtl`)
    if (options.resurrectTtl === 0) throw new RangeError(`${name}.resurrectTtl must be > 0`)
  }
  if (options.l1Serializer !== undefined) assertFunction(options.l1Serializer, `${name}.l1Serializer`)
  if (options.setTries !== undefined) assertIntegerAtLeast(options.setTries, `${name}.setTries`, 1)
  // lockTimeout bounds a store's wait for the lock (a timer); the TTLs and the lease are data a store keeps.
  if (options.lockTimeout !== undefined) assertTimerDuration(options.lockTimeout, `${name}.lockTimeout`)
  if (options.lockExptime !== undefined) {
    assertNumberAtLeast(options.lockExptime, `${name}.lockExptime`, 0)
    if (options.lockExptime === 0) throw new RangeError(`${name}.lockExptime must be > 0`)
  }
}

/** Validates the constructor's options (everything but the stores, bus and L1, checked by MLCache). */
export function resolveCacheOptions<V>(options: MLCacheOptions<V, unknown> | undefined): ResolvedOptions<V> {
  assertOptionsObject(options)
  const given = options ?? {}
  assertKnownOptions(given, CONSTRUCTOR_OPTIONS, 'options')
  assertTunables(given, 'options')
  if (given.lruSize !== undefined) {
    assertIntegerAtLeast(given.lruSize, 'options.lruSize', 0)
    if (given.lruSize > MAX_LRU_SIZE) throw new RangeError(`options.lruSize must be <= ${MAX_LRU_SIZE}`)
  }
  if (given.clock !== undefined) assertFunction(given.clock, 'options.clock')
  return {
    ttl: given.ttl ?? DEFAULTS.ttl,
    negTtl: given.negTtl ?? DEFAULTS.negTtl,
    resurrectTtl: given.resurrectTtl,
    l1Serializer: given.l1Serializer,
    setTries: given.setTries ?? DEFAULTS.setTries,
    lockTimeout: given.lockTimeout ?? DEFAULTS.lockTimeout,
    lockExptime: given.lockExptime ?? DEFAULTS.lockExptime,
  }
}

/**
 * Merges per-call options over the cache's. Merging is nullish, never
 * truthy: upstream notes that `0` must override (it is truthy in Lua).
 * Without per-call options the cache's object is returned as is.
 */
export function mergeCallOptions<V>(
  base: ResolvedOptions<V>,
  options: GetOptions<V, unknown> | SetOptions<V, unknown> | undefined,
  kind: 'get' | 'set',
): ResolvedOptions<V> {
  if (options === undefined) return base
  assertOptionsObject(options)
  assertKnownOptions(options, kind === 'get' ? GET_OPTIONS : SET_OPTIONS, 'options')
  assertTunables(options as GetOptions<V, unknown>, 'options')
  const call = options as GetOptions<V, unknown>
  return {
    ttl: call.ttl ?? base.ttl,
    negTtl: call.negTtl ?? base.negTtl,
    resurrectTtl: call.resurrectTtl ?? base.resurrectTtl,
    l1Serializer: call.l1Serializer ?? base.l1Serializer,
    setTries: call.setTries ?? base.setTries,
    lockTimeout: call.lockTimeout ?? base.lockTimeout,
    lockExptime: call.lockExptime ?? base.lockExptime,
  }
}
