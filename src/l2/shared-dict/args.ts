/**
 * Argument checks of SharedDict beyond `internal/validate.ts`. Where Lua
 * answers `nil, "bad value type"` or raises `bad "exptime" argument`, the
 * contract throws a `TypeError`/`RangeError` naming the argument.
 */

import { assertDuration } from '../../internal/validate.js'

/** A TTL in ms (`undefined` = 0 = never); throws like `ttl must be >= 0`. */
export function ttlArgument(ttl: unknown, name: string): number {
  if (ttl === undefined) return 0
  assertDuration(ttl, name)
  return ttl
}

/** User flags: a uint32, 0 when `undefined` (Lua's `flags` argument). */
export function flagsArgument(flags: unknown): number {
  if (flags === undefined) return 0
  if (typeof flags !== 'number') throw new TypeError('flags must be a number')
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
    throw new RangeError('flags must be an integer from 0 to 4294967295')
  }
  return flags
}

/** Throws unless `value` is a finite number (`incr`'s `step` and `init`). */
export function assertFinite(value: unknown, name: string): asserts value is number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`)
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be finite`)
}

/** Throws unless `value` is a string (L2Store namespaces and lock tokens). */
export function assertString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string`)
}
