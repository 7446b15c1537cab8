/**
 * TLSF-lite allocator over the dict's arena.
 *
 * Free blocks sit in segregated lists indexed by size class: a first level
 * `fl` (the power of two of the size) split into 16 second-level classes
 * `sl`, with one bitmap of non-empty `fl`s and one bitmap of non-empty `sl`s
 * per `fl`, so `malloc` finds a large-enough class with two `Math.clz32`s.
 * Freed blocks coalesce at once with both physical neighbours through
 * boundary tags (the next block via the size in the tag, the previous one via
 * the `TAG_PREV_USED` bit and the size footer every free block keeps in its
 * last word), so no two free blocks are ever adjacent.
 *
 * This replaces nginx's slab allocator (`ngx_slab.c`): no power-of-two
 * rounding and no memory stuck in a size class; "no memory" comes only from
 * external fragmentation, which the 30-round forcible eviction usually clears
 * because coalescing rejoins freed neighbours.
 *
 * Sizes are in 8-byte units. All state lives in the shared buffer and is
 * only touched under the dict mutex.
 */

import {
  B_FREE_NEXT,
  B_FREE_PREV,
  B_TAG,
  FL_COUNT,
  H_ARENA_BYTES,
  H_ARENA_OFF,
  H_FL_BITMAP,
  H_FREE_BYTES,
  H_FREE_HEADS,
  H_SL_BITMAPS,
  H_USED_BYTES,
  MIN_BLOCK_UNITS,
  SL_LOG2,
  TAG_PREV_USED,
  TAG_USED,
  type DictViews,
} from './layout.js'

const SL_COUNT = 1 << SL_LOG2

/**
 * The free-list index (`fl * 16 + sl`) of a block of `units` units. Sizes
 * below 16 units map linearly into first level 0.
 */
export function sizeClass(units: number): number {
  if (units < SL_COUNT) return units
  const log2 = 31 - Math.clz32(units)
  return ((log2 - SL_LOG2 + 1) << SL_LOG2) | ((units >>> (log2 - SL_LOG2)) & (SL_COUNT - 1))
}

/** Index of the lowest set bit of a non-zero 32-bit value. */
function lowestBit(bits: number): number {
  return 31 - Math.clz32(bits & -bits)
}

/** The allocator of one attached dict instance (the state itself is shared). */
export class Arena {
  readonly #u32: Uint32Array
  /** First unit of the arena. */
  readonly #start: number
  /** One past the last unit of the arena. */
  readonly #end: number

  constructor(views: DictViews) {
    this.#u32 = views.u32
    this.#start = views.u32[H_ARENA_OFF]! / 8
    this.#end = this.#start + views.u32[H_ARENA_BYTES]! / 8
  }

  /** Arena size in units: the largest block it could ever hand out. */
  get units(): number {
    return this.#end - this.#start
  }

  /** The first block, in address order. */
  get first(): number {
    return this.#start
  }

