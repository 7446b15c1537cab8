/**
 * The cross-worker loader lock of one load (mlcache's `run_callback` over
 * lua-resty-lock, in `shm_locks`): a lease with an owner token in the lock
 * store, released by compare-and-delete. Waiting never blocks the event
 * loop: the store wakes waiters on release, and lua-resty-lock's `timeout`
 * becomes `lockTimeout`, on real time.
 *
 * The token is also the load's fence: a store only accepts a write fenced
 * by it while its own lock of the key holds the token and nothing voided it
 * (see `L2WriteOptions.fence`). So the lock is taken in every store the load
 * may write to: the lock store first (where waiters wait), then, without
 * waiting, in the cache's store and miss store when they are other stores.
 *
 * A failing lock store costs deduplication, never the load: the loader then
 * runs without the lock, as when the lock store is full.
 */
import { uniqueId } from '../internal/nonce.js'
import type { L2Store, LockStore } from '../l2/l2-store.js'

/** How often a waiter tries the lock again when the store's `waitForUnlock` fails. */
const POLL_MS = 20

/** The outcome of {@link LoaderLock.acquire}. */
export type LockState =
  /** This load holds the lock; its writes carry {@link LoaderLock.fence}. */
  | 'acquired'
  /** Another load held it and released it: re-read L2 before trying again. */
  | 'woken'
  /** Another load held it for longer than the timeout. */
  | 'timeout'
  /** The lock store cannot hold the lock (full, or failing): load without it, unfenced. */
  | 'unlockable'

/** One load's claim on the loader lock of a key. */
export class LoaderLock {
  /** Identifies this load as the lock's owner, unique across threads, processes and hosts. */
  readonly token = uniqueId()
  readonly #lockStore: LockStore
  readonly #fenceStores: readonly L2Store[]
  readonly #namespace: string
  readonly #key: string
  readonly #lease: number
  /** When waiting must stop, on `performance.now()`. */
  readonly #deadline: number
  /** The stores where this load holds the lock, to release. */
  readonly #held: LockStore[] = []
  #acquired = false

  /**
   * @param lockStore - where waiters wait
   * @param fenceStores - the stores the load writes to, each needing the lock as a fence
   * @param lease - `lockExptime`, real ms
   * @param timeout - `lockTimeout`, real ms from now
   */
  constructor(lockStore: LockStore, fenceStores: readonly L2Store[], namespace: string, key: string, lease: number, timeout: number) {
    this.#lockStore = lockStore
    this.#fenceStores = fenceStores
    this.#namespace = namespace
    this.#key = key
    this.#lease = lease
    this.#deadline = performance.now() + timeout
  }

  /** The fence of this load's writes: its token once the lock is held, else none (an unfenced write). */
  get fence(): string | undefined {
    return this.#acquired ? this.token : undefined
  }

  /**
   * Tries the lock once; if it is held, waits until it is released or the
   * timeout runs out. Answers `'woken'` after a release so the caller
   * re-reads L2 before trying again: the holder has usually just stored the
   * value.
   */
  async acquire(): Promise<LockState> {
    const result = await this.#tryLock(this.#lockStore)
    if (result === 'acquired') {
      this.#acquired = true
      for (const store of this.#fenceStores) {
        // Without the lock there, the store refuses the fenced write: the safe answer.
        if (store !== this.#lockStore) await this.#tryLock(store)
      }
      return 'acquired'
    }
    // Locks never evict cached values; when the lock store is full (or down)
    // the lock is only lost deduplication, so the caller loads without it.
    if (result !== 'held') return 'unlockable'
    const remaining = this.#deadline - performance.now()
    if (remaining <= 0) return 'timeout'
    try {
      await this.#lockStore.waitForUnlock(this.#namespace, this.#key, remaining)
    } catch {
      // The store cannot wake us (its notifications are down): poll instead of spinning on tryLock.
      await new Promise((resolve) => setTimeout(resolve, Math.min(remaining, POLL_MS)))
    }
    return 'woken'
  }

  /** Releases every lock this load holds; a failing store only loses the lease early (`lockExptime` frees it). */
  async release(): Promise<void> {
    for (const store of this.#held.splice(0)) {
      try {
        await store.unlock(this.#namespace, this.#key, this.token)
      } catch {
        // The lease frees it anyway; there is nobody to report to.
      }
    }
  }

  /** Takes the lock in `store`, remembering it for release; a failing store answers `'no memory'`. */
  async #tryLock(store: LockStore): Promise<'acquired' | 'held' | 'no memory'> {
    let result: Awaited<ReturnType<LockStore['tryLock']>>
    try {
      result = await store.tryLock(this.#namespace, this.#key, this.token, this.#lease)
    } catch {
      return 'no memory'
    }
    if (result === 'acquired') this.#held.push(store)
    return result
  }
}
