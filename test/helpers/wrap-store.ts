/**
 * An L2Store that forwards to a SharedDict, with chosen methods replaced:
 * for tests that must act at an exact point of MLCache's path (between its
 * L2 read and its lock, say) or observe what it calls. It has no `stats()`,
 * so MLCache reads no eviction count from it.
 */
import type { L2Store } from '../../src/l2/l2-store.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'

/** `dict` as a plain L2Store, each method replaced by its entry in `overrides` if any. */
export function wrapStore(dict: SharedDict, overrides: Partial<L2Store> = {}): L2Store {
  return {
    readEntry: (...args) => dict.readEntry(...args),
    writeEntry: (...args) => dict.writeEntry(...args),
    deleteEntry: (...args) => dict.deleteEntry(...args),
    purgeNamespace: (...args) => dict.purgeNamespace(...args),
    tryLock: (...args) => dict.tryLock(...args),
    extendLock: (...args) => dict.extendLock(...args),
    unlock: (...args) => dict.unlock(...args),
    waitForUnlock: (...args) => dict.waitForUnlock(...args),
    ...overrides,
  }
}
