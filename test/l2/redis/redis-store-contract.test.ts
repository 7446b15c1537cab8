/**
 * The store contract suites against RedisStore on a real redis-server:
 * registerL2StoreContract registers the ValueStore and LockStore suites
 * too, then what needs both halves. The store runs on Redis's clock
 * (`supportsClock: false`); each test gets a store with a prefix of its
 * own, closed after the test.
 */
import { randomUUID } from 'node:crypto'
import { describe } from 'vitest'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { registerL2StoreContract } from '../../../src/testing/l2-store-contract.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('RedisStore contract', () => {
  const server = useRedisServer()
  registerL2StoreContract({
    name: 'RedisStore',
    supportsClock: false,
    create: () => new RedisStore({ url: server().url, prefix: `test:${randomUUID()}:` }),
    cleanup: (store) => store.close(),
  })
})
