/**
 * The cross-worker loader lock (mlcache's `run_callback` over lua-resty-lock,
 * in `shm_locks`): a lease with an owner token in the lock store, released by
 * compare-and-delete. Waiting never blocks the event loop: the store wakes
 * waiters on release, and lua-resty-lock's `timeout` becomes `lockTimeout`.
 */
import { threadId } from 'node:worker_threads'
import type { L2Store } from '../l2/l2-store.js'

let tokenCounter = 0

/** A token naming this thread as owner, unique in the process (the thread id comes first). */
export function newLockToken(): string {
  return `${threadId}:${++tokenCounter}`
}

/** The outcome of {@link acquireLoaderLock}. */
export type AcquireResult =
  | 'acquired' // this caller holds the lock
  | 'timeout' // someone else held it for longer than the timeout
  | 'unlockable' // the lock store cannot hold the lock (full): load without it
  | 'woken' // the lock was released; the caller should re-read L2 first

/**
 * Tries the lock once; if it is held, waits until it is released or
 * `timeout` (real milliseconds from `startedAt`, a `performance.now()`
 * value) runs out. Answers `'woken'` after a release so the caller re-reads
 * L2 before trying again: the holder has usually just stored the value.
 */
export async function acquireLoaderLock(
  lockStore: L2Store,
  namespace: string,
  key: string,
  token: string,
  lease: number,
  startedAt: number,
  timeout: number,
): Promise<AcquireResult> {
  const result = await lockStore.tryLock(namespace, key, token, lease)
  if (result === 'acquired') return 'acquired'
  // Locks never evict cached values; when the lock store is full the lock is
  // only lost deduplication, so the caller loads without it.
  if (result === 'no memory') return 'unlockable'
  const remaining = startedAt + timeout - performance.now()
  if (remaining <= 0) return 'timeout'
  await lockStore.waitForUnlock(namespace, key, remaining)
  return 'woken'
}

/** Releases the lock if `token` still owns it; a failing store only loses the lease early. */
export async function releaseLoaderLock(lockStore: L2Store, namespace: string, key: string, token: string): Promise<void> {
  try {
    await lockStore.unlock(namespace, key, token)
  } catch {
    // The lease (lockExptime) frees it anyway; there is nobody to report to.
  }
}
