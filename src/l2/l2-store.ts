/**
 * The seams between MLCache and its shared level: a {@link ValueStore}
 * holds cached entries, a {@link LockStore} holds loader locks, and an
 * {@link L2Store} is both. `SharedDict` implements them synchronously; a
 * networked store (Redis) implements them with promises. MLCache accepts
 * either: every method may return a value or a promise of it, and the
 * synchronous answer is used without wrapping it in a promise, so an L2 hit
 * on a SharedDict allocates nothing beyond the decoded value (see
 * {@link ValueStore.readEntryInto}).
 *
 * Entries are scoped by a `namespace` (the cache name): two namespaces never
 * see each other's keys whatever the keys contain, and
 * {@link ValueStore.purgeNamespace} touches one namespace only (upstream
 * mlcache keyed L2 by the bare concatenation `name .. key` and purged the
 * whole dict; the contract fixes both).
 *
 * Loader locks (mlcache's `shm_locks`, lua-resty-lock) are leases kept apart
 * from cached values: taking a lock never evicts a cached value and writing a
 * value never evicts a lock. Leases run on real time, never on a store's
 * injected clock, so a fake clock that stands still or jumps neither keeps a
 * dead holder's lock forever nor takes a live holder's lock away.
 */

/** A value, or a promise of it. */
export type MaybePromise<T> = T | Promise<T>

/** One entry read from a {@link ValueStore}. */
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
  /** `true` when the entry has expired but is still readable (see {@link L2WriteOptions.staleTtl}). */
  readonly stale: boolean
  /**
   * Optional: `true` when a purge expired it ({@link ValueStore.purgeNamespace}),
   * not its TTL. Stale reads still see such an entry (resurrection may serve
   * it, as upstream's after `flush_all`), but stale-while-revalidate never
   * does: the caller asked for it to be gone. A store that cannot tell
   * leaves it out.
   */
  readonly purged?: boolean
}

/**
 * An entry read by {@link ValueStore.readEntryInto}: as {@link L2Entry}, its
 * bytes lent in a buffer the store reuses instead of copied out for the
 * caller. The caller owns the object; the store overwrites every field.
 */
export interface EntryView {
  /** Holds the entry's bytes at `[start, end)` until the next read of this thread, from any store. */
  bytes: Buffer
  start: number
  end: number
  flags: number
  /** As {@link L2Entry.ttl}. */
  ttl: number
  stale: boolean
  /** As {@link L2Entry.purged}; `false` when the store cannot tell. */
  purged: boolean
}

/** The optional part of a {@link ValueStore.writeEntry}. */
export interface L2WriteOptions {
  /**
   * Keep the entry readable as stale for at least this many milliseconds
   * after it expires (for resurrection and `ctx.stale`), memory permitting;
   * `0` or absent: it may vanish at expiry. A store that deletes expired
   * entries (Redis) keeps them this much longer; a SharedDict keeps such an
   * entry until its memory is needed (eviction), which honours any window.
   */
  readonly staleTtl?: number | undefined
  /**
   * The token of a loader lock on the same namespace and key, taken with
   * {@link LockStore.tryLock} **on this same store**. The write then happens
   * only if, atomically with it, that lock is still held by this token, its
   * lease has not ended, and no write without a fence, delete or purge of
   * the key happened since the lock was taken; otherwise it answers
   * `'fenced'` and changes nothing. This keeps a slow load from storing what
   * it read before a `set`, `delete` or `purge` that raced it.
   */
  readonly fence?: string | undefined
  /**
   * Never evict another entry to make room: answer `'no memory'` instead
   * (lua_shared_dict's `safe_set`). Bulk writes (a page swap's fill, a
   * warmup) use it so that what they wrote, and the page being served, are
   * never pushed out by their own writes. A store that never evicts on its
   * own (Redis, where the server's `maxmemory-policy` decides) may ignore it.
   */
  readonly noEvict?: boolean | undefined
}

/** The answer of {@link ValueStore.writeEntry}. */
export type L2WriteResult =
  /** Stored. */
  | 'ok'
  /** It did not fit, even after evicting (the caller may retry); the key's previous value may be gone. */
  | 'no memory'
  /** Refused by its fence (see {@link L2WriteOptions.fence}); nothing changed. */
  | 'fenced'

/** Where cached entries live: what MLCache reads and writes as L2. */
export interface ValueStore {
  /**
   * Reads an entry, fresh or stale (`lua_shared_dict:get_stale`). A fresh read
   * counts as a use for the store's LRU; a stale read does not.
   */
  readEntry(namespace: string, key: string): MaybePromise<L2Entry | undefined>

  /**
   * Optional: reads several entries of one namespace at once, answering one
   * result per key in order, as {@link ValueStore.readEntry} would. A
   * networked store implements it with one round trip; MLCache's `getBulk`
   * uses it when present.
   */
  readEntries?(namespace: string, keys: readonly string[]): MaybePromise<(L2Entry | undefined)[]>

  /**
   * Optional, for a synchronous in-memory store: {@link ValueStore.readEntry}
   * without the private copy of the bytes, which on an L2 hit costs more
   * than copying them. Fills `view` and answers `true`, or answers `false`
   * for a missing key. The bytes stay in `view.bytes` only until the next
   * read of the thread: decode them at once and copy what must be kept.
   * MLCache reads L2 this way when the store has it.
   */
  readEntryInto?(namespace: string, key: string, view: EntryView): boolean

