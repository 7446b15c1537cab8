/**
 * The Lua scripts of RedisStore: one per operation that must be atomic, so
 * that each is one round trip (Redis runs a script to its end before
 * anything else). The reads are no script at all: an L2 hit is one plain
 * `MGET` of the entry and its namespace's metadata, decoded by
 * `entry-format.ts` (a script costs Redis about ten times what an `MGET`
 * does). Layouts (see `redis-keys.ts` and `entry-format.ts`):
 *
 * - entry: a string, a 20-byte header (flags as uint32, the expiry instant
 *   in server ms as a double, `0`: never; the namespace generation it was
 *   written under, a double), then the value bytes;
 * - namespace metadata: a string of two doubles, the purge generation
 *   (absent: 0) and the server instant of the last purge;
 * - lock: a hash, `o` owner token, `g` the namespace generation at
 *   acquisition, `v` present once its fence is voided, `w` present once
 *   someone waits; the lease is the key's own expiry (PEXPIRE).
 *
 * Time is always Redis's (`TIME`; Redis 7 replicates a script's effects,
 * not the script, so reading the clock before writing is allowed): hosts
 * whose clocks disagree still agree on what is fresh.
 *
 * Every script starts with a shebang (Redis 7) whose flags say how it
 * behaves when Redis is out of memory (`maxmemory` reached, `noeviction`):
 * a script without flags is refused whole with an OOM error before it
 * changes anything, which `writeEntry` and `tryLock` answer as
 * `'no memory'`; the scripts that free memory or only mark a lock
 * (`allow-oom`) still run.
 */
import { RedisScript } from './redis-script.js'

/** Lua: `now`, the server's time in ms. */
const NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

/** Lua: `gen`, the namespace's purge generation (a number) from its metadata in KEYS[n]. */
const generation = (n: number) => `local meta = redis.call('GET', KEYS[${n}])
local gen = 0
if meta then gen = struct.unpack('>d', meta) end
`

/**
 * KEYS: entry, meta, lock. ARGV: value, flags, ttl (ms, 0: never), how long
 * Redis keeps the key (ttl + stale window, ms), then the fence token if the
 * write is fenced. Answers 1 (stored) or 0 (fenced: nothing changed).
 *
 * A fenced write needs the lock (alive: an ended lease is an expired key)
 * held by the token, not voided, and taken under the namespace's current
 * generation (a purge since voids it). An unfenced write voids the lock's
 * fence and leaves the lock held.
 */
export const WRITE_ENTRY = new RedisScript(`#!lua
${NOW}${generation(2)}if #ARGV >= 5 then
  local lock = redis.call('HMGET', KEYS[3], 'o', 'g', 'v')
  if lock[1] ~= ARGV[5] or tonumber(lock[2]) ~= gen or lock[3] then return 0 end
elseif redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 'v', '1')
end
local ttl = tonumber(ARGV[3])
local expires = 0
if ttl > 0 then expires = now + ttl end
local entry = struct.pack('>I4dd', tonumber(ARGV[2]), expires, gen) .. ARGV[1]
if ttl > 0 then redis.call('SET', KEYS[1], entry, 'PX', ARGV[4]) else redis.call('SET', KEYS[1], entry) end
return 1
`)

/** KEYS: entry, lock. Removes the entry and voids the lock's fence (the lock stays held). */
export const DELETE_ENTRY = new RedisScript(`#!lua flags=allow-oom
redis.call('UNLINK', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'v', '1') end
return 1
`)

/**
 * KEYS: meta. Bumps the namespace's generation and records when: O(1),
 * whatever the namespace holds. Every entry and lock fence of an older
 * generation is now expired, respectively void. Answers the new generation.
 */
export const PURGE_NAMESPACE = new RedisScript(`#!lua flags=allow-oom
${NOW}${generation(1)}gen = gen + 1
redis.call('SET', KEYS[1], struct.pack('>dd', gen, now))
return gen
`)

/**
 * KEYS: entries found by one SCAN batch. ARGV: the purge's generation.
 * Unlinks those written under an older generation (entries written since
 * the purge stay). Answers how many it removed.
 */
export const FLUSH_PURGED = new RedisScript(`#!lua flags=allow-oom
local purge = tonumber(ARGV[1])
local removed = 0
for i = 1, #KEYS do
  local header = redis.pcall('GETRANGE', KEYS[i], 12, 19)
  if type(header) == 'string' and #header == 8 and struct.unpack('>d', header) < purge then
    redis.call('UNLINK', KEYS[i])
    removed = removed + 1
  end
end
return removed
`)

/**
 * KEYS: lock, meta. ARGV: token, lease (ms). Answers 1 (acquired) or 0
 * (held: a live lease exists). Refused whole when Redis is out of memory.
 */
export const TRY_LOCK = new RedisScript(`#!lua
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
${generation(2)}redis.call('HSET', KEYS[1], 'o', ARGV[1], 'g', string.format('%.0f', gen))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

/** KEYS: lock. ARGV: token, lease (ms). Renews the lease of the token's live lock; answers 1 or 0. */
export const EXTEND_LOCK = new RedisScript(`#!lua flags=allow-oom
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`)

/**
 * KEYS: lock. ARGV: token, release channel. Compare-and-delete; announces
 * the release (message: the lock's key) only if someone waits. Answers 1
 * (released) or 0.
 */
export const UNLOCK = new RedisScript(`#!lua flags=allow-oom
local lock = redis.call('HMGET', KEYS[1], 'o', 'w')
if lock[1] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if lock[2] then redis.call('PUBLISH', ARGV[2], KEYS[1]) end
return 1
`)

/**
 * KEYS: lock. Marks the live lock as waited for, so that its release is
 * announced. Answers the ms left of its lease, `0` when no lock is held
 * (or it ends now), `-1` for a lock without a lease (never written by a
 * RedisStore).
 */
export const WATCH_LOCK = new RedisScript(`#!lua flags=allow-oom
local left = redis.call('PTTL', KEYS[1])
if left == -2 then return 0 end
redis.call('HSET', KEYS[1], 'w', '1')
return left
`)
