/**
 * The unique-hash dedup of a WorkerBus, in shared memory: lua-resty-events'
 * broker drops a unique hash published again within `unique_timeout` (its
 * 1,024-entry `resty.lrucache`); here every publisher checks the same table
 * under the append mutex, so the window holds across threads.
 *
 * An open-addressing table of {@link UNIQUE_TABLE_CAPACITY} entries
 * `{ hash1 i32, hash2 i32, expiry f64 }` keyed by two independent 32-bit
 * hashes of the string (a false match needs both to collide: about 2^-64).
 * A lookup scans a fixed window of {@link PROBE_WINDOW} entries from
 * `hash1`, so entries never need deleting: an expired one is free. When the
 * window is full of live hashes the one expiring soonest is overwritten; that
 * hash may then be handled twice, as when the broker's LRU evicts (dedup
 * weakens under load, memory stays bounded).
 *
 * Only ever touched with the append mutex held: plain reads and writes.
 */
import { type BusViews, UNIQUE_TABLE_CAPACITY } from './worker-bus-layout.js'

/** Entries scanned per lookup. */
const PROBE_WINDOW = 16
/** Int32 words per entry (the f64 expiry takes words 2 and 3). */
const ENTRY_WORDS = 4

/** Two independent 32-bit hashes of `text` (FNV-1a and a murmur-style mix), over UTF-16 units. */
export function hashPair(text: string): [number, number] {
  let a = 0x811c9dc5
  let b = 0x9747b28c ^ text.length
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    a = Math.imul(a ^ unit, 0x01000193)
    b = Math.imul(b ^ unit, 0x5bd1e995)
    b ^= b >>> 15
  }
  b = Math.imul(b ^ (b >>> 13), 0xc2b2ae35)
  return [a | 0, (b ^ (b >>> 16)) | 0]
}

/**
 * Answers `true` and starts a window of `timeout` ms for `hash` unless one is
 * running, in which case it answers `false` (a duplicate, to drop). A
 * duplicate does not extend the window, as in the broker. Call with the
 * append mutex held.
 */
export function claimUniqueHash(views: BusViews, hash: string, timeout: number, now: number): boolean {
  const { i32, f64, uniqueWord } = views
  const [h1, h2] = hashPair(hash)
  let free = -1
  let oldest = -1
  let oldestExpiry = Infinity
  for (let probe = 0; probe < PROBE_WINDOW; probe++) {
    const word = uniqueWord + ((h1 + probe) & (UNIQUE_TABLE_CAPACITY - 1)) * ENTRY_WORDS
    const expiry = f64[(word + 2) / 2] ?? 0
    if (i32[word] === h1 && i32[word + 1] === h2 && expiry !== 0) {
      if (expiry > now) return false
      free = word // this hash's own expired entry: reuse it
      break
    }
    if (expiry <= now) {
      if (free === -1) free = word
    } else if (expiry < oldestExpiry) {
      oldestExpiry = expiry
      oldest = word
    }
  }
  const word = free === -1 ? oldest : free
  i32[word] = h1
  i32[word + 1] = h2
  f64[(word + 2) / 2] = now + timeout
  return true
}
