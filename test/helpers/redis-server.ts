/**
 * For the tests that start a real redis-server (bench/redis-server.ts): run
 * them with `describe.runIf(redisServerInstalled)`. test/redis-setup.ts looks
 * for the server once per run and prints the one notice when they skip.
 */
import { inject } from 'vitest'
import { REQUIRE_REDIS_ENV } from '../redis-setup.js'

/**
 * Whether `redis-server` is on PATH. Also true when it is required: then a
 * missing server fails the Redis tests instead of skipping them.
 */
export const redisServerInstalled: boolean = inject('redisServerInstalled') === true || process.env[REQUIRE_REDIS_ENV] === '1'
