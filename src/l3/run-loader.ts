/**
 * L3: calling the user's loader (mlcache's `run_callback` without the
 * lock), and what a load produces for the callers that share it.
 */
import { LoaderError } from '../errors.js'
import { describe } from '../internal/describe.js'
import type { HitLevel, Loader, LoaderContext } from '../types.js'

/**
 * What a load gives every caller sharing it, before each applies its own
 * `l1Serializer`: the raw value, where it came from, and whether and how
 * long the caller that started the load may keep it in L1.
 */
export interface Loaded<V> {
  /** The raw value; `undefined` for "not found". */
  readonly value: V | undefined
  /** Where it came from: `3` loaded here, `2` found in L2 after waiting, `4` stale. */
  readonly hitLevel: Exclude<HitLevel, 1 | -1>
  /** L1 lifetime in ms (`0`: never expires); `undefined` when it must not enter L1. */
  readonly l1Ttl: number | undefined
  /** Served as the loader returned it, without `l1Serializer` (the loader set `ctx.ttl < 0`). */
  readonly raw?: true
}

/** The loader's answer and the TTL it asked for through `ctx.ttl`. */
export interface LoaderAnswer<V> {
  /** The value; `undefined` for "not found" (`null` too). */
  readonly value: V | undefined
  /** `ctx.ttl` as the loader left it (Infinity meaning "never", so `0`); `undefined` when unset or not a number. */
  readonly ttl: number | undefined
}

/**
 * Calls `loader(key, ctx)` with the stale value, if any, in `ctx.stale`.
 * @throws {LoaderError} the loader threw or rejected; `cause` is what it threw
 */
export async function runLoader<V>(key: string, loader: Loader<V>, stale: V | undefined): Promise<LoaderAnswer<V>> {
  const ctx: LoaderContext<V> = stale === undefined ? {} : { stale }
  let value: V | null | undefined
  try {
    value = await loader(key, ctx)
  } catch (error) {
    throw new LoaderError(`loader of key '${key}' failed: ${describe(error)}`, { cause: error, key })
  }
  const ttl = typeof ctx.ttl === 'number' && !Number.isNaN(ctx.ttl) ? (ctx.ttl === Infinity ? 0 : ctx.ttl) : undefined
  return { value: value ?? undefined, ttl }
}
