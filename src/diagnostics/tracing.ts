/**
 * MLCache on Node's `diagnostics_channel`, the way HTTP, undici and the
 * database drivers publish: four tracing channels, so any APM agent or a
 * few lines of `subscribe` see every cache operation with its outcome.
 *
 * | channel | traced call | context |
 * |---|---|---|
 * | `mlcache:get` | `get`, `lookup` | `{ cache, key }`, then `hitLevel` and `stale` (and `result`), or `error` |
 * | `mlcache:set` | `set` | `{ cache, key }`, or `error` |
 * | `mlcache:delete` | `delete`, `purge` (`key` absent) | `{ cache, key? }`, or `error` |
 * | `mlcache:load` | one run of a loader (L3) | `{ cache, key }`, then `result`, or `error` |
 *
 * Each publishes `tracing:mlcache:<op>:start`, `:end`, `:asyncStart`,
 * `:asyncEnd` and `:error` (see `TracingChannel.tracePromise`). A call
 * pays one `hasSubscribers` read when nobody listens, nothing more.
 */
import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'

/** What every MLCache trace context holds. */
export interface CacheTraceContext {
  /** The cache's name. */
  readonly cache: string
  /** The key; absent for a `purge`. */
  readonly key?: string
  /** Set when the traced call rejects. */
  error?: unknown
  /** Set when the traced call resolves: what it resolved with. */
  result?: unknown
}

/** The context of `mlcache:get`: where the answer came from, once it came. */
export interface GetTraceContext extends CacheTraceContext {
  readonly key: string
  /** The `hitLevel` of the answer (1, 2, 3, 4, or -1 for a miss without a loader). */
  hitLevel?: number
  /** Whether the answer is a stale value. */
  stale?: boolean
}

/** `tracing:mlcache:get:*`: `get` and `lookup`. */
export const getChannel: TracingChannel<unknown, GetTraceContext> = tracingChannel('mlcache:get')
/** `tracing:mlcache:set:*`: `set`. */
export const setChannel: TracingChannel<unknown, CacheTraceContext> = tracingChannel('mlcache:set')
/** `tracing:mlcache:delete:*`: `delete`, and `purge` without a key. */
export const deleteChannel: TracingChannel<unknown, CacheTraceContext> = tracingChannel('mlcache:delete')
/** `tracing:mlcache:load:*`: one loader run. */
export const loadChannel: TracingChannel<unknown, CacheTraceContext> = tracingChannel('mlcache:load')
