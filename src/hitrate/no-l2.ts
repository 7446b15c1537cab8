/**
 * The L2 of an L1-only replay (`--l2 0`).
 */
import type { L2Entry, L2Store, L2WriteResult, LockResult } from '../l2/l2-store.js'

/**
 * An L2 of zero capacity: it accepts every write and keeps none (like
 * `/dev/null`), so nothing is ever read back and every L1 miss reaches the
 * loader. This is what makes an L1-only replay a pure replay of MLCache's
 * L1: a small SharedDict would still serve some misses and skew the L1
 * figures away from the exact LRU they must equal.
 *
 * Loader locks still work, for this thread only: without a shared L2
 * nothing is shared between threads for a lock to protect.
 */
export class NoL2Store implements L2Store {
  readonly #locks = new Map<string, string>()

  /** Always answers "absent". */
  readEntry(): L2Entry | undefined {
    return undefined
  }

  /** Accepts the write and drops it. */
  writeEntry(): L2WriteResult {
    return 'ok'
  }

  /** Nothing to delete. */
  deleteEntry(): void {}

  /** Nothing to purge. */
  purgeNamespace(): void {}

  /** Takes the lock of `key` unless another token holds it. */
  tryLock(namespace: string, key: string, token: string): LockResult {
    const id = `${namespace}\u0000${key}`
    const holder = this.#locks.get(id)
    if (holder !== undefined && holder !== token) return 'held'
    this.#locks.set(id, token)
    return 'acquired'
  }

  /** Keeps the lock of `key` if `token` holds it (leases never end here). */
  extendLock(namespace: string, key: string, token: string): boolean {
    return this.#locks.get(`${namespace}\u0000${key}`) === token
  }

  /** Releases the lock of `key` if `token` holds it. */
  unlock(namespace: string, key: string, token: string): boolean {
    const id = `${namespace}\u0000${key}`
    if (this.#locks.get(id) !== token) return false
    this.#locks.delete(id)
    return true
  }

  /** Wakes the caller on the next turn of the event loop (the contract allows spurious wake-ups). */
  waitForUnlock(_namespace: string, _key: string, timeout: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.min(timeout, 1)))
  }
}
