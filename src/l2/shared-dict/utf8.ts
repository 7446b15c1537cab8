/**
 * UTF-8 encoding into scratch buffers, done before the dict mutex is taken
 * (nothing but copying happens under the lock), and
 * decoding of stored strings.
 */

import type { SlicingBuffer } from './layout.js'

const encoder = new TextEncoder()

/**
 * Writes `text` as UTF-8 into `target` at `pos` and answers the end offset.
 * The caller guarantees `text.length * 3` bytes of room (the UTF-8 worst
 * case per UTF-16 code unit). ASCII, the common key, is copied by a plain
 * loop that allocates nothing; `encodeInto` takes over at the first other
 * character (lone surrogates become U+FFFD, as in every UTF-8 encoder).
 */
export function writeUtf8(text: string, target: Uint8Array, pos: number): number {
  const length = text.length
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) return pos + i + encoder.encodeInto(text.slice(i), target.subarray(pos + i)).written
    target[pos + i] = c
  }
  return pos + length
}

/** Writes the decimal digits of the non-negative integer `n` at `pos`; answers the end offset. */
export function writeDecimal(n: number, target: Uint8Array, pos: number): number {
  let end = pos + 1
  for (let m = n; m >= 10; m = Math.floor(m / 10)) end++
  let at = end
  do {
    target[--at] = 0x30 + (n % 10)
    n = Math.floor(n / 10)
  } while (n > 0)
  return end
}

/** Up to this many bytes, an ASCII string is decoded in JS: ~30-55 ns against ~65 ns for the native call. */
const SHORT_STRING_BYTES = 16

/** One reusable array of char codes per short length, for `String.fromCharCode.apply`. */
const charCodes: number[][] = Array.from({ length: SHORT_STRING_BYTES + 1 }, (_, n) => new Array<number>(n).fill(0))

/**
 * Decodes the UTF-8 bytes `buf[start .. start + length)`: a short ASCII
 * string (most keys and small values) in JS, anything else with the
 * native `utf8Slice`.
 */
export function readUtf8(buf: SlicingBuffer, start: number, length: number): string {
  if (length <= SHORT_STRING_BYTES) {
    const codes = charCodes[length]!
    let i = 0
    while (i < length) {
      const c = buf[start + i]!
      if (c >= 0x80) break
      codes[i++] = c
    }
    if (i === length) return String.fromCharCode.apply(null, codes)
  }
  return buf.utf8Slice(start, start + length)
}

/** Decodes UTF-8 `bytes` (a large string value copied out of the dict) into a string. */
export function decodeUtf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
}
