/**
 * Argument checks shared by every public entry point. Each throws a
 * `TypeError` or `RangeError` whose message names the argument, as the
 * contract requires (`key must be a string`, `options.ttl must be >= 0`).
 */

/** The largest key, in UTF-8 bytes (lua_shared_dict's limit). */
export const MAX_KEY_BYTES = 65_535

/**
 * Throws unless `key` is a well-formed string of 1 to {@link MAX_KEY_BYTES}
 * UTF-8 bytes.
 */
export function assertKey(key: unknown): asserts key is string {
  assertKeyShape(key)
  assertWellFormed(key, 'key')
}

/**
 * Throws unless `key` is a string of 1 to {@link MAX_KEY_BYTES} UTF-8 bytes,
 * well-formed or not: for an L1 lookup, which compares keys as exact UTF-16,
 * when well-formedness is checked before the key reaches a store. The byte
 * length is only computed when the string could be too long, so the common
 * short key costs two comparisons.
 */
export function assertKeyShape(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TypeError('key must be a string')
  if (key.length === 0) throw new RangeError('key must not be empty')
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes.
  if (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new RangeError(`key must be at most ${MAX_KEY_BYTES} UTF-8 bytes`)
  }
}

/**
 * Throws unless the string `value` is well-formed UTF-16 (no lone
 * surrogate). Stores keep entries under the UTF-8 bytes of their keys, and
 * UTF-8 turns every lone surrogate into U+FFFD: `'\uD800'`, `'\uDBFF'` and
 * `'\uFFFD'` would be one key. Refusing them keeps distinct keys distinct.
 */
export function assertWellFormed(value: string, name: string): void {
  if (!value.isWellFormed()) throw new TypeError(`${name} must be well-formed UTF-16 (it holds a lone surrogate)`)
}

/** Throws unless `value` is a finite number >= `min`. */
export function assertNumberAtLeast(value: unknown, name: string, min: number): asserts value is number {
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${name} must be a number`)
  if (!(value >= min) || value === Infinity) {
    throw new RangeError(value === Infinity ? `${name} must be finite` : `${name} must be >= ${min}`)
  }
}

/** Throws unless `value` is an integer >= `min`. */
export function assertIntegerAtLeast(value: unknown, name: string, min: number): asserts value is number {
  assertNumberAtLeast(value, name, min)
  if (!Number.isInteger(value)) throw new RangeError(`${name} must be an integer`)
}

/** Throws unless `value` is a duration in milliseconds: a finite number >= 0. */
export function assertDuration(value: unknown, name: string): asserts value is number {
  assertNumberAtLeast(value, name, 0)
}

/**
 * The longest delay a timer honours, in ms (2^31 - 1, about 24.8 days):
 * Node fires any longer `setTimeout` after 1 ms instead (with a warning).
 */
export const MAX_TIMER_MS = 0x7fff_ffff

/**
 * Throws unless `value` is a duration that can drive a timer (a
 * `setTimeout`, `Atomics.waitAsync` or a store's wait): a finite number
 * from 0 to {@link MAX_TIMER_MS}. Durations only stored as data, such as
 * TTLs, may be longer and use {@link assertDuration}.
 */
export function assertTimerDuration(value: unknown, name: string): asserts value is number {
  assertDuration(value, name)
  if (value > MAX_TIMER_MS) throw new RangeError(`${name} must be <= ${MAX_TIMER_MS} (a timer's longest delay)`)
}

/** Throws unless `value` is a function. */
export function assertFunction(value: unknown, name: string): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function`)
}

/** Throws unless `value` is a plain options object (or `undefined`). */
export function assertOptionsObject(value: unknown): asserts value is object | undefined {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new TypeError('options must be an object')
  }
}

/** Throws a `TypeError` naming the first own key of `options` that is not in `known`. */
export function assertKnownOptions(options: object, known: ReadonlySet<string>, name = 'options'): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new TypeError(`${name}.${key} is not a known option`)
  }
}
