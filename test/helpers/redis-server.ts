/**
 * For the tests that start a real redis-server (bench/redis-server.ts): run
 * them with `describe.runIf(redisServerInstalled)`. test/redis-setup.ts looks
 * for the server once per run and prints the one notice when they skip.
 */
import { afterAll, beforeAll, inject } from 'vitest'
import { type RedisServer, startRedisServer } from '../../bench/redis-server.js'
import { REQUIRE_REDIS_ENV } from '../redis-setup.js'

/**
 * Whether `redis-server` is on PATH. Also true when it is required: then a
 * missing server fails the Redis tests instead of skipping them.
 */
export const redisServerInstalled: boolean = inject('redisServerInstalled') === true || process.env[REQUIRE_REDIS_ENV] === '1'

/**
 * Starts one redis-server of its own for the enclosing `describe` (before
 * its first test) and stops it after its last; answers a getter of it.
 * Use inside `describe.runIf(redisServerInstalled)`.
 */
export function useRedisServer(): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedisServer()
    if (server === undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)')
  }, 20_000)
  afterAll(async () => {
    await server?.stop()
  })
  return () => {
    if (server === undefined) throw new Error('useRedisServer(): the server has not started')
    return server
  }
}
