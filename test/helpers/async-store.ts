/**
 * A synchronous store behind promises, for running the store contract
 * suites down their promise path: every call first waits for a turn (a
 * microtask or a macrotask), as a networked store's round trip would, then
 * answers the wrapped store's result as a promise. The wrappers expose only
 * the halves asked for, so a suite can be run against a store that has no
 * locks, or no values.
 */
import type { L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult, LockStore, ValueStore } from '../../src/l2/l2-store.js'

/** What each call waits for before reaching the wrapped store. */
export type Turn = 'microtask' | 'macrotask'

function waitFor(turn: Turn): Promise<void> {
  return turn === 'microtask' ? Promise.resolve() : new Promise((resolve) => setImmediate(resolve))
}

/** The value half of `store` behind promises; `readEntries` only when `store` has it and `withReadEntries` holds. */
export function asyncValueStore(store: ValueStore, turn: Turn, withReadEntries = true): ValueStore {
  const values: ValueStore = {
    async readEntry(namespace: string, key: string): Promise<L2Entry | undefined> {
      await waitFor(turn)
      return await store.readEntry(namespace, key)
    },
    async writeEntry(
      namespace: string,
      key: string,
      value: Uint8Array,
      ttl: number,
      flags: number,
      options?: L2WriteOptions,
    ): Promise<L2WriteResult> {
      await waitFor(turn)
      return await store.writeEntry(namespace, key, value, ttl, flags, options)
    },
    async deleteEntry(namespace: string, key: string): Promise<void> {
      await waitFor(turn)
      await store.deleteEntry(namespace, key)
    },
    async purgeNamespace(namespace: string, flushExpired: boolean): Promise<void> {
      await waitFor(turn)
      await store.purgeNamespace(namespace, flushExpired)
    },
  }
  const readEntries = store.readEntries
  if (withReadEntries && readEntries !== undefined) {
    values.readEntries = async (namespace: string, keys: readonly string[]): Promise<(L2Entry | undefined)[]> => {
      await waitFor(turn)
      return await readEntries.call(store, namespace, keys)
    }
  }
  return values
}

/** The lock half of `store` behind promises. */
export function asyncLockStore(store: LockStore, turn: Turn): LockStore {
  return {
    async tryLock(namespace: string, key: string, token: string, lease: number): Promise<LockResult> {
      await waitFor(turn)
      return await store.tryLock(namespace, key, token, lease)
    },
    async extendLock(namespace: string, key: string, token: string, lease: number): Promise<boolean> {
      await waitFor(turn)
      return await store.extendLock(namespace, key, token, lease)
    },
    async unlock(namespace: string, key: string, token: string): Promise<boolean> {
      await waitFor(turn)
      return await store.unlock(namespace, key, token)
    },
    async waitForUnlock(namespace: string, key: string, timeout: number): Promise<void> {
      await waitFor(turn)
      await store.waitForUnlock(namespace, key, timeout)
    },
  }
}

/** Both halves of `store` behind promises. */
export function asyncL2Store(store: L2Store, turn: Turn, withReadEntries = true): L2Store {
  return { ...asyncValueStore(store, turn, withReadEntries), ...asyncLockStore(store, turn) }
}
