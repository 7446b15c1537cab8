/**
 * A page: what one operation of a cache works on, captured once when it
 * starts so that nothing (a later page swap included) can split it across
 * two generations. It holds the L2 namespace, the L1 and the loads in
 * flight for its keys. Caches with the same name and the same store in one
 * thread share a page, hence one L1 (upstream keeps a weak-valued table of
 * lrucaches per name; the contract adds the store to the key, so two stores
 * never mix).
 */
import { uniqueId } from './internal/nonce.js'
import { L1 } from './l1/l1-cache.js'
import type { Loaded } from './l3/run-loader.js'
import type { L1Store } from './types.js'

/** One generation of a cache in this thread. */
export class Page {
  /** Identifies this page's L1 in bus events (unique across processes), so it skips its own invalidations. */
  readonly origin = uniqueId()
  /** Loads in flight by key: concurrent callers in this thread share one. */
  readonly inflight = new Map<string, Promise<Loaded<unknown>>>()
  /**
   * Bumped whenever a key of this page is invalidated (or all of them): an
   * asynchronous L2 read that saw it change while in flight may have read
   * what the invalidation replaced, so its value is served but kept out of L1.
   */
  epoch = 0
  /** How many caches use this page. */
  refs = 1

  constructor(
    /** The L2 namespace of its entries and locks. */
    readonly namespace: string,
    /** Its L1. */
    readonly l1: L1,
  ) {}
}

const shared = new WeakMap<object, Map<string, Page>>()

/**
 * The page of (`store`, `name`) in this thread, made with an L1 of
 * `lruSize` on first use; a custom `lru` makes a page of its own, never
 * shared. Call the returned `release` when the cache closes.
 */
export function acquirePage(
  store: object,
  name: string,
  lruSize: number,
  clock: () => number,
  lru: L1Store | undefined,
): { page: Page; release: () => void } {
  if (lru !== undefined) return { page: new Page(name, new L1(lruSize, clock, lru)), release: () => undefined }
  let byName = shared.get(store)
  if (byName === undefined) {
    byName = new Map()
    shared.set(store, byName)
  }
  const names = byName
  let page = names.get(name)
  if (page === undefined) {
    page = new Page(name, new L1(lruSize, clock))
    names.set(name, page)
  } else {
    page.refs++
  }
  const acquired = page
  return {
    page: acquired,
    release: () => {
      if (--acquired.refs === 0 && names.get(name) === acquired) names.delete(name)
    },
  }
}
