/**
 * The store contract suites against RedisStore on a real redis-server: on
 * the server's own time (`supportsClock: false`), one store per test, all
 * on one server, each test under namespaces of its own.
 */
import { describe } from 'vitest'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { registerL2StoreContract } from '../../../src/testing/l2-store-contract.js'
import { registerLockStoreContract } from '../../../src/testing/lock-store-contract.js'
import { registerValueStoreContract } from '../../../src/testing/value-store-contract.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('RedisStore contracts', () => {
  const server = useRedisServer()
  const options = {
    supportsClock: false,
    create: () => new RedisStore({ url: server().url, prefix: 'contract:' }),
    cleanup: (store: RedisStore) => store.close(),
  }
  registerValueStoreContract({ name: 'RedisStore (values only)', ...options })
  registerLockStoreContract({ name: 'RedisStore (locks only)', ...options })
  registerL2StoreContract({ name: 'RedisStore', ...options })
})
