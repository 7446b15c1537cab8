/**
 * The TTL an entry was written with, kept in bits 16 to 31 of its flags, so
 * that a reader on any thread, process or host knows how far into its life
 * the entry is (refresh-ahead reloads in the last part of it). Stores keep
 * all 32 flag bits, and readers of format version 1 ignore these bits, so
 * entries without them (written before) still read: their life is unknown.
 *
 * Sixteen bits hold a small float: an 11-bit mantissa and a 5-bit exponent,
 * `mantissa * 2^exponent` milliseconds. TTLs below 2,048 ms are exact, longer
 * ones within 0.1 %, up to about 139 years.
 */

const LIFE_SHIFT = 16
const MANTISSA_BITS = 11
const MANTISSA_MAX = (1 << MANTISSA_BITS) - 1
const EXPONENT_MAX = 31
const LOW_BITS = 0xffff

/** `flags` with bits 16 to 31 set to `ttl` (ms; `0`, "never expires", stores no life). */
export function withLifetime(flags: number, ttl: number): number {
  return ((flags & LOW_BITS) | (encodeLife(ttl) << LIFE_SHIFT)) >>> 0
}

/** The TTL `flags` were written with (ms, rounded as {@link withLifetime} keeps it), `undefined` when they hold none. */
export function lifetimeOf(flags: number): number | undefined {
  const code = flags >>> LIFE_SHIFT
  if (code === 0) return undefined
  return (code & MANTISSA_MAX) * 2 ** (code >>> MANTISSA_BITS)
}

function encodeLife(ttl: number): number {
  if (!(ttl > 0)) return 0
  // Rounded up: a reader may start a refresh a hair early, never late.
  let mantissa = Math.ceil(ttl)
  let exponent = 0
  while (mantissa > MANTISSA_MAX) {
    exponent++
    mantissa = Math.ceil(ttl / 2 ** exponent)
  }
  if (exponent > EXPONENT_MAX) return (EXPONENT_MAX << MANTISSA_BITS) | MANTISSA_MAX
  return (exponent << MANTISSA_BITS) | mantissa
}
