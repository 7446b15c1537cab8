/**
 * RedisBus against the single-member bus contract, on a real redis-server.
 * Each bus gets a prefix of its own, so no test sees another's events or
 * unique windows.
 */
import { describe } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { registerEventBusContract } from '../../src/testing/event-bus-contract.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('RedisBus (contract)', () => {
  const server = useRedisServer()
  let buses = 0
  registerEventBusContract({
    name: 'RedisBus',
    create: (options) => new RedisBus({ url: server().url, prefix: `contract-${++buses}:`, ...options }),
  })
})
