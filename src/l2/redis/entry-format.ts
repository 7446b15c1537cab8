/**
 * How a RedisStore entry reads back: an entry is one Redis string, a
 * 20-byte header then the value bytes, and its namespace's metadata
 * another, so that an L2 hit is one plain `MGET` (see `store-scripts.ts`,
 * which writes both).
 *
 * | bytes | entry | namespace metadata |
 * |---|---|---|
 * | 0–3 | flags (uint32, big-endian) | purge generation (double) … |
 * | 4–11 | expiry instant, server ms (double; `0`: never) | … then the instant of the last purge, server ms (double) |
 * | 12–19 | the namespace generation it was written under (double) | |
 * | 20– | the value | |
 */
import type { L2Entry } from '../l2-store.js'

/** The size of an entry's header. */
const ENTRY_HEADER_BYTES = 20

/**
 * The entry `raw` describes at server time `now` (ms), given its
 * namespace's `meta`, with a private copy of its bytes; `undefined` when
 * absent. An entry written under an older generation was purged: it
 * expired when the purge ran, if not before (as `flush_all` expires
 * everything but lets `get_stale` see it), so it is never fresh again yet
 * stays readable as stale, marked `purged`.
 */
export function decodeEntry(raw: Buffer | null, meta: Buffer | null, now: number): L2Entry | undefined {
  if (raw === null || raw.length < ENTRY_HEADER_BYTES) return undefined
  const flags = raw.readUInt32BE(0)
  let expires = raw.readDoubleBE(4)
  const generation = meta === null ? 0 : meta.readDoubleBE(0)
  const value = new Uint8Array(raw.subarray(ENTRY_HEADER_BYTES))
  if (raw.readDoubleBE(12) !== generation) {
    const purgedAt = meta === null ? now : meta.readDoubleBE(8)
    if (expires === 0 || expires > purgedAt) expires = purgedAt
    return { value, flags, ttl: Math.min(expires - now, 0), stale: true, purged: true }
  }
  if (expires === 0) return { value, flags, ttl: 0, stale: false }
  const ttl = expires - now
  return { value, flags, ttl, stale: ttl <= 0 }
}
