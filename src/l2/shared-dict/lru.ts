/**
 * The exact LRU list, doubly linked through the entries as nginx's
 * `lru_queue` (`ngx_queue_t`): the head is the most recently used entry,
 * eviction and expiry sweeps work from the tail. Pinned entries (loader
 * locks) are never linked.
 */

import { E_LRU_NEXT, E_LRU_PREV, H_LRU_HEAD, H_LRU_TAIL, type DictViews } from './layout.js'

/** The LRU list of one attached dict instance (the state itself is shared). */
export class Lru {
  readonly #u32: Uint32Array

  constructor(views: DictViews) {
    this.#u32 = views.u32
  }

  /** The most recently used entry, or 0. */
  get head(): number {
    return this.#u32[H_LRU_HEAD]!
  }

  /** The least recently used entry, or 0. */
  get tail(): number {
    return this.#u32[H_LRU_TAIL]!
  }

  /** The neighbour of `p` towards the head (more recently used), or 0. */
  newer(p: number): number {
    return this.#u32[(p << 1) + E_LRU_PREV]!
  }

  /** The neighbour of `p` towards the tail (less recently used), or 0. */
  older(p: number): number {
    return this.#u32[(p << 1) + E_LRU_NEXT]!
  }

  /** Empties the list. */
  reset(): void {
    this.#u32[H_LRU_HEAD] = 0
    this.#u32[H_LRU_TAIL] = 0
  }

  /** Links `p` at the head (`ngx_queue_insert_head`). */
  linkHead(p: number): void {
    const u32 = this.#u32
    const head = u32[H_LRU_HEAD]!
    u32[(p << 1) + E_LRU_PREV] = 0
    u32[(p << 1) + E_LRU_NEXT] = head
    if (head === 0) u32[H_LRU_TAIL] = p
    else u32[(head << 1) + E_LRU_PREV] = p
    u32[H_LRU_HEAD] = p
  }

  /** Unlinks `p` (`ngx_queue_remove`). */
  unlink(p: number): void {
    const u32 = this.#u32
    const prev = u32[(p << 1) + E_LRU_PREV]!
    const next = u32[(p << 1) + E_LRU_NEXT]!
    if (prev === 0) u32[H_LRU_HEAD] = next
    else u32[(prev << 1) + E_LRU_NEXT] = next
    if (next === 0) u32[H_LRU_TAIL] = prev
    else u32[(next << 1) + E_LRU_PREV] = prev
  }

  /** Moves `p` to the head: a use. */
  touch(p: number): void {
    if (this.#u32[H_LRU_HEAD] === p) return
    this.unlink(p)
    this.linkHead(p)
  }
}
