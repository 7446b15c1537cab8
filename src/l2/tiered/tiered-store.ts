/**
 * TieredStore: an {@link L2Store} made of two, a **near** store (a host's
 * SharedDict, shared by the threads of one process) in front of a **far**
 * one (a RedisStore shared by every process and host). An L2 hit usually
 * costs a SharedDict read; a miss there costs one far round trip, and a
 * fresh far entry is then copied into near for its remaining TTL.
 *
 * Far is the truth; near only ever holds a copy of what far held, never
 * anything older once the operations in flight settle:
 *
 * - **Locks, fences and records live in far**: one load per key across
 *   every host, a load's fenced write judged by far, a page swap spanning
 *   hosts.
 * - **Writes, deletes and purges go to far first, then near**: a copy into
 *   near that read far before the far change is then voided, or undone, by
 *   the near change after it.
 * - **Invalidations from other hosts** reach MLCache with another `copyId`
 *   (near's); it calls {@link TieredStore.forget}, which drops the near copy.
 * - **A copy into near is fenced by near's own loader lock**, taken before
 *   the far read (see {@link TieredStore.readEntry}). MLCache never takes
 *   loader locks in near (they are in far), so those lock slots are free
 *   for this.
 */
import { uniqueId } from '../../internal/nonce.js'
import type { L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult, MaybePromise } from '../l2-store.js'
import { readRecordIn, writeRecordIn } from '../record-fallback.js'
import { assertTieredStoreOptions, type TieredStoreOptions } from './tiered-options.js'

/**
 * The lease of the near lock that fences one copy into near (real ms): a
 * far call outlasting it (a Redis `commandTimeout` is 1 s by default) only
 * loses the copy, its fenced write being refused.
 */
const COPY_LEASE = 10_000

/** An entry near may answer: present and not expired. */
function isFresh(entry: L2Entry | undefined): entry is L2Entry {
  return entry !== undefined && !entry.stale
}

/**
 * An L2Store of two tiers: `near`, a per-host copy (a SharedDict), in front
 * of `far`, the store every host shares (a RedisStore). Reads are answered
 * by near when it holds the entry fresh, else by far (whose fresh entries
 * near then keeps for their remaining TTL); everything else goes to far
 * first. Give it to MLCache as `store`, with a bus that reaches every host
 * (a RedisBus): invalidations from other hosts drop the near copy.
 *
 * @example
 * ```ts
 * import { MLCache, SharedDict, TieredStore } from 'mlcache'
 * import { RedisBus, RedisStore } from 'mlcache/redis'
 *
 * const near = SharedDict.create({ size: '64m' })        // attach it in worker threads
 * const far = new RedisStore({ url: 'redis://10.0.0.5:6379' })
 * const store = new TieredStore({ near, far })
 * const users = new MLCache('users', { store, bus: new RedisBus({ url: 'redis://10.0.0.5:6379' }) })
 * ```
 */
export class TieredStore implements L2Store {
  /**
   * {@link L2Store.copyId}: near's. Members of this host share near and
   * never forget each other's changes (near already has them); members of
   * other hosts have another, so their invalidations drop this copy.
   */
  readonly copyId: string
  /** {@link L2Store.recordsCopyId}: far's, since the records (the page table) live there. */
  readonly recordsCopyId: string | undefined
  /** {@link L2Store.onRecovered}: far's, when far has it (near, in memory, never fails). */
  readonly onRecovered?: (listener: () => void) => () => void

  readonly #near: L2Store
  readonly #far: L2Store

  /**
   * @param options - `near`, a store naming its copy (`copyId`), and `far`, another store
   * @throws {TypeError} options is not `{ near, far }` with two distinct L2Stores, near with a string `copyId`
   */
  constructor(options: TieredStoreOptions) {
    assertTieredStoreOptions(options)
    const { near, far } = options
    this.#near = near
    this.#far = far
    this.copyId = near.copyId as string
    this.recordsCopyId = far.copyId
    if (far.onRecovered !== undefined) this.onRecovered = (listener) => (far.onRecovered as (listener: () => void) => () => void).call(far, listener)
  }

