/**
 * The store contract suites against TieredStore: over two SharedDicts on
 * the suite's fake clock (no server), and over a SharedDict in front of a
 * RedisStore on a real redis-server (on the server's own time).
 */
import { describe } from 'vitest'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { checkSharedDictInvariants } from '../../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../../src/l2/tiered/tiered-store.js'
import { registerL2StoreContract } from '../../../src/testing/l2-store-contract.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'

/** The dicts behind each store, checked after each test. */
const dicts = new WeakMap<TieredStore, SharedDict[]>()

function tiered(near: SharedDict, far: SharedDict | RedisStore): TieredStore {
  const store = new TieredStore({ near, far })
  dicts.set(store, far instanceof SharedDict ? [near, far] : [near])
  return store
}

function checkDicts(store: TieredStore): void {
  for (const dict of dicts.get(store) ?? []) checkSharedDictInvariants(dict)
}

registerL2StoreContract({
  name: 'TieredStore (SharedDict in front of SharedDict)',
  create: ({ clock }) => tiered(SharedDict.create({ size: '1m', clock }), SharedDict.create({ size: '4m', clock })),
  cleanup: checkDicts,
})

describe.runIf(redisServerInstalled)('TieredStore contracts over Redis', () => {
  const server = useRedisServer()
  const fars = new WeakMap<TieredStore, RedisStore>()
  registerL2StoreContract({
    name: 'TieredStore (SharedDict in front of RedisStore)',
    supportsClock: false,
    create: () => {
      const far = new RedisStore({ url: server().url, prefix: 'tiered-contract:' })
      const store = tiered(SharedDict.create({ size: '1m' }), far)
      fars.set(store, far)
      return store
    },
    cleanup: async (store) => {
      checkDicts(store)
      await fars.get(store)?.close()
    },
  })
})
