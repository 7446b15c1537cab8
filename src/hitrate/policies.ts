/**
 * Reference policies to set a replay against: an exact LRU, and Belady's
 * optimal offline policy (OPT, "MIN": L. A. Belady, "A study of replacement
 * algorithms for a virtual-storage computer", IBM Systems Journal, 1966),
 * the upper bound no online cache of that many entries can beat.
 */
import { MaxHeap } from './max-heap.js'

/**
 * Numbers the distinct keys of a trace 0, 1, 2... in order of first use, so
 * the policies below index typed arrays instead of hashing strings.
 */
export function toIds(keys: readonly string[]): Int32Array {
  const ids = new Int32Array(keys.length)
  const numbering = new Map<string, number>()
  keys.forEach((key, index) => {
    let id = numbering.get(key)
    if (id === undefined) numbering.set(key, (id = numbering.size))
    ids[index] = id
  })
  return ids
}

/**
 * An exact LRU of `capacity` entries. A `Map` iterates in insertion order,
 * so deleting and re-inserting a key on use keeps the least recently used
 * key first: every operation is O(1).
 */
class LruSimulator {
  readonly #capacity: number
  readonly #entries = new Map<number, true>()

  /** @param capacity - entries held at most (0 holds nothing) */
  constructor(capacity: number) {
    this.#capacity = capacity
  }

  /** A get, then a set on a miss (evicting the least recently used entry): answers whether it hit. */
  access(id: number): boolean {
    if (this.#entries.delete(id)) {
      this.#entries.set(id, true)
      return true
    }
    if (this.#capacity === 0) return false
    if (this.#entries.size === this.#capacity) this.#entries.delete(this.#entries.keys().next().value!)
    this.#entries.set(id, true)
    return false
  }
}

/** The number of hits of an exact LRU of `capacity` entries on the trace `ids`. */
export function lruHits(ids: Int32Array, capacity: number): number {
  const lru = new LruSimulator(capacity)
  let hits = 0
  for (const id of ids) if (lru.access(id)) hits++
  return hits
}

/**
 * For each request, the index of the next request of the same key, or
 * `ids.length` when there is none ("never again").
 */
function nextUses(ids: Int32Array): Int32Array {
  const next = new Int32Array(ids.length)
  const seen = new Map<number, number>()
  for (let index = ids.length - 1; index >= 0; index--) {
    const id = ids[index]!
    next[index] = seen.get(id) ?? ids.length
    seen.set(id, index)
  }
  return next
}

/**
 * The number of hits of Belady's OPT with `capacity` entries: every miss is
 * admitted and, when full, evicts the resident key whose next use is the
 * farthest in the future. The residents sit in a max-heap keyed by next use;
 * a hit pushes the key again with its new next use and leaves the old pair
 * behind, skipped when it surfaces (lazy deletion), so each request costs
 * O(log n) instead of a scan of the residents.
 */
export function optHits(ids: Int32Array, capacity: number): number {
  if (capacity === 0) return 0
  const next = nextUses(ids)
  let distinct = 0
  for (const id of ids) distinct = Math.max(distinct, id + 1)
  // -1: not resident; otherwise the index of the key's next use (its current heap priority).
  const resident = new Float64Array(distinct).fill(-1)
  const heap = new MaxHeap()
  let residents = 0
  let hits = 0
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index]!
    if (resident[id] !== -1) hits++
    else if (residents === capacity) {
      for (;;) {
        const priority = heap.peekPriority()
        const victim = heap.pop()
        if (resident[victim] === priority) {
          resident[victim] = -1
          break
        }
      }
    } else residents++
    // Keys used "never again" share the priority ids.length; any of them is an equally good victim.
    resident[id] = next[index]!
    heap.push(next[index]!, id)
  }
  return hits
}
