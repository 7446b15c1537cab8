/**
 * ioredis is an optional peer dependency: `mlcache` works without it, and
 * only `mlcache/redis` needs it. It is required lazily, the first time a
 * RedisStore or RedisBus is made from a `url`, so that importing
 * `mlcache/redis` never fails by itself and a missing package is reported
 * with what to install instead of a bare "Cannot find package".
 */
import { createRequire } from 'node:module'
import type { Redis, RedisOptions } from 'ioredis'

type RedisConstructor = new (url: string, options: RedisOptions) => Redis

let cached: RedisConstructor | undefined

/**
 * Answers ioredis's `Redis` class.
 * @throws {Error} ioredis is not installed; the message says how to install it
 */
export function loadIoredis(): RedisConstructor {
  if (cached !== undefined) return cached
  let module: { Redis: RedisConstructor }
  try {
    module = createRequire(import.meta.url)('ioredis') as { Redis: RedisConstructor }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error
    throw new Error("mlcache/redis needs the 'ioredis' package (an optional peer dependency of mlcache): npm install ioredis", { cause: error })
  }
  cached = module.Redis
  return cached
}
