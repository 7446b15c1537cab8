/**
 * RedisStore: an {@link L2Store} on Redis (7 or later; a standalone server
 * or a primary with replicas, not Redis Cluster: a script touches an
 * entry, its lock and its namespace's metadata, which a cluster would put
 * in different slots), so that MLCache's shared level, loader locks and
 * their fences span processes and hosts.
 *
 * - **One round trip per operation**: a read is one plain `MGET` of the
 *   entry and its namespace's metadata (`readEntries` reads many keys in
 *   one), every other operation one Lua script (see `store-scripts.ts`),
 *   atomic on the server. Every call goes through the store's `RedisLink`, so it
 *   settles within `commandTimeout` and fails at once while the circuit
 *   breaker is open; every failure rejects with an {@link L2Error} whose
 *   `cause` is the underlying error.
 * - **Redis's clock**: expiry instants are taken on the server (`TIME` in
 *   the write script) and compared with the server's time, measured once a
 *   second (see `server-clock.ts`), never the host's: hosts with skewed
 *   clocks agree on what is fresh. Leases are key expiries, on the
 *   server's real time too.
 * - **Stale windows**: an entry written with `staleTtl` stays readable as
 *   stale for that long after it expires, then Redis deletes it (its key
 *   expires after `ttl + staleTtl`); without one it is deleted at expiry.
 * - **Namespaces** are part of every key, behind their length (see
 *   `redis-keys.ts`), and a purge is a generation bump: O(1) on the server,
 *   then, with `flushExpired`, an incremental SCAN that frees the purged
 *   entries in small batches, so a large namespace never stalls Redis.
 * - **Memory**: when Redis refuses writes (`maxmemory` reached under the
 *   `noeviction` policy), `writeEntry` and `tryLock` answer `'no memory'`.
 *   Under an eviction policy Redis may evict locks as well as entries: an
 *   evicted lock only costs deduplication (its fenced writes are refused).
 */
import type { Redis } from 'ioredis'
import { L2Error } from '../../errors.js'
import { describe } from '../../internal/describe.js'
import { assertDuration, assertKeyShape, MAX_TIMER_MS } from '../../internal/validate.js'
import { RedisLink, type RedisConnection, type RedisLinkOptions, resolveLinkOptions } from '../../redis/redis-link.js'
import type { L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult } from '../l2-store.js'
import { RedisKeys } from './redis-keys.js'
import type { RedisScript, ScriptArgument } from './redis-script.js'
import {
  DELETE_ENTRY,
  EXTEND_LOCK,
  FLUSH_PURGED,
  PURGE_NAMESPACE,
  TRY_LOCK,
  UNLOCK,
  WATCH_LOCK,
  WRITE_ENTRY,
} from './store-scripts.js'
import { decodeEntry } from './entry-format.js'
import { ServerClock } from './server-clock.js'
import { UnlockWaiters } from './unlock-waiters.js'

/** The options of a {@link RedisStore}: where to connect (`url` or `client`), plus `prefix` and `commandTimeout`. */
export type RedisStoreOptions = RedisConnection & RedisLinkOptions

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['url', 'client', 'prefix', 'commandTimeout'])

/**
 * How many keys one SCAN of a purge asks for: each batch (a SCAN and a
 * script unlinking what it found) keeps Redis busy well under a
 * millisecond, so other clients barely notice a purge of any size.
 */
const PURGE_BATCH = 100

/**
 * The longest TTL or stale window kept exactly (ms, about 31,700 years):
 * expiry instants stay integers a Lua number holds exactly.
 */
const MAX_TTL = 1e15

/**
 * Answers `'no memory'` for an L2Error caused by Redis refusing a script
 * for lack of memory (`maxmemory` reached under `noeviction`), rethrows
 * anything else.
 */
function noMemory(error: unknown): 'no memory' {
  const cause = error instanceof L2Error ? error.cause : undefined
  if (cause instanceof Error && cause.message.startsWith('OOM ')) return 'no memory'
  throw error
}

/** A whole number of ms Redis accepts for an expiry: rounded up, so a lease or TTL never ends early. */
function wholeMs(ms: number): number {
  return Math.min(Math.ceil(ms), MAX_TTL)
}

function assertNamespace(namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string') throw new TypeError('namespace must be a string')
}

function assertToken(token: unknown, name: string): asserts token is string {
  if (typeof token !== 'string') throw new TypeError(`${name} must be a string`)
}

function assertFlags(flags: unknown): asserts flags is number {
  if (typeof flags !== 'number') throw new TypeError('flags must be a number')
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) throw new RangeError('flags must be an integer from 0 to 4294967295')
}

/**
 * An {@link L2Store} on Redis: entries, loader locks and their fences
 * shared by every process and host using the same server and prefix.
 *
 * @example
 * ```ts
 * import { RedisStore } from 'mlcache/redis'
 *
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379', prefix: 'app:' })
 * const users = new MLCache('users', { store })
 * // ...
 * await store.close()
 * ```
 */
export class RedisStore implements L2Store {
  readonly #link: RedisLink
  readonly #keys: RedisKeys
  readonly #waiters: UnlockWaiters
  readonly #clock = new ServerClock()
  #closing: Promise<void> | undefined

