/**
 * The default L2 store: the SharedDict a cache created without `store` uses.
 *
 * One per thread, not one per cache. Upstream, every cache of an nginx worker
 * names one `lua_shared_dict`, so caches of one name share L2 and many caches
 * cost one zone. A SharedDict is process memory, but only the threads it is
 * handed to (its `handle`) can share it, and nothing hands a store that the
 * library made on its own to another thread: "per thread" is all a cache
 * without a `store` can actually share. Module state is per thread anyway
 * (each worker loads its own copy of this module), so this needs no
 * bookkeeping. Caches keep apart by name: their keys are namespaced.
 *
 * One per thread *and clock*: the contract lets `clock` drive the TTLs of a
 * cache's default store, and a dict keeps one clock, so caches given their
 * own clock share the default store of that clock (a WeakMap: it goes when
 * the clock does). Caches on `Date.now`, the default, all share one.
 *
 * The store is made on the first cache that needs it, with the size set by
 * {@link configureDefaultStore} (16 MiB otherwise); it is never closed or
 * flushed by a cache, since other caches of the thread may use it.
 */
import { assertKnownOptions } from './internal/validate.js'
import { SharedDict } from './l2/shared-dict/shared-dict.js'
import { parseDictSize } from './l2/shared-dict/size.js'

/** The size of the default store unless {@link configureDefaultStore} sets another (upstream's examples use a few MiB to a few tens). */
export const DEFAULT_STORE_SIZE = '16m'

/** What {@link configureDefaultStore} accepts. */
export interface DefaultStoreOptions {
  /**
   * Bytes, or `'64m'`, `'512k'`, `'1g'` (8 KiB to 4 GiB − 1), as
   * `SharedDict.create`'s `size`. Default `'16m'`.
   */
  size: number | string
}

const OPTIONS: ReadonlySet<string> = new Set(['size'])

let size: number | string = DEFAULT_STORE_SIZE
/** Whether a default store was made in this thread: from then on the configuration is fixed. */
let created = false
const stores = new WeakMap<() => number, SharedDict>()

/**
 * Sets the size of this thread's default store. Call it before the first
 * cache without a `store`; later calls would not resize a store that caches
 * already use, so they throw rather than be silently ignored.
 * @throws {TypeError | RangeError} a bad `options` or `options.size`
 * @throws {Error} the default store was already created in this thread
 */
export function configureDefaultStore(options: DefaultStoreOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
  assertKnownOptions(options, OPTIONS)
  parseDictSize(options.size)
  if (created) {
    throw new Error('the default store already exists in this thread: configure it before the first MLCache created without a store')
  }
  size = options.size
}

/** The default store of this thread on `clock`, made on first use. */
export function defaultStore(clock: () => number): SharedDict {
  let store = stores.get(clock)
  if (store === undefined) {
    store = SharedDict.create({ size, clock })
    stores.set(clock, store)
    created = true
  }
  return store
}
