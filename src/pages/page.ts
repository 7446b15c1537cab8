/**
 * A page: one generation of a cache in this thread, and what one operation
 * works on, captured once when it starts so that nothing (a swap included)
 * can split it across two generations. It holds the L2 namespace of its
 * entries, its L1 and the loads in flight for its keys.
 */
import { L1 } from '../l1/l1-cache.js'
import { uniqueId } from '../internal/nonce.js'
import type { Loaded } from '../l3/run-loader.js'
import { pageNamespace } from './page-table.js'

/** One generation of a cache in this thread. */
export class Page {
  /** Identifies this page's L1 in bus events (unique across processes), so it skips its own invalidations. */
  readonly origin = uniqueId()
  /** Loads in flight by key: concurrent callers in this thread share one. */
  readonly inflight = new Map<string, Promise<Loaded<unknown>>>()
  /** Keys a background reload (stale-while-revalidate, refresh-ahead) of this thread is running for: one at a time per key. */
  readonly refreshing = new Set<string>()
  /**
   * Bumped whenever a key of this page is invalidated (or all of them): an
   * asynchronous L2 read that saw it change while in flight may have read
   * what the invalidation replaced, so its value is served but kept out of L1.
   */
  epoch = 0
  /** Snapshots reading this page. */
  pins = 0
  /** Its entries were reclaimed from L2: only what its L1 holds can still be read. */
  retired = false
  /** The L2 namespace of its entries and locks. */
  namespace: string
  /**
   * Settles once the page number is known: a page opened on a store that
   * answers asynchronously (Redis) starts as page 1 until the store's record
   * says which page is current. Nothing reaches its L1 or L2 before.
   */
  opening: Promise<void> | undefined

  constructor(
    readonly name: string,
    /** The page number: 1 at first, plus one per committed swap. */
    public number: number,
    /** Its L1: a page that stops being current gets one of its own if it shared a custom `lru`. */
    public l1: L1,
  ) {
    this.namespace = pageNamespace(name, number)
  }

  /** Settles the number of a page opened while the store's record was being read. */
  opened(number: number): void {
    this.number = number
    this.namespace = pageNamespace(this.name, number)
    this.opening = undefined
  }
}