  /**
   * @param options - `{ url }` (the store makes and owns its connections) or
   *   `{ client }` (an ioredis client the store uses and never closes), plus
   *   `prefix` (default `'mlcache:'`) and `commandTimeout` (ms, default 1000)
   * @throws {TypeError | RangeError} naming a missing, unknown or invalid option
   */
  constructor(options: RedisStoreOptions) {
    const { connection, prefix, commandTimeout } = resolveLinkOptions(options, KNOWN_OPTIONS)
    // ioredis would prefix the keys of a script but neither a SCAN pattern
    // nor a key the script publishes: purges would find nothing, and
    // release messages would name keys nobody waits for.
    if (connection.client !== undefined && connection.client.options.keyPrefix) {
      throw new TypeError('options.client must not have a keyPrefix (use options.prefix instead)')
    }
    this.#link = new RedisLink(connection, commandTimeout)
    this.#keys = new RedisKeys(prefix)
    this.#waiters = new UnlockWaiters(this.#link, this.#keys.unlockChannel)
  }

  /**
   * {@link L2Store.readEntry}, on the server's clock: one plain `MGET` of
   * the entry and its namespace's metadata (see `entry-format.ts`), plus a
   * `TIME` once a second (see `server-clock.ts`).
   */
  async readEntry(namespace: string, key: string): Promise<L2Entry | undefined> {
    assertNamespace(namespace)
    assertKeyShape(key)
    const entryKey = this.#keys.entry(namespace, key)
    const [entry, meta] = await this.#command('readEntry', (client) => client.mgetBuffer(entryKey, this.#keys.meta(namespace)))
    return decodeEntry(entry ?? null, meta ?? null, this.#clock.now() ?? (await this.#serverNow('readEntry')))
  }

  /** {@link L2Store.readEntries}: one `MGET` for every key. */
  async readEntries(namespace: string, keys: readonly string[]): Promise<(L2Entry | undefined)[]> {
    assertNamespace(namespace)
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array')
    for (const key of keys) assertKeyShape(key)
    if (keys.length === 0) return []
    const redisKeys = [this.#keys.meta(namespace), ...keys.map((key) => this.#keys.entry(namespace, key))]
    const [meta = null, ...entries] = await this.#command('readEntries', (client) => client.mgetBuffer(...redisKeys))
    const now = this.#clock.now() ?? (await this.#serverNow('readEntries'))
    return entries.map((entry) => decodeEntry(entry, meta, now))
  }

  /**
   * {@link L2Store.writeEntry}. The entry expires `ttl` ms from now on the
   * server's clock and Redis deletes it `ttl + staleTtl` ms from now (never
   * when `ttl` is 0). Answers `'no memory'` when Redis is out of memory,
   * having changed nothing. `options.noEvict` changes nothing: this store
   * never evicts on its own, Redis's `maxmemory-policy` decides what goes.
   */
  async writeEntry(namespace: string, key: string, value: Uint8Array, ttl: number, flags: number, options?: L2WriteOptions): Promise<L2WriteResult> {
    assertNamespace(namespace)
    assertKeyShape(key)
    if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array')
    assertDuration(ttl, 'ttl')
    assertFlags(flags)
    const staleTtl = options?.staleTtl ?? 0
    assertDuration(staleTtl, 'options.staleTtl')
    const fence = options?.fence
    if (fence !== undefined) assertToken(fence, 'options.fence')
    if (options?.noEvict !== undefined && typeof options.noEvict !== 'boolean') {
      throw new TypeError('options.noEvict must be a boolean')
    }
    const keep = ttl > 0 ? wholeMs(wholeMs(ttl) + wholeMs(staleTtl)) : 0
    const args: ScriptArgument[] = [
      // A copy: the caller may reuse its buffer before the command is written (queued while reconnecting).
      Buffer.from(value),
      String(flags),
      String(wholeMs(ttl)),
      String(keep),
    ]
    if (fence !== undefined) args.push(fence)
    const keys = [this.#keys.entry(namespace, key), this.#keys.meta(namespace), this.#keys.lock(namespace, key)]
    const stored = await this.#run('writeEntry', WRITE_ENTRY, keys, args).catch(noMemory)
    return stored === 'no memory' ? stored : stored === 1 ? 'ok' : 'fenced'
  }

  /** {@link L2Store.deleteEntry}: also voids the fence of the key's loader lock. */
  async deleteEntry(namespace: string, key: string): Promise<void> {
    assertNamespace(namespace)
    assertKeyShape(key)
    await this.#run('deleteEntry', DELETE_ENTRY, [this.#keys.entry(namespace, key), this.#keys.lock(namespace, key)], [])
  }

  /**
   * {@link L2Store.purgeNamespace}: one O(1) script bumps the namespace's
   * generation, which expires every entry written before (still readable
   * as stale, as after `flush_all`) and voids the fences of its locks.
   * With `flushExpired`, the purged entries are then unlinked by a SCAN of
   * the namespace, a hundred keys per step, never blocking Redis for
   * long; entries written meanwhile stay. Resolves once that is done.
   * Without it, purged entries keep their memory until their keys expire,
   * they are written again or a flushing purge frees them, as `flush_all`
   * keeps it until `flush_expired`.
   */
  async purgeNamespace(namespace: string, flushExpired: boolean): Promise<void> {
    assertNamespace(namespace)
    if (typeof flushExpired !== 'boolean') throw new TypeError('flushExpired must be a boolean')
    const generation = String(await this.#run('purgeNamespace', PURGE_NAMESPACE, [this.#keys.meta(namespace)], []))
    if (!flushExpired) return
    const pattern = this.#keys.entryPattern(namespace)
    let cursor = '0'
    do {
      const [next, found] = await this.#command('purgeNamespace', (client) => client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', PURGE_BATCH))
      if (found.length > 0) await this.#run('purgeNamespace', FLUSH_PURGED, found, [generation])
      cursor = next.toString()
    } while (cursor !== '0')
  }

  /** {@link L2Store.tryLock}: the lease is the lock key's expiry, on Redis's clock. */
  async tryLock(namespace: string, key: string, token: string, lease: number): Promise<LockResult> {
    assertNamespace(namespace)
    assertKeyShape(key)
    assertToken(token, 'token')
    assertDuration(lease, 'lease')
    const keys = [this.#keys.lock(namespace, key), this.#keys.meta(namespace)]
    const acquired = await this.#run('tryLock', TRY_LOCK, keys, [token, String(Math.max(1, wholeMs(lease)))]).catch(noMemory)
    return acquired === 'no memory' ? acquired : acquired === 1 ? 'acquired' : 'held'
  }

  /** {@link L2Store.extendLock}. */
  async extendLock(namespace: string, key: string, token: string, lease: number): Promise<boolean> {
    assertNamespace(namespace)
    assertKeyShape(key)
    assertToken(token, 'token')
    assertDuration(lease, 'lease')
    const extended = await this.#run('extendLock', EXTEND_LOCK, [this.#keys.lock(namespace, key)], [token, String(Math.max(1, wholeMs(lease)))])
    return extended === 1
  }

  /** {@link L2Store.unlock}: compare-and-delete, then a release message if anyone waits. */
  async unlock(namespace: string, key: string, token: string): Promise<boolean> {
    assertNamespace(namespace)
    assertKeyShape(key)
    assertToken(token, 'token')
    const released = await this.#run('unlock', UNLOCK, [this.#keys.lock(namespace, key)], [token, this.#keys.unlockChannel])
    return released === 1
  }

  /**
   * {@link L2Store.waitForUnlock}: resolves on the release message of the
   * lock, when its lease ends, or after `timeout` ms; while release
   * messages cannot be trusted (not subscribed yet, subscriber connection
   * lost) after at most 100 ms, so the caller polls. Never rejects but for
   * bad arguments; once the store is closed it resolves at once (the
   * caller's next `tryLock` rejects).
   */
  async waitForUnlock(namespace: string, key: string, timeout: number): Promise<void> {
    assertNamespace(namespace)
    assertKeyShape(key)
    assertDuration(timeout, 'timeout')
    const lockKey = this.#keys.lock(namespace, key)
    const watch = async (): Promise<number> => (await this.#run('waitForUnlock', WATCH_LOCK, [lockKey], [])) as number
    await this.#waiters.wait(lockKey, Math.min(timeout, MAX_TIMER_MS), watch)
  }

  /**
   * {@link L2Store.onRecovered}: `listener` runs each time Redis answers
   * again after an outage. Answers the function that removes it.
   */
  onRecovered(listener: () => void): () => void {
    return this.#link.onRecovered(listener)
  }

  /**
   * Wakes every waiter and closes the connections the store made (a
   * caller's `client` stays open). Idempotent; every later call rejects
   * with an {@link L2Error}.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#waiters.close()
      await this.#link.close()
    })()
    return this.#closing
  }

  /**
   * The server's time, measuring the clock offset first when it is due.
   * Measured after the read it serves: an entry can then only look older
   * than it was when Redis read it, never fresher.
   * @throws {L2Error} (rejects) the `TIME` failed
   */
  async #serverNow(method: string): Promise<number> {
    await this.#command(method, (client) => this.#clock.sync(() => client.time()))
    return this.#clock.now() ?? Number.NaN
  }

  /**
   * Runs `script` through the link (timeout, breaker). Not async: each
   * async layer costs a promise.
   * @throws {L2Error} (rejects) the store is closed, or the call failed
   */
  #run(method: string, script: RedisScript, keys: readonly ScriptArgument[], args: readonly ScriptArgument[]): Promise<unknown> {
    return this.#command(method, (client) => script.call(client, keys, args))
  }

  /**
   * Runs one call through the link (timeout, breaker).
   * @throws {L2Error} (rejects) the store is closed, or the call failed
   */
  #command<T>(method: string, call: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) return Promise.reject(new L2Error(`RedisStore.${method}(): the store is closed`))
    return this.#link.run(call).catch((error: unknown) => {
      throw new L2Error(`RedisStore.${method}() failed: ${describe(error)}`, { cause: error })
    })
  }
}
