/**
 * The interface between MLCache and its shared level (L2). `SharedDict`
 * implements it synchronously; a networked store (Redis) implements it with
 * promises. MLCache accepts either: every method may return a value or a
 * promise of it, and the synchronous answer is used without wrapping it in
 * a promise, so an L2 hit on a SharedDict allocates nothing beyond the copy
 * of the entry's bytes.
 *
 * Entries are scoped by a `namespace` (the cache name): two namespaces never
 * see each other's keys whatever the keys contain, and
 * {@link L2Store.purgeNamespace} touches one namespace only (upstream mlcache
 * keyed L2 by the bare concatenation `name .. key` and purged the whole dict;
 * the contract fixes both).
 *
 * Loader locks (mlcache's `shm_locks`, lua-resty-lock) are leases kept apart
 * from cached values: taking a lock never evicts a cached value and writing a
 * value never evicts a lock.
 */

/** A value, or a promise of it. */
export type MaybePromise<T> = T | Promise<T>

/** One entry read from an {@link L2Store}. */
export interface L2Entry {
  /** The stored bytes (a private copy the caller may keep). */
  readonly value: Uint8Array
  /** The uint32 flags stored with the entry. */
  readonly flags: number
  /**
   * Remaining time to live in milliseconds: `0` means "never expires"; for a
   * stale entry (`stale: true`) it is `<= 0`, how long ago it expired.
   */
  readonly ttl: number
  /** `true` when the entry has expired but its memory has not been reused yet. */
  readonly stale: boolean
}

/** The answer of {@link L2Store.tryLock}. */
export type LockResult = 'acquired' | 'held' | 'no memory'

/** What `store`, `missStore` and `lockStore` accept. */
export interface L2Store {
  /**
   * Reads an entry, fresh or stale (`lua_shared_dict:get_stale`). A fresh read
   * counts as a use for the store's LRU; a stale read does not.
   */
  readEntry(namespace: string, key: string): MaybePromise<L2Entry | undefined>

  /**
   * Stores `value` with `flags` for `ttl` milliseconds (`0`: never expires),
   * evicting least recently used entries if the store is full. Answers
   * `false` when it still does not fit ("no memory"); the caller retries.
   * A failed write may have removed the previous value of the key (as
   * `lua_shared_dict:set` does).
   */
  writeEntry(namespace: string, key: string, value: Uint8Array, ttl: number, flags: number): MaybePromise<boolean>

  /** Removes an entry; a missing key is not an error. */
  deleteEntry(namespace: string, key: string): MaybePromise<void>

  /**
   * Expires every entry of `namespace` (as `flush_all` does, so stale reads
   * may still see them) and, with `flushExpired`, frees their memory.
   * Other namespaces and locks are untouched.
   */
  purgeNamespace(namespace: string, flushExpired: boolean): MaybePromise<void>

  /**
   * Takes the loader lock of `key` for `lease` milliseconds unless someone
   * holds it: `'held'` when another owner's unexpired lease exists,
   * `'no memory'` when the lock cannot be stored without evicting a value.
   * `token` identifies the owner for {@link L2Store.unlock}.
   */
  tryLock(namespace: string, key: string, token: string, lease: number): MaybePromise<LockResult>

  /**
   * Releases the lock of `key` if `token` still owns it (compare-and-delete,
   * fixing lua-resty-lock's unconditional delete) and wakes its waiters.
   * Answers whether it was released.
   */
  unlock(namespace: string, key: string, token: string): MaybePromise<boolean>

  /**
   * Resolves when the lock of `key` may have been released, or after
   * `timeout` milliseconds at the latest. Spurious early wake-ups are
   * allowed: the caller tries the lock again.
   */
  waitForUnlock(namespace: string, key: string, timeout: number): Promise<void>
}
