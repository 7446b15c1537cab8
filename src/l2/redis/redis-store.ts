/**
 * RedisStore: an {@link L2Store} on Redis, so that processes and hosts share
 * MLCache's L2 and its one-loader-per-key lock.
 *
 * - **One round trip per operation**: each is one Lua script (EVALSHA),
 *   atomic on the server; `readEntries` reads many keys in one.
 * - **Redis's clock**: expiry instants and TTLs are computed from `TIME` on
 *   the server, so hosts with skewed clocks agree on what is fresh. Lock
 *   leases are key expiries (PEXPIRE): real time, as the contract wants.
 * - **Stale windows**: an entry written with `staleTtl` stays readable as
 *   stale (`stale: true`, `ttl <= 0`) for `staleTtl` ms after it expires,
 *   then Redis drops the key (its PEXPIRE is `ttl + staleTtl`); without one
 *   it is gone at expiry. `ttl` 0 never expires (its stale window then only
 *   matters after a purge).
 * - **Namespaces** are kept apart by length-prefixed key names (see
 *   redis-keys.ts); `purgeNamespace` is O(1) (a new generation), and with
 *   `flushExpired` frees the namespace's keys by SCAN batches of bounded
 *   cost, never KEYS, so other clients are never stalled for long.
 * - **Failures** (Redis down, slow, or refusing) reject with {@link L2Error}
 *   whose `cause` is the underlying error, within about `commandTimeout`,
 *   and at once while the circuit breaker is open. Redis at `maxmemory`
 *   with `noeviction` is no failure: writes and locks answer `'no memory'`.
 *
 * Needs Redis 7 or later (scripts declare their flags) and a single primary:
 * the keys of one operation may live in different cluster slots.
 */
import type { Redis } from 'ioredis'
import { L2Error } from '../../errors.js'
import { describe } from '../../internal/describe.js'
import { assertDuration, assertKeyShape, assertOptionsObject, MAX_TIMER_MS } from '../../internal/validate.js'
import { RedisLink, type RedisLinkOptions, resolveLinkOptions } from '../../redis/redis-link.js'
import type { L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult } from '../l2-store.js'
import { assertString, flagsArgument } from '../shared-dict/args.js'
import { RedisKeys } from './redis-keys.js'
import {
  DELETE_ENTRY,
  EXTEND_LOCK,
  FLUSH_BATCH,
  PURGE_NAMESPACE,
  READ_ENTRIES,
  TRY_LOCK,
  UNLOCK,
  WATCH_LOCK,
  WRITE_ENTRY,
} from './store-scripts.js'
import { UnlockWaiters } from './unlock-waiters.js'

/** The options of {@link RedisStore}: a connection (`url` or `client`), a `prefix` and a `commandTimeout`. */
export type RedisStoreOptions = ({ url: string; client?: undefined } | { client: Redis; url?: undefined }) & RedisLinkOptions

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['url', 'client', 'prefix', 'commandTimeout'])

/**
 * The longest TTL, stale window or lease sent to Redis (2^43 ms, about 278
 * years): longer ones are clamped, so that expiry instants stay exact
 * integers in Lua and within what PEXPIRE accepts.
 */
const MAX_DURATION_MS = 2 ** 43

/** How many keys one SCAN step of a flushing purge asks for (and one batch script then examines). */
const FLUSH_SCAN_COUNT = 500

/** One entry as READ_ENTRIES answers it: `[]` or `[value, flags, ttl, stale]`. */
type EntryReply = [] | [Buffer, number, number, number]

/** A duration sent to Redis: whole milliseconds (rounded up, so a positive one stays positive), clamped. */
function wholeMs(ms: number): number {
  return Math.min(Math.ceil(ms), MAX_DURATION_MS)
}

/** Whether Redis refused a command for lack of memory (`maxmemory` with `noeviction`). */
function isOutOfMemory(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('OOM')
}

/** An L2 store on Redis; see the module documentation. */
export class RedisStore implements L2Store {
  readonly #link: RedisLink
  readonly #keys: RedisKeys
  readonly #waiters: UnlockWaiters
  #closing: Promise<void> | undefined

