import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { registerL2StoreContract } from '../../src/testing/l2-store-contract.js'

// The ValueStore, LockStore and L2Store suites, on the synchronous path.
registerL2StoreContract({
  name: 'SharedDict',
  create: ({ clock }) => SharedDict.create({ size: '1m', clock }),
  cleanup: (dict) => checkSharedDictInvariants(dict),
})
