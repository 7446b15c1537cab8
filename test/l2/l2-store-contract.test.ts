import { registerL2StoreContract } from '../../src/testing/l2-store-contract.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'

registerL2StoreContract({
  name: 'SharedDict',
  create: ({ clock }) => SharedDict.create({ size: '1m', clock }),
})