  /**
   * Stores `value` with `flags` for `ttl` milliseconds (`0`: never expires),
   * evicting least recently used entries if the store is full. A write
   * without a fence also voids the fence of any loader lock of the key (see
   * {@link L2WriteOptions.fence}), as `deleteEntry` and `purgeNamespace` do;
   * the lock itself stays held. A write that found no memory may have removed
   * the previous value of the key (as `lua_shared_dict:set` does).
   */
  writeEntry(
    namespace: string,
    key: string,
    value: Uint8Array,
    ttl: number,
    flags: number,
    options?: L2WriteOptions,
  ): MaybePromise<L2WriteResult>

  /** Removes an entry and voids the fence of its loader lock; a missing key is not an error. */
  deleteEntry(namespace: string, key: string): MaybePromise<void>

  /**
   * Expires every entry of `namespace` (as `flush_all` does, so stale reads
   * may still see them) and, with `flushExpired`, frees their memory. Voids
   * the fences of the namespace's loader locks, which stay held. Other
   * namespaces are untouched.
   */
  purgeNamespace(namespace: string, flushExpired: boolean): MaybePromise<void>

  /**
   * Optional: reads the record `key` of `namespace` written by {@link ValueStore.writeRecord}
   * (`undefined` when there is none). Records are kept apart from entries: `readEntry` never sees them.
   */
  readRecord?(namespace: string, key: string): MaybePromise<string | undefined>

  /**
   * Optional: stores a small string record that the store keeps until it is overwritten: never evicted,
   * never expired, untouched by `purgeNamespace`, `flushAll`, `flushExpired`, `keys` and by the death of the
   * thread that wrote it. MLCache keeps the current page of a swapped cache there (Kong kept it in a
   * shared dict key, `declarative:page`). Answers `false`, changing nothing, when there is no memory for it.
   * Stores without these methods get the record kept as an ordinary entry with no TTL.
   */
  writeRecord?(namespace: string, key: string, value: string): MaybePromise<boolean>

  /**
   * Optional, for a store that keeps a copy of its entries that only some
   * members of a bus read (a SharedDict: the threads of one process): names
   * that copy, the same for every member that reads it and different for
   * every other copy. MLCache stamps it on its invalidations and purges; a
   * member whose store names another copy calls {@link ValueStore.forget}
   * before dropping its L1, so an invalidation from another process or host
   * also clears the stale copy this one holds (Kong: a cluster event deletes
   * from the node's shared dict, then every worker's LRU). Members reading
   * one copy never delete twice. A store whose entries every member reads
   * (Redis) has neither.
   */
  readonly copyId?: string

  /**
   * Optional: the copy that holds this store's records (the page table of
   * swapped caches), when it is not {@link ValueStore.copyId}'s. A store in
   * front of a shared one keeps its records in the shared one: it answers
   * that store's `copyId` (`undefined` for Redis), so a swap on one host is
   * every host's swap. Absent: the records are in the store's own copy.
   */
  readonly recordsCopyId?: string | undefined

  /**
   * Optional, with {@link ValueStore.copyId}: drops this store's own copy of
   * `key`, or of every entry of `namespace` when `key` is `undefined`, so
   * that no write in flight puts the old value back into it (a SharedDict
   * deletes or purges, voiding the fences of the keys' loader locks, as
   * `deleteEntry` and `purgeNamespace(namespace, false)` do). A store in
   * front of a shared one drops only its near copy. MLCache also forgets the namespace when its
   * bus resyncs and reaches beyond the process (see `EventBus.reach`): the
   * event it missed may have come from a member that does not read this copy.
   */
  forget?(namespace: string, key?: string): MaybePromise<void>

  /**
   * Optional: registers `listener`, called each time a store that failed
   * (a networked store that lost its server) answers again. Writes and
   * invalidations may have been lost meanwhile, so MLCache clears its L1
   * then. Answers the function that removes the listener.
   */
  onRecovered?(listener: () => void): () => void
}

/** The answer of {@link LockStore.tryLock}. */
export type LockResult = 'acquired' | 'held' | 'no memory'

/** Where loader locks live: what MLCache's `lockStore` accepts. */
export interface LockStore {
  /**
   * Takes the loader lock of `key` for `lease` real milliseconds unless
   * someone holds it: `'held'` when another owner's unexpired lease exists,
   * `'no memory'` when the lock cannot be stored without evicting a value.
   * `token` identifies the owner (it must be unique across every process
   * and host sharing the store) and is the lock's fence.
   */
  tryLock(namespace: string, key: string, token: string, lease: number): MaybePromise<LockResult>

  /**
   * Renews the lease of a lock `token` holds to `lease` real milliseconds
   * from now; answers `false` (changing nothing) when the lock is not held
   * by `token` or its lease has already ended. A renewed lock keeps a voided
   * fence void.
   */
  extendLock(namespace: string, key: string, token: string, lease: number): MaybePromise<boolean>

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

/**
 * A store of values and locks: what `store` and `missStore` accept. Both
 * halves live in one store because a load's write is fenced by its lock
 * there (see {@link L2WriteOptions.fence}).
 */
export interface L2Store extends ValueStore, LockStore {}
