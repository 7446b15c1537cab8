/**
 * `mlcache/redis`: the shared level, loader locks and event bus on Redis,
 * for caches that span processes (node:cluster, PM2) and hosts.
 *
 * ioredis is an optional peer dependency of mlcache: this module imports
 * without it, and a `RedisStore` or `RedisBus` made from a `url` says what
 * to install; one given a `{ client }` never loads it.
 */
export { RedisStore, type RedisStoreOptions } from '../l2/redis/redis-store.js'
export { RedisBus } from '../bus/redis-bus.js'
export type { RedisBusOptions } from '../bus/redis-bus-options.js'
export type { RedisConnection, RedisLinkOptions } from './redis-link.js'
