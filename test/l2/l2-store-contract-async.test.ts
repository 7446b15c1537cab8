/**
 * The store contract suites on their promise path: SharedDict behind a
 * wrapper that answers every call with a promise, after a turn of the event
 * loop. The value-only and lock-only wrappers show that each half's suite
 * asks nothing of the other half.
 */
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { registerL2StoreContract } from '../../src/testing/l2-store-contract.js'
import { registerLockStoreContract } from '../../src/testing/lock-store-contract.js'
import type { StoreContractContext } from '../../src/testing/store-contract-support.js'
import { registerValueStoreContract } from '../../src/testing/value-store-contract.js'
import type { LockStore, ValueStore } from '../../src/l2/l2-store.js'
import { asyncStore } from '../helpers/async-store.js'

/** The dict behind each wrapper, checked after each test. */
const dicts = new WeakMap<object, SharedDict>()

function behind<S extends object>(wrap: (dict: SharedDict) => S): (context: StoreContractContext) => S {
  return ({ clock }) => {
    const dict = SharedDict.create({ size: '1m', clock })
    const store = wrap(dict)
    dicts.set(store, dict)
    return store
  }
}

function check(store: object): void {
  const dict = dicts.get(store)
  if (dict === undefined) throw new Error('not a wrapped SharedDict')
  checkSharedDictInvariants(dict)
}

/** The value half of `dict` only, without `readEntries`. */
function valuesOf(dict: SharedDict): ValueStore {
  return {
    readEntry: (...args) => dict.readEntry(...args),
    writeEntry: (...args) => dict.writeEntry(...args),
    deleteEntry: (...args) => dict.deleteEntry(...args),
    purgeNamespace: (...args) => dict.purgeNamespace(...args),
  }
}

/** The lock half of `dict` only. */
function locksOf(dict: SharedDict): LockStore {
  return {
    tryLock: (...args) => dict.tryLock(...args),
    extendLock: (...args) => dict.extendLock(...args),
    unlock: (...args) => dict.unlock(...args),
    waitForUnlock: (...args) => dict.waitForUnlock(...args),
  }
}

registerL2StoreContract({
  name: 'SharedDict behind promises (a few macrotasks per call)',
  create: behind((dict) => asyncStore(dict, { seed: 1 })),
  cleanup: check,
})

registerValueStoreContract({
  name: 'SharedDict values only, without readEntries, behind promises',
  create: behind((dict) => asyncStore(valuesOf(dict), { seed: 2 }) as unknown as ValueStore),
  cleanup: check,
})

registerLockStoreContract({
  name: 'SharedDict locks only, behind promises',
  create: behind((dict) => asyncStore(locksOf(dict), { seed: 3 })),
  cleanup: check,
})
