/**
 * The unique-target dedup of lua-resty-events' broker: a hash published again
 * within `uniqueTimeout` is dropped, whatever its source and event.
 */
import { LRUCache } from 'lru-cache'

/** The broker's `resty.lrucache` holds 1,024 hashes. */
const UNIQUE_DEDUP_CAPACITY = 1024

/**
 * Hash → expiry (a time of the bus's clock), in an LRU bounded like the
 * broker's: more distinct hashes within the window evict the oldest, which
 * then may be handled twice (dedup weakens, memory stays bounded). Expiries
 * are compared on lookup, so no timer ever runs.
 */
export class UniqueDedup {
  readonly #timeout: number
  readonly #expiries: LRUCache<string, number>

  /**
   * @param timeout - the window in milliseconds (`uniqueTimeout`)
   * @param capacity - the most hashes remembered
   * @defaultValue capacity {@link UNIQUE_DEDUP_CAPACITY}
   */
  constructor(timeout: number, capacity = UNIQUE_DEDUP_CAPACITY) {
    this.#timeout = timeout
    this.#expiries = new LRUCache({ max: capacity })
  }

  /**
   * Answers `true` and starts a window for `hash` unless one is running, in
   * which case it answers `false` (the event is a duplicate). A duplicate
   * does not extend the window, as in the broker.
   * @param now - the current time of the bus's clock, in milliseconds
   */
  claim(hash: string, now: number): boolean {
    const expiry = this.#expiries.get(hash)
    if (expiry !== undefined && expiry > now) return false
    this.#expiries.set(hash, now + this.#timeout)
    return true
  }

  /** Forgets every hash. */
  clear(): void {
    this.#expiries.clear()
  }
}