  /**
   * {@link L2Store.readEntry}: near's entry when it is fresh, synchronously
   * when near answers synchronously (no far round trip). Otherwise far's
   * entry, fresh or stale; a fresh one is first copied into near with its
   * remaining TTL (`0` stays "never expires") and flags, a stale one is not
   * (near never answers stale entries: far is the one that knows them).
   *
   * The copy must never leave near holding a value older than far's:
   * between the far read and the near write, another thread of this host
   * may write or delete the key, or another host's invalidation may
   * `forget` it (its message can overtake the read's reply). So near's
   * loader lock of the key is taken before the far read, and the copy is a
   * write fenced by it: any near delete, purge or unfenced write meanwhile
   * voids the fence and the stale copy is refused. When the lock is held
   * (another copy or write of the key is in flight), far's entry is answered
   * without a copy.
   *
   * @throws what far throws (rejects): MLCache's L2 failure policy decides;
   *   fresh near entries keep being answered while far is down
   */
  readEntry(namespace: string, key: string): MaybePromise<L2Entry | undefined> {
    const near = this.#near.readEntry(namespace, key)
    if (near instanceof Promise) return near.then((entry) => (isFresh(entry) ? entry : this.#readFar(namespace, key)))
    return isFresh(near) ? near : this.#readFar(namespace, key)
  }

  /**
   * {@link L2Store.readEntries}: near for every key, then far, in one call
   * when it has `readEntries`, for those near does not hold fresh; fresh far
   * entries are copied into near as {@link TieredStore.readEntry} does.
   */
  async readEntries(namespace: string, keys: readonly string[]): Promise<(L2Entry | undefined)[]> {
    if (!Array.isArray(keys)) throw new TypeError('keys must be an array')
    const near = this.#near
    const entries = await (near.readEntries === undefined ? Promise.all(keys.map((key) => near.readEntry(namespace, key))) : near.readEntries(namespace, keys))
    const missed = [...new Set(keys.filter((_, i) => !isFresh(entries[i])))]
    if (missed.length === 0) return entries
    const tokens = await Promise.all(missed.map((key) => this.#claim(namespace, key)))
    try {
      const far = this.#far
      const found = await (far.readEntries === undefined ? Promise.all(missed.map((key) => far.readEntry(namespace, key))) : far.readEntries(namespace, missed))
      const byKey = new Map<string, L2Entry | undefined>()
      for (const [i, key] of missed.entries()) {
        const entry = found[i]
        byKey.set(key, entry)
        const token = tokens[i]
        if (token !== undefined && isFresh(entry)) await this.#copy(namespace, key, entry, token)
      }
      return keys.map((key, i) => (isFresh(entries[i]) ? entries[i] : byKey.get(key)))
    } finally {
      await Promise.all(missed.map((key, i) => this.#release(namespace, key, tokens[i])))
    }
  }

  /**
   * {@link L2Store.writeEntry}: to far (with the caller's fence, `staleTtl`
   * and `noEvict`), answering far's result; then, when far stored it, to
   * near, fenced by near's lock of the key taken before the far write (see
   * {@link TieredStore.readEntry}). When far did not store it, when the lock
   * was held by a copy in flight, or when near refused or had no room, the
   * near entry is deleted instead: near drops the old value and voids any
   * other copy of the key in flight. A near without room is not an error
   * (near is a cache).
   *
   * @throws what far throws (rejects), having deleted the near entry: far may or may not hold the new value
   */
  async writeEntry(namespace: string, key: string, value: Uint8Array, ttl: number, flags: number, options?: L2WriteOptions): Promise<L2WriteResult> {
    // A copy of the caller's bytes: near is written after far answers, and the caller may reuse its buffer meanwhile.
    // (`new Uint8Array` copies: a Buffer's `slice` would not.)
    const bytes = value instanceof Uint8Array ? new Uint8Array(value) : value
    const token = await this.#claim(namespace, key)
    try {
      let result: L2WriteResult
      try {
        result = await this.#far.writeEntry(namespace, key, bytes, ttl, flags, options)
      } catch (error) {
        // Far may or may not hold the new value: near must not keep the old one.
        await this.#near.deleteEntry(namespace, key)
        throw error
      }
      const nearOptions: L2WriteOptions = { fence: token, staleTtl: options?.staleTtl, noEvict: options?.noEvict }
      if (result !== 'ok' || token === undefined || (await this.#near.writeEntry(namespace, key, bytes, ttl, flags, nearOptions)) !== 'ok') {
        await this.#near.deleteEntry(namespace, key)
      }
      return result
    } finally {
      await this.#release(namespace, key, token)
    }
  }

  /**
   * {@link L2Store.deleteEntry}: far, then near, in that order: a copy into
   * near that read far before the far delete is voided (or its result
   * deleted) by the near delete after it. Near is deleted even when far
   * throws, since far may have deleted it.
   */
  deleteEntry(namespace: string, key: string): Promise<void> {
    return this.#farThenNear(
      () => this.#far.deleteEntry(namespace, key),
      () => this.#near.deleteEntry(namespace, key),
    )
  }

  /** {@link L2Store.purgeNamespace}: far, then near, for the same reason as {@link TieredStore.deleteEntry}. */
  purgeNamespace(namespace: string, flushExpired: boolean): Promise<void> {
    return this.#farThenNear(
      () => this.#far.purgeNamespace(namespace, flushExpired),
      () => this.#near.purgeNamespace(namespace, flushExpired),
    )
  }

  /**
   * {@link L2Store.forget}: drops the near copy of `key` (of every entry of
   * `namespace` when `key` is `undefined`), voiding any copy of it in
   * flight; far is left alone, the member that changed it already did.
   */
  forget(namespace: string, key?: string): MaybePromise<void> {
    const near = this.#near
    if (near.forget !== undefined) return near.forget(namespace, key)
    return key === undefined ? near.purgeNamespace(namespace, false) : near.deleteEntry(namespace, key)
  }

  /**
   * {@link L2Store.readRecord}: far's record (or, when far keeps no records,
   * the far entry standing for it), never a near copy: the page table must
   * read the same on every host for a swap to span hosts.
   */
  readRecord(namespace: string, key: string): MaybePromise<string | undefined> {
    return readRecordIn(this.#far, namespace, key)
  }

  /** {@link L2Store.writeRecord}: to far only, as {@link TieredStore.readRecord} reads. */
  writeRecord(namespace: string, key: string, value: string): Promise<boolean> {
    return writeRecordIn(this.#far, namespace, key, value)
  }

  /** {@link L2Store.tryLock}: in far, so one load per key runs across every host. */
  tryLock(namespace: string, key: string, token: string, lease: number): MaybePromise<LockResult> {
    return this.#far.tryLock(namespace, key, token, lease)
  }

  /** {@link L2Store.extendLock}: in far. */
  extendLock(namespace: string, key: string, token: string, lease: number): MaybePromise<boolean> {
    return this.#far.extendLock(namespace, key, token, lease)
  }

  /** {@link L2Store.unlock}: in far. */
  unlock(namespace: string, key: string, token: string): MaybePromise<boolean> {
    return this.#far.unlock(namespace, key, token)
  }

  /** {@link L2Store.waitForUnlock}: in far. */
  waitForUnlock(namespace: string, key: string, timeout: number): Promise<void> {
    return this.#far.waitForUnlock(namespace, key, timeout)
  }

  /** Far's entry of `key`, copied into near when fresh and the copy is not raced (see {@link TieredStore.readEntry}). */
  async #readFar(namespace: string, key: string): Promise<L2Entry | undefined> {
    const token = await this.#claim(namespace, key)
    try {
      const entry = await this.#far.readEntry(namespace, key)
      if (token !== undefined && isFresh(entry)) await this.#copy(namespace, key, entry, token)
      return entry
    } finally {
      await this.#release(namespace, key, token)
    }
  }

  /**
   * Takes near's loader lock of `key` with a token of its own, the fence of
   * one copy into near; `undefined` when it is held (a copy or write of the
   * key is in flight in this host) or near has no room for it.
   */
  async #claim(namespace: string, key: string): Promise<string | undefined> {
    const token = uniqueId()
    return (await this.#near.tryLock(namespace, key, token, COPY_LEASE)) === 'acquired' ? token : undefined
  }

  /** Releases a lock {@link TieredStore.#claim} took. */
  async #release(namespace: string, key: string, token: string | undefined): Promise<void> {
    if (token !== undefined) await this.#near.unlock(namespace, key, token)
  }

  /**
   * Copies far's fresh `entry` into near for its remaining TTL, fenced by
   * `token`: refused if anything voided it since the claim. Without room,
   * near simply lacks it.
   */
  async #copy(namespace: string, key: string, entry: L2Entry, token: string): Promise<void> {
    await this.#near.writeEntry(namespace, key, entry.value, entry.ttl, entry.flags, { fence: token })
  }

  /**
   * Runs `far`, then `near` whatever far did (far may have applied a change
   * it failed to confirm, which near must follow), and rejects with far's
   * failure if any, else with near's.
   */
  async #farThenNear(far: () => MaybePromise<unknown>, near: () => MaybePromise<unknown>): Promise<void> {
    let farFailure: { error: unknown } | undefined
    try {
      await far()
    } catch (error) {
      farFailure = { error }
    }
    try {
      await near()
    } catch (error) {
      if (farFailure === undefined) throw error
    }
    if (farFailure !== undefined) throw farFailure.error
  }
}
