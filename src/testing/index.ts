/**
 * Test helpers for adapter authors and for mlcache's own suite: the
 * contract suites every value store, lock store, L2 store and bus must
 * pass, and the SharedDict invariant checker. Requires `vitest` (an
 * optional peer).
 */
export { registerValueStoreContract } from './value-store-contract.js'
export { registerLockStoreContract } from './lock-store-contract.js'
export { registerL2StoreContract } from './l2-store-contract.js'
export { registerEventBusContract } from './event-bus-contract.js'
export { checkSharedDictInvariants } from '../l2/shared-dict/invariants.js'
export type { StoreContractContext, StoreContractOptions } from './store-contract-support.js'
export type { ValueStoreContractOptions } from './value-store-contract.js'
export type { LockStoreContractOptions } from './lock-store-contract.js'
export type { L2StoreContractOptions } from './l2-store-contract.js'
export type { EventBusContractOptions } from './event-bus-contract.js'