  /** The block after `p` in address order, or 0 after the last one. */
  next(p: number): number {
    const q = p + (this.#u32[(p << 1) + B_TAG]! >>> 2)
    return q < this.#end ? q : 0
  }

  /** Whether the block `p` is allocated (an entry). */
  isUsed(p: number): boolean {
    return (this.#u32[(p << 1) + B_TAG]! & TAG_USED) !== 0
  }

  /** Makes the whole arena one free block (dict creation and recovery). */
  reset(): void {
    const u32 = this.#u32
    u32.fill(0, H_FL_BITMAP, H_FREE_HEADS + FL_COUNT * SL_COUNT)
    const units = this.#end - this.#start
    this.#makeFree(this.#start, units)
    u32[H_USED_BYTES] = 0
    u32[H_FREE_BYTES] = units * 8
  }

  /**
   * Allocates a block of at least `units` units (at least
   * {@link MIN_BLOCK_UNITS}) and answers its unit offset, or 0 when no free
   * block is large enough. It succeeds whenever such a block exists: the
   * O(1) search rounds the request up to the next class boundary (TLSF's
   * good fit), and only when that fails is the request's own class scanned
   * for a block that fits anyway.
   */
  malloc(units: number): number {
    const exact = sizeClass(units)
    const rounded = units < SL_COUNT ? exact : sizeClass(units + (1 << (31 - Math.clz32(units) - SL_LOG2)) - 1)
    let p = this.#findFrom(rounded)
    if (p === 0 && rounded !== exact) p = this.#scanClass(exact, units)
    if (p === 0) return 0
    const u32 = this.#u32
    const tag = u32[p << 1]!
    const size = tag >>> 2
    this.#unlinkFree(p, sizeClass(size))
    let used = size
    if (size - units >= MIN_BLOCK_UNITS) {
      // Split: the remainder stays free; the block after it already has
      // TAG_PREV_USED clear because `p` was free.
      used = units
      u32[p << 1] = (units << 2) | TAG_USED | TAG_PREV_USED
      this.#makeFree(p + units, size - units)
    } else {
      u32[p << 1] = tag | TAG_USED
      const next = p + size
      if (next < this.#end) u32[next << 1] = u32[next << 1]! | TAG_PREV_USED
    }
    u32[H_USED_BYTES] = u32[H_USED_BYTES]! + used * 8
    u32[H_FREE_BYTES] = u32[H_FREE_BYTES]! - used * 8
    return p
  }

  /** Frees the used block at `p`, merging it with free physical neighbours. */
  free(p: number): void {
    const u32 = this.#u32
    const tag = u32[p << 1]!
    let units = tag >>> 2
    u32[H_USED_BYTES] = u32[H_USED_BYTES]! - units * 8
    u32[H_FREE_BYTES] = u32[H_FREE_BYTES]! + units * 8
    const next = p + units
    if (next < this.#end) {
      const nextTag = u32[next << 1]!
      if ((nextTag & TAG_USED) === 0) {
        this.#unlinkFree(next, sizeClass(nextTag >>> 2))
        units += nextTag >>> 2
      } else {
        u32[next << 1] = nextTag & ~TAG_PREV_USED
      }
    }
    if ((tag & TAG_PREV_USED) === 0) {
      const prevUnits = u32[(p << 1) - 1]!
      p -= prevUnits
      this.#unlinkFree(p, sizeClass(prevUnits))
      units += prevUnits
    }
    this.#makeFree(p, units)
  }

  /**
   * Writes a free block's tag and footer and pushes it on its list. A free
   * block's physical predecessor is always used (coalescing), or absent for
   * the first block, hence TAG_PREV_USED.
   */
  #makeFree(p: number, units: number): void {
    const u32 = this.#u32
    u32[p << 1] = (units << 2) | TAG_PREV_USED
    u32[((p + units) << 1) - 1] = units
    const cls = sizeClass(units)
    const head = u32[H_FREE_HEADS + cls]!
    u32[(p << 1) + B_FREE_PREV] = 0
    u32[(p << 1) + B_FREE_NEXT] = head
    if (head !== 0) u32[(head << 1) + B_FREE_PREV] = p
    u32[H_FREE_HEADS + cls] = p
    const fl = cls >>> SL_LOG2
    u32[H_SL_BITMAPS + fl] = u32[H_SL_BITMAPS + fl]! | (1 << (cls & (SL_COUNT - 1)))
    u32[H_FL_BITMAP] = u32[H_FL_BITMAP]! | (1 << fl)
  }

  #unlinkFree(p: number, cls: number): void {
    const u32 = this.#u32
    const prev = u32[(p << 1) + B_FREE_PREV]!
    const next = u32[(p << 1) + B_FREE_NEXT]!
    if (next !== 0) u32[(next << 1) + B_FREE_PREV] = prev
    if (prev !== 0) {
      u32[(prev << 1) + B_FREE_NEXT] = next
      return
    }
    u32[H_FREE_HEADS + cls] = next
    if (next !== 0) return
    const fl = cls >>> SL_LOG2
    const sl = u32[H_SL_BITMAPS + fl]! & ~(1 << (cls & (SL_COUNT - 1)))
    u32[H_SL_BITMAPS + fl] = sl
    if (sl === 0) u32[H_FL_BITMAP] = u32[H_FL_BITMAP]! & ~(1 << fl)
  }

  /** Head of the first non-empty list of class `cls` or above, else 0. */
  #findFrom(cls: number): number {
    const u32 = this.#u32
    let fl = cls >>> SL_LOG2
    let slBits = u32[H_SL_BITMAPS + fl]! & (-1 << (cls & (SL_COUNT - 1)))
    if (slBits === 0) {
      const flBits = u32[H_FL_BITMAP]! & (-1 << (fl + 1))
      if (flBits === 0) return 0
      fl = lowestBit(flBits)
      slBits = u32[H_SL_BITMAPS + fl]!
    }
    return u32[H_FREE_HEADS + (fl << SL_LOG2) + lowestBit(slBits)]!
  }

  /** First block of list `cls` with at least `units` units, else 0. */
  #scanClass(cls: number, units: number): number {
    const u32 = this.#u32
    for (let p = u32[H_FREE_HEADS + cls]!; p !== 0; p = u32[(p << 1) + B_FREE_NEXT]!) {
      if (u32[(p << 1) + B_TAG]! >>> 2 >= units) return p
    }
    return 0
  }
}
