/**
 * The options of a {@link TieredStore} and their checks: two distinct
 * L2Stores, the near one naming the copy it keeps.
 */
import { assertKnownOptions } from '../../internal/validate.js'
import type { L2Store } from '../l2-store.js'

/** What `new TieredStore(...)` takes. */
export interface TieredStoreOptions {
  /**
   * The per-host copy, read first: a `SharedDict` shared by the threads of
   * one process. It must name its copy (`copyId`, as a SharedDict does), so
   * that invalidations from members reading another copy drop it.
   */
  readonly near: L2Store
  /**
   * The store every process and host shares (a `RedisStore`): the truth for
   * entries, and where loader locks, fences and records live.
   */
  readonly far: L2Store
}

const KNOWN_OPTIONS: ReadonlySet<string> = new Set(['near', 'far'])

const L2_STORE_METHODS = ['readEntry', 'writeEntry', 'deleteEntry', 'purgeNamespace', 'tryLock', 'extendLock', 'unlock', 'waitForUnlock'] as const

function assertL2Store(store: unknown, name: string): asserts store is L2Store {
  for (const method of L2_STORE_METHODS) {
    if (typeof (store as Record<string, unknown> | null | undefined)?.[method] !== 'function') {
      throw new TypeError(`${name} must be an L2Store (missing ${method}())`)
    }
  }
}

/**
 * Throws a `TypeError` unless `options` is `{ near, far }` with two distinct
 * L2Stores, `near` naming its copy with a string `copyId`.
 */
export function assertTieredStoreOptions(options: unknown): asserts options is TieredStoreOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
  assertKnownOptions(options, KNOWN_OPTIONS)
  const { near, far } = options as Partial<TieredStoreOptions>
  assertL2Store(near, 'options.near')
  assertL2Store(far, 'options.far')
  // One store as both tiers would copy every entry onto itself and lock its own loader locks' slots.
  if (near === far) throw new TypeError('options.near and options.far must be two different stores')
  // Without a copyId, MLCache takes the store to be read by every member alike and never forgets near copies.
  if (typeof near.copyId !== 'string') throw new TypeError('options.near must name its copy (a string copyId, as a SharedDict has)')
}
