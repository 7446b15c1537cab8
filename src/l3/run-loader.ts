/**
 * L3: calling the user's loader (mlcache's `run_callback` without the
 * lock), and what a load produces for the callers that share it.
 */
import { LoaderError, LoaderTimeoutError } from '../errors.js'
import { describe } from '../internal/describe.js'
import { raceTimer } from '../internal/race-timer.js'
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
  /** The loader's value is in L2 now (a background reload then tells every L1). */
  readonly stored?: true
  /** The loader failed and the stale value was resurrected instead: what it failed with. */
  readonly failure?: Error
}

/** The loader's answer and the TTL it asked for through `ctx.ttl`. */
export interface LoaderAnswer<V> {
  /** The value; `undefined` for "not found" (`null` too). */
  readonly value: V | undefined
  /** `ctx.ttl` as the loader left it (Infinity meaning "never", so `0`); `undefined` when unset or not a number. */
  readonly ttl: number | undefined
}

/** When a loader call is given up. */
export interface LoaderLimits {
  /** Real ms from the call: then `ctx.signal` is aborted and the call rejects with `LoaderTimeoutError`. */
  readonly hard?: number | undefined
  /** Its abort gives the call up the same way, with the signal's reason (a background reload when the cache closes). */
  readonly cancel?: AbortSignal | undefined
}

/** The context a loader receives: `ctx.signal` is made on first read, so a loader that never reads it pays nothing. */
class Context<V> implements LoaderContext<V> {
  ttl?: number | undefined
  readonly stale?: V | undefined
  #controller: AbortController | undefined

  constructor(stale: V | undefined) {
    if (stale !== undefined) this.stale = stale
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal
  }

  abort(reason: Error): void {
    this.#controller?.abort(reason)
  }
}

/**
 * Calls `loader(key, ctx)` with the stale value, if any, in `ctx.stale`.
 * Past `limits.hard`, or once `limits.cancel` aborts, the call stops waiting
 * for the loader: `ctx.signal` is aborted and the call rejects, and what the
 * loader answers later is dropped (a rejection included: never unhandled).
 * A loader that blocks the thread synchronously cannot be interrupted.
 * @throws {LoaderError} the loader threw or rejected; `cause` is what it threw
 * @throws {LoaderTimeoutError} past `limits.hard`
 */
export async function runLoader<V>(key: string, loader: Loader<V>, stale: V | undefined, limits?: LoaderLimits): Promise<LoaderAnswer<V>> {
  const ctx = new Context<V>(stale)
  let value: V | null | undefined
  try {
    const answer = loader(key, ctx)
    value = limits === undefined || !(answer instanceof Promise) ? await answer : await withinLimits(answer, key, ctx, limits)
  } catch (error) {
    if (error instanceof LoaderTimeoutError || (limits?.cancel?.aborted === true && error === limits.cancel.reason)) throw error
    throw new LoaderError(`loader of key '${key}' failed: ${describe(error)}`, { cause: error, key })
  }
  const ttl = typeof ctx.ttl === 'number' && !Number.isNaN(ctx.ttl) ? (ctx.ttl === Infinity ? 0 : ctx.ttl) : undefined
  return { value: value ?? undefined, ttl }
}

/** `answer`, unless the hard limit passes or `cancel` aborts first: then the context is aborted and this rejects. */
function withinLimits<T>(answer: Promise<T>, key: string, ctx: Context<unknown>, { hard, cancel }: LoaderLimits): Promise<T> {
  const cancellable = cancel === undefined ? answer : untilAborted(answer, cancel, ctx)
  if (hard === undefined) return cancellable
  // The timer goes as soon as the loader answers or the call is cancelled (raceTimer clears it).
  return raceTimer(cancellable, Math.max(0, hard), () => {
    const timeout = new LoaderTimeoutError(`loader of key '${key}' ran past its hard timeout of ${hard} ms`, { key })
    ctx.abort(timeout)
    throw timeout
  })
}

/** `answer`, unless `signal` aborts first: then the context is aborted with its reason and this rejects with it. */
function untilAborted<T>(answer: Promise<T>, signal: AbortSignal, ctx: Context<unknown>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      ctx.abort(signal.reason as Error)
      reject(signal.reason)
    }
    if (signal.aborted) return onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    answer.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}
