/**
 * The Lua scripts of RedisStore: one per operation, so that each operation
 * is one round trip and atomic. Time is always Redis's (`TIME`, allowed in
 * scripts since Redis replicates script effects), never the host's, so
 * hosts with skewed clocks agree on what is fresh.
 *
 * The data (see redis-keys.ts for the names):
 *
 * - entry hash: `v` value bytes, `f` flags, `x` expiry instant in server ms
 *   (`0`: never), `s` stale window in ms, `g` the namespace generation it
 *   was written under. Redis drops the key `s` ms after `x` (PEXPIRE).
 * - namespace hash: `g` generation (bumped by each purge), `p` the instant
 *   of the last purge. An entry of an older generation reads as expired at
 *   `p` (or at its own expiry, if earlier): `flush_all` semantics, so it
 *   stays readable as stale within its window and is never fresh again.
 * - lock hash: `o` owner token, `g` the namespace generation when it was
 *   taken (a purge voids its fence), `v` set once its fence is voided by a
 *   write without a fence or a delete, `w` how many waiters it has seen.
 *   Its lease is the key's PEXPIRE.
 *
 * The first line of each script declares its flags (Redis 7): scripts that
 * may grow memory are refused whole, before running, when Redis is at
 * `maxmemory` with `noeviction` (an OOM error the store answers as
 * `'no memory'`); reads run there regardless (`no-writes`); deletes,
 * unlocks and purges free or barely touch memory and must work then too
 * (`allow-oom`).
 */
import { RedisScript } from './redis-script.js'

/** Sets `now` to Redis's time in milliseconds. */
const NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`

/**
 * KEYS: the namespace hash, then the entry keys. Answers per key `{}`
 * (missing, or past its stale window) or `{value, flags, ttl, stale}`.
 */
export const READ_ENTRIES = new RedisScript(`#!lua flags=no-writes
${NOW}
local meta = redis.call('HMGET', KEYS[1], 'g', 'p')
local gen = tonumber(meta[1] or '0')
local purgedAt = tonumber(meta[2] or '0')
local out = {}
for i = 2, #KEYS do
  local entry = redis.call('HMGET', KEYS[i], 'v', 'f', 'x', 's', 'g')
  local result = {}
  if entry[1] then
    local expiry = tonumber(entry[3])
    if tonumber(entry[5]) < gen and (expiry == 0 or expiry > purgedAt) then expiry = purgedAt end
    if expiry == 0 then
      result = {entry[1], tonumber(entry[2]), 0, 0}
    elseif expiry > now then
      result = {entry[1], tonumber(entry[2]), expiry - now, 0}
    elseif now - expiry < tonumber(entry[4]) then
      result = {entry[1], tonumber(entry[2]), expiry - now, 1}
    end
  end
  out[#out + 1] = result
end
return out
`)

/**
 * KEYS: entry, lock, namespace hash. ARGV: value, flags, ttl, stale window,
 * '1' when fenced, fence token. Answers 0 (stored) or 1 (fenced).
 */
export const WRITE_ENTRY = new RedisScript(`#!lua
${NOW}
local gen = redis.call('HGET', KEYS[3], 'g') or '0'
if ARGV[5] == '1' then
  local lock = redis.call('HMGET', KEYS[2], 'o', 'g', 'v')
  if lock[1] ~= ARGV[6] or lock[2] ~= gen or lock[3] then return 1 end
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'v', '1')
end
local ttl = tonumber(ARGV[3])
local stale = tonumber(ARGV[4])
local expiry = 0
if ttl > 0 then expiry = now + ttl end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'f', ARGV[2], 'x', expiry, 's', stale, 'g', gen)
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl + stale)
else
  redis.call('PERSIST', KEYS[1])
end
return 0
`)

/** KEYS: entry, lock. Removes the entry and voids the lock's fence (keeping its lease). */
export const DELETE_ENTRY = new RedisScript(`#!lua flags=allow-oom
redis.call('UNLINK', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'v', '1') end
return 0
`)

/** KEYS: namespace hash. Starts a new generation at Redis's now; answers it. O(1). */
export const PURGE_NAMESPACE = new RedisScript(`#!lua flags=allow-oom
${NOW}
local gen = redis.call('HINCRBY', KEYS[1], 'g', 1)
redis.call('HSET', KEYS[1], 'p', now)
return gen
`)

/**
 * KEYS: entry keys found by SCAN. ARGV: a generation. Unlinks those written
 * under an older one (entries written since the purge stay); answers how
 * many. Bounded by the batch the caller passes.
 */
export const FLUSH_BATCH = new RedisScript(`#!lua flags=allow-oom
local gen = tonumber(ARGV[1])
local removed = 0
for i = 1, #KEYS do
  local written = redis.call('HGET', KEYS[i], 'g')
  if written and tonumber(written) < gen then
    redis.call('UNLINK', KEYS[i])
    removed = removed + 1
  end
end
return removed
`)

/** KEYS: lock, namespace hash. ARGV: token, lease. Answers 1 (acquired) or 0 (held). */
export const TRY_LOCK = new RedisScript(`#!lua
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local gen = redis.call('HGET', KEYS[2], 'g') or '0'
redis.call('HSET', KEYS[1], 'o', ARGV[1], 'g', gen)
local lease = tonumber(ARGV[2])
if lease > 0 then redis.call('PEXPIRE', KEYS[1], lease) end
return 1
`)

/** KEYS: lock. ARGV: token, lease. Renews the owner's lease (fields, voided fence included, stay); answers 1 or 0. */
export const EXTEND_LOCK = new RedisScript(`#!lua flags=allow-oom
if redis.call('HGET', KEYS[1], 'o') ~= ARGV[1] then return 0 end
local lease = tonumber(ARGV[2])
if lease > 0 then
  redis.call('PEXPIRE', KEYS[1], lease)
else
  redis.call('PERSIST', KEYS[1])
end
return 1
`)

/**
 * KEYS: lock. ARGV: token, release channel. Compare-and-delete; publishes
 * the lock's key on the channel only when a waiter was counted. Answers 1
 * (released) or 0.
 */
export const UNLOCK = new RedisScript(`#!lua flags=allow-oom
local lock = redis.call('HMGET', KEYS[1], 'o', 'w')
if lock[1] ~= ARGV[1] then return 0 end
redis.call('UNLINK', KEYS[1])
if lock[2] then redis.call('PUBLISH', ARGV[2], KEYS[1]) end
return 1
`)

/**
 * KEYS: lock. Counts a waiter in a live lock (so that its unlock publishes)
 * and answers its PTTL: -2 when no lock is held, -1 for a lease without end.
 */
export const WATCH_LOCK = new RedisScript(`#!lua flags=allow-oom
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
redis.call('HINCRBY', KEYS[1], 'w', 1)
return redis.call('PTTL', KEYS[1])
`)
