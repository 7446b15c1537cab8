/**
 * An asynchronous view of a synchronous L2 store (a SharedDict), as a
 * networked store such as Redis would be: every call answers a promise that
 * settles only after at least one real `setImmediate`, and usually a few
 * (seeded) macrotask turns, some before the call reaches the store and some
 * after, so concurrent calls of one test interleave and reorder the way
 * round trips do. The store underneath stays the same object: tests keep
 * inspecting it synchronously.
 */
import type { L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult, LockStore } from '../../src/l2/l2-store.js'
import { seededRandom } from './seeded-random.js'

/** What an asynchronous store wraps: any of the L2Store methods (a LockStore has only the lock half). */
type AnyStore = Partial<L2Store> & { stats?: () => unknown }

export interface AsyncStoreOptions {
  /** Seeds the turn counts, so a failing run replays the same schedule. */
  seed: number
  /** The most macrotask turns a call waits before reaching the store, and after. @defaultValue 3 */
  maxTurns?: number
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Calls of every asynchronous store of this thread that are on their way:
 * not yet at their store, or answered but not yet delivered. A call inside
 * its store (a `waitForUnlock` waiting) is not on its way.
 */
let onTheirWay = 0

/**
 * Resolves once no call of any asynchronous store is on its way, checked
 * between macrotasks, after one `setImmediate` at least: every caller has
 * then received what it asked for and is waiting on something else (a
 * loader, a lock wait) or done.
 */
export async function asyncStoresSettled(): Promise<void> {
  do await immediate()
  while (onTheirWay > 0)
}

/**
 * Wraps `store` so that each L2Store method it has answers a promise: the
 * call waits 0..maxTurns turns, runs on `store` (a throw becomes a
 * rejection), then waits 1..maxTurns more turns before settling. `stats()`,
 * when present, stays synchronous and is forwarded as is (MLCache reads the
 * forcible evictions from it).
 */
export function asyncStore<S extends AnyStore>(store: S, options: AsyncStoreOptions): S extends L2Store ? L2Store : LockStore {
  const random = seededRandom(options.seed)
  const maxTurns = options.maxTurns ?? 3
  const turns = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await immediate()
  }
  const call = async <T>(run: () => T | Promise<T>): Promise<T> => {
    const before = Math.floor(random() * (maxTurns + 1))
    const after = 1 + Math.floor(random() * maxTurns)
    onTheirWay++
    try {
      await turns(before)
    } finally {
      onTheirWay--
    }
    // A throw, synchronous or not, is delivered as a rejection after the same turns.
    let outcome: { ok: true; value: T } | { ok: false; error: unknown }
    try {
      outcome = { ok: true, value: await run() }
    } catch (error) {
      outcome = { ok: false, error }
    }
    onTheirWay++
    try {
      await turns(after)
    } finally {
      onTheirWay--
    }
    if (!outcome.ok) throw outcome.error
    return outcome.value
  }
  const wrapped: AnyStore = {}
  if (store.readEntry !== undefined) {
    const readEntry = store.readEntry.bind(store)
    wrapped.readEntry = (namespace: string, key: string): Promise<L2Entry | undefined> => call(() => readEntry(namespace, key))
  }
  if (store.readEntries !== undefined) {
    const readEntries = store.readEntries.bind(store)
    wrapped.readEntries = (namespace: string, keys: readonly string[]): Promise<(L2Entry | undefined)[]> => {
      // A caller may reuse its array once the call is made: the request carries a copy, as a network request would.
      const sent = [...keys]
      return call(() => readEntries(namespace, sent))
    }
  }
  if (store.writeEntry !== undefined) {
    const writeEntry = store.writeEntry.bind(store)
    wrapped.writeEntry = (namespace: string, key: string, value: Uint8Array, ttl: number, flags: number, writeOptions?: L2WriteOptions): Promise<L2WriteResult> => {
      // The bytes are sent when the call is made, as a network request would.
      const sent = value.slice()
      return call(() => (writeOptions === undefined ? writeEntry(namespace, key, sent, ttl, flags) : writeEntry(namespace, key, sent, ttl, flags, { ...writeOptions })))
    }
  }
  if (store.readRecord !== undefined) {
    const readRecord = store.readRecord.bind(store)
    wrapped.readRecord = (namespace: string, key: string): Promise<string | undefined> => call(() => readRecord(namespace, key))
  }
  if (store.writeRecord !== undefined) {
    const writeRecord = store.writeRecord.bind(store)
    wrapped.writeRecord = (namespace: string, key: string, value: string): Promise<boolean> => call(() => writeRecord(namespace, key, value))
  }
  if (store.deleteEntry !== undefined) {
    const deleteEntry = store.deleteEntry.bind(store)
    wrapped.deleteEntry = (namespace: string, key: string): Promise<void> => call(() => deleteEntry(namespace, key))
  }
  if (store.purgeNamespace !== undefined) {
    const purgeNamespace = store.purgeNamespace.bind(store)
    wrapped.purgeNamespace = (namespace: string, flushExpired: boolean): Promise<void> => call(() => purgeNamespace(namespace, flushExpired))
  }
  if (store.forget !== undefined) {
    const forget = store.forget.bind(store)
    wrapped.forget = (namespace: string, key?: string): Promise<void> => call(() => forget(namespace, key))
  }
  if (store.copyId !== undefined) Object.defineProperty(wrapped, 'copyId', { value: store.copyId, enumerable: true })
  if (store.tryLock !== undefined) {
    const tryLock = store.tryLock.bind(store)
    wrapped.tryLock = (namespace: string, key: string, token: string, lease: number): Promise<LockResult> => call(() => tryLock(namespace, key, token, lease))
  }
  if (store.extendLock !== undefined) {
    const extendLock = store.extendLock.bind(store)
    wrapped.extendLock = (namespace: string, key: string, token: string, lease: number): Promise<boolean> => call(() => extendLock(namespace, key, token, lease))
  }
  if (store.unlock !== undefined) {
    const unlock = store.unlock.bind(store)
    wrapped.unlock = (namespace: string, key: string, token: string): Promise<boolean> => call(() => unlock(namespace, key, token))
  }
  if (store.waitForUnlock !== undefined) {
    const waitForUnlock = store.waitForUnlock.bind(store)
    wrapped.waitForUnlock = (namespace: string, key: string, timeout: number): Promise<void> => call(() => waitForUnlock(namespace, key, timeout))
  }
  if (typeof store.stats === 'function') {
    const stats = store.stats.bind(store)
    wrapped.stats = () => stats()
  }
  return wrapped as S extends L2Store ? L2Store : LockStore
}
