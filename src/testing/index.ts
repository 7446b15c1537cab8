/**
 * Test helpers for adapter authors and for mlcache's own suite: the
 * contract suites every L2 store and every bus must pass, and the
 * SharedDict invariant checker. Requires `vitest` (an optional peer).
 */
export { registerL2StoreContract } from './l2-store-contract.js'
export { registerEventBusContract } from './event-bus-contract.js'
export { checkSharedDictInvariants } from '../l2/shared-dict/invariants.js'
export type { L2StoreContractContext, L2StoreContractOptions } from './l2-store-contract.js'
export type { EventBusContractOptions } from './event-bus-contract.js'