  /**
   * @param options - `{ url }` (a connection this store makes and closes)
   *   or `{ client }` (an ioredis client of the caller's, never closed; the
   *   subscriber connection is its `duplicate()`), plus `prefix` (default
   *   `'mlcache:'`) and `commandTimeout` (ms, default 1000)
   * @throws {TypeError | RangeError} an option is unknown or invalid (the message names it)
   */
  constructor(options: RedisStoreOptions) {
    const { connection, prefix, commandTimeout } = resolveLinkOptions(options, KNOWN_OPTIONS)
    this.#link = new RedisLink(connection, commandTimeout)
    this.#keys = new RedisKeys(prefix)
    this.#waiters = new UnlockWaiters(this.#link, this.#keys.unlockChannel)
  }

  /** {@link L2Store.readEntry}: the entry, fresh or stale within its window, by Redis's clock. */
  async readEntry(namespace: string, key: string): Promise<L2Entry | undefined> {
    const [entry] = await this.readEntries(namespace, [key])
    return entry
  }

  /** {@link L2Store.readEntries}: {@link RedisStore.readEntry} of each key, in one round trip. */
  async readEntries(namespace: string, keys: readonly string[]): Promise<(L2Entry | undefined)[]> {
    assertString(namespace, 'namespace')
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array')
    for (const key of keys) assertKeyShape(key)
    this.#assertOpen()
    if (keys.length === 0) return []
    const redisKeys = [this.#keys.meta(namespace), ...keys.map((key) => this.#keys.entry(namespace, key))]
    const replies = (await this.#call(READ_ENTRIES.run(this.#link, redisKeys, []))) as EntryReply[]
    return replies.map((reply) => {
      if (reply.length === 0) return undefined
      const [value, flags, ttl, stale] = reply
      // A copy of its own: the reply's Buffer may share memory with the connection's.
      return { value: new Uint8Array(value), flags, ttl, stale: stale === 1 }
    })
  }

  /**
   * {@link L2Store.writeEntry}. With `options.staleTtl`, the entry stays
   * readable as stale that long after it expires, then Redis drops it.
   * Answers `'no memory'` when Redis is at `maxmemory` with `noeviction`
   * (nothing was changed then).
   */
  async writeEntry(
    namespace: string,
    key: string,
    value: Uint8Array,
    ttl: number,
    flags: number,
    options?: L2WriteOptions,
  ): Promise<L2WriteResult> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    if (!(value instanceof Uint8Array)) throw new TypeError('value must be a Uint8Array')
    assertDuration(ttl, 'ttl')
    const userFlags = flagsArgument(flags)
    assertOptionsObject(options)
    const staleTtl = options?.staleTtl ?? 0
    assertDuration(staleTtl, 'options.staleTtl')
    const fence = options?.fence
    if (fence !== undefined) assertString(fence, 'options.fence')
    this.#assertOpen()
    const keys = [this.#keys.entry(namespace, key), this.#keys.lock(namespace, key), this.#keys.meta(namespace)]
    // A copy: the caller may change its bytes before ioredis writes them to the socket.
    const args = [Buffer.from(value), userFlags, wholeMs(ttl), wholeMs(staleTtl), fence === undefined ? '0' : '1', fence ?? '']
    try {
      const fenced = await this.#call(WRITE_ENTRY.run(this.#link, keys, args))
      return fenced === 1 ? 'fenced' : 'ok'
    } catch (error) {
      if (isOutOfMemory((error as L2Error).cause)) return 'no memory'
      throw error
    }
  }

  /** {@link L2Store.deleteEntry}: removes the entry and voids its lock's fence. */
  async deleteEntry(namespace: string, key: string): Promise<void> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    this.#assertOpen()
    await this.#call(DELETE_ENTRY.run(this.#link, [this.#keys.entry(namespace, key), this.#keys.lock(namespace, key)], []))
  }

  /**
   * {@link L2Store.purgeNamespace}: one O(1) script starts a new generation
   * of `namespace`, which expires every older entry at this instant
   * (`flush_all`: they stay readable as stale within their window) and
   * voids the fences of its locks. With `flushExpired`, the older entries
   * are then unlinked by SCAN steps of about 500 keys, each followed by a
   * script examining only the keys found; entries written meanwhile stay.
   */
  async purgeNamespace(namespace: string, flushExpired: boolean): Promise<void> {
    assertString(namespace, 'namespace')
    this.#assertOpen()
    const generation = (await this.#call(PURGE_NAMESPACE.run(this.#link, [this.#keys.meta(namespace)], []))) as number
    if (!flushExpired) return
    const pattern = this.#keys.entryPattern(namespace)
    let cursor = '0'
    do {
      const [next, found] = await this.#call(
        this.#link.run((client) => client.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', FLUSH_SCAN_COUNT)),
      )
      cursor = next.toString('latin1')
      if (found.length > 0) {
        await this.#call(FLUSH_BATCH.run(this.#link, found.map((key) => key.toString('utf8')), [generation]))
      }
    } while (cursor !== '0')
  }

  /**
   * {@link L2Store.tryLock}: takes the lock for `lease` real ms (`0`: until
   * unlocked), recording the namespace's generation so that a purge voids
   * its fence. Answers `'no memory'` when Redis is at `maxmemory` with
   * `noeviction`.
   */
  async tryLock(namespace: string, key: string, token: string, lease: number): Promise<LockResult> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    assertDuration(lease, 'lease')
    this.#assertOpen()
    try {
      const acquired = await this.#call(TRY_LOCK.run(this.#link, [this.#keys.lock(namespace, key), this.#keys.meta(namespace)], [token, wholeMs(lease)]))
      return acquired === 1 ? 'acquired' : 'held'
    } catch (error) {
      if (isOutOfMemory((error as L2Error).cause)) return 'no memory'
      throw error
    }
  }

