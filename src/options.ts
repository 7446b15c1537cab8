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
  /** `0`: off. */
  readonly staleWhileRevalidate: number
  readonly refreshAhead: number | undefined
  readonly loaderTimeout: { readonly soft: number | undefined; readonly hard: number | undefined } | undefined
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
  'staleWhileRevalidate', 'refreshAhead', 'loaderTimeout', 'onBackgroundError',
])
const GET_OPTIONS = new Set([
  'ttl', 'negTtl', 'resurrectTtl', 'l1Serializer', 'setTries', 'lockTimeout', 'lockExptime',
  'staleWhileRevalidate', 'refreshAhead', 'loaderTimeout',
])
const LOADER_TIMEOUT_OPTIONS = new Set(['soft', 'hard'])
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
  if (options.staleWhileRevalidate !== undefined) assertDuration(options.staleWhileRevalidate, `${name}.staleWhileRevalidate`)
  if (options.refreshAhead !== undefined) {
    const fraction = options.refreshAhead
    if (typeof fraction !== 'number') throw new TypeError(`${name}.refreshAhead must be a number`)
    if (!(fraction > 0 && fraction < 1)) throw new RangeError(`${name}.refreshAhead must be > 0 and < 1`)
  }
  if (options.loaderTimeout !== undefined) assertLoaderTimeout(options.loaderTimeout, `${name}.loaderTimeout`)
}

/** `{ soft?, hard? }`: timer durations, `soft` below `hard` (a soft limit past the hard one could never apply). */
function assertLoaderTimeout(timeout: unknown, name: string): void {
  if (typeof timeout !== 'object' || timeout === null || Array.isArray(timeout)) throw new TypeError(`${name} must be an object`)
  assertKnownOptions(timeout, LOADER_TIMEOUT_OPTIONS, name)
  const { soft, hard } = timeout as { soft?: unknown; hard?: unknown }
  if (soft !== undefined) assertTimerDuration(soft, `${name}.soft`)
  if (hard !== undefined) assertTimerDuration(hard, `${name}.hard`)
  if (typeof soft === 'number' && typeof hard === 'number' && !(soft < hard)) throw new RangeError(`${name}.soft must be < ${name}.hard`)
}

/** The loader timeout as resolved: `undefined` when neither limit is set. */
function resolveLoaderTimeout(timeout: { soft?: number | undefined; hard?: number | undefined } | undefined): ResolvedOptions<unknown>['loaderTimeout'] {
  if (timeout?.soft === undefined && timeout?.hard === undefined) return undefined
  return { soft: timeout.soft, hard: timeout.hard }
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
  if (given.onBackgroundError !== undefined) assertFunction(given.onBackgroundError, 'options.onBackgroundError')
  return {
    ttl: given.ttl ?? DEFAULTS.ttl,
    negTtl: given.negTtl ?? DEFAULTS.negTtl,
    resurrectTtl: given.resurrectTtl,
    l1Serializer: given.l1Serializer,
    setTries: given.setTries ?? DEFAULTS.setTries,
    lockTimeout: given.lockTimeout ?? DEFAULTS.lockTimeout,
    lockExptime: given.lockExptime ?? DEFAULTS.lockExptime,
    staleWhileRevalidate: given.staleWhileRevalidate ?? 0,
    refreshAhead: given.refreshAhead,
    loaderTimeout: resolveLoaderTimeout(given.loaderTimeout),
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
    staleWhileRevalidate: call.staleWhileRevalidate ?? base.staleWhileRevalidate,
    refreshAhead: call.refreshAhead ?? base.refreshAhead,
    // Per call, the whole object replaces the cache's: `{ hard: 50 }` drops the cache's soft limit.
    loaderTimeout: call.loaderTimeout === undefined ? base.loaderTimeout : resolveLoaderTimeout(call.loaderTimeout),
  }
}