  /** {@link L2Store.extendLock}: renews the lease of a lock `token` holds; a voided fence stays void. */
  async extendLock(namespace: string, key: string, token: string, lease: number): Promise<boolean> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    assertDuration(lease, 'lease')
    this.#assertOpen()
    return (await this.#call(EXTEND_LOCK.run(this.#link, [this.#keys.lock(namespace, key)], [token, wholeMs(lease)]))) === 1
  }

  /**
   * {@link L2Store.unlock}: compare-and-delete, then a message on the
   * release channel (only when someone waited), which wakes the waiters of
   * every store sharing the prefix.
   */
  async unlock(namespace: string, key: string, token: string): Promise<boolean> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertString(token, 'token')
    this.#assertOpen()
    return (await this.#call(UNLOCK.run(this.#link, [this.#keys.lock(namespace, key)], [token, this.#keys.unlockChannel]))) === 1
  }

  /**
   * {@link L2Store.waitForUnlock}: resolves on the release message of the
   * lock, when its lease ends, or after `timeout` ms, whichever comes first;
   * at once when no lock is held. While the release channel is not known to
   * be subscribed (before the first subscription is confirmed, or after the
   * subscriber connection dropped), it resolves within about 75 ms instead:
   * the caller tries the lock again. Rejects with {@link L2Error} when Redis
   * fails.
   */
  async waitForUnlock(namespace: string, key: string, timeout: number): Promise<void> {
    assertString(namespace, 'namespace')
    assertKeyShape(key)
    assertDuration(timeout, 'timeout')
    this.#assertOpen()
    const lockKey = this.#keys.lock(namespace, key)
    // Waiting before looking: a release after the look is then never missed.
    const { waiter, woken } = this.#waiters.add(lockKey, Math.min(timeout, MAX_TIMER_MS))
    let leaseLeft: number
    try {
      leaseLeft = (await this.#call(WATCH_LOCK.run(this.#link, [lockKey], []))) as number
    } catch (error) {
      waiter.wake()
      throw error
    }
    if (leaseLeft === -2) waiter.wake()
    else if (leaseLeft >= 0 && leaseLeft < timeout) waiter.wakeWithin(leaseLeft)
    await woken
  }

  /**
   * {@link L2Store.onRecovered}: calls `listener` each time Redis answers
   * again after an outage. Answers the function that removes it.
   */
  onRecovered(listener: () => void): () => void {
    return this.#link.onRecovered(listener)
  }

  /**
   * Wakes every waiter, then closes the connections this store made (a
   * caller's client stays open). Idempotent; every later call rejects with
   * {@link L2Error}.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#waiters.close()
      await this.#link.close()
    })()
    return this.#closing
  }

  #assertOpen(): void {
    if (this.#closing !== undefined) throw new L2Error('the RedisStore is closed')
  }

  /** `call`, with any failure as an {@link L2Error} whose `cause` is the underlying error. */
  async #call<T>(call: Promise<T>): Promise<T> {
    try {
      return await call
    } catch (error) {
      throw new L2Error(`Redis failed: ${describe(error)}`, { cause: error })
    }
  }
}
