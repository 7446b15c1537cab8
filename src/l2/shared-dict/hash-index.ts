/**
 * The key index: a seeded 32-bit hash over the key bytes and power-of-two
 * chained buckets. nginx keys its red-black tree by
 * `crc32(key)` and breaks ties with the bytes; we match the same way (hash,
 * then length, then bytes) but in O(1) buckets, and the seed is random per
 * dict so that chosen keys cannot flood one chain.
 *
 * Chaining tolerates any load factor: as in nginx, the number of entries is
 * limited by memory, not by slots.
 */

import {
  E_BUCKET_NEXT,
  E_ENTRY_FLAGS,
  E_HASH,
  E_KEY,
  E_KEY_LEN,
  EF_PINNED,
  H_ARENA_BYTES,
  H_ARENA_OFF,
  H_BUCKET_COUNT,
  H_BUCKETS_OFF,
  MIN_BLOCK_UNITS,
  type DictViews,
} from './layout.js'

/** FNV-1a's 32-bit offset basis (the seed is XORed into it). */
export const FNV_OFFSET = 0x811c_9dc5

/** FNV-1a's 32-bit prime. */
export const FNV_PRIME = 0x0100_0193

/**
 * FNV-1a over `bytes[0..length)` with `seed` folded into the offset basis,
 * finished with murmur3's fmix32 so the low bits (the bucket index and the
 * wait cell) depend on every byte.
 */
export function hashBytes(bytes: Uint8Array, length: number, seed: number): number {
  let h = FNV_OFFSET ^ seed
  for (let i = 0; i < length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME)
  return finishHash(h)
}

/**
 * murmur3's fmix32 over an FNV-1a state, as a uint32: the final step of
 * {@link hashBytes}, exported so the key encoder can hash while it encodes.
 */
export function finishHash(h: number): number {
  h ^= h >>> 16
  h = Math.imul(h, 0x85eb_ca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2_ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** {@link HashIndex.find}'s walk: the chain runs longer than any chain can (it loops). */
const LOOPS = -1
/** {@link HashIndex.find}'s walk: a link points outside the arena. */
const LEAVES_ARENA = -2

/** The bucket array of one attached dict instance (the state itself is shared). */
export class HashIndex {
  readonly #u32: Uint32Array
  readonly #u8: Uint8Array
  /** Word index of bucket 0. */
  readonly #base: number
  readonly #mask: number
  /**
   * More entries than the arena can hold: a chain this long loops. Chains
   * are acyclic while every writer holds the mutex; the bound keeps a
   * thread from spinning forever (mutex held) if late writes of an owner
   * that was taken over ever linked one into a cycle. The throw empties
   * the dict (`DictCore.recover`).
   */
  readonly #maxChain: number
  /** The first and last unit offsets an entry can start at: every lookup checks the links it follows against them. */
  readonly #firstUnit: number
  readonly #lastUnit: number

  constructor(views: DictViews) {
    this.#u32 = views.u32
    this.#u8 = views.u8
    this.#base = views.u32[H_BUCKETS_OFF]! / 4
    this.#mask = views.u32[H_BUCKET_COUNT]! - 1
    this.#maxChain = views.u32[H_ARENA_BYTES]! / (MIN_BLOCK_UNITS * 8)
    this.#firstUnit = views.u32[H_ARENA_OFF]! / 8
    this.#lastUnit = this.#firstUnit + views.u32[H_ARENA_BYTES]! / 8 - MIN_BLOCK_UNITS
  }

  /** Word index of the head of the bucket of `hash`. */
  #bucketOf(hash: number): number {
    return this.#base + (hash & this.#mask)
  }

  /** Empties every bucket. */
  reset(): void {
    this.#u32.fill(0, this.#base, this.#base + this.#mask + 1)
  }

  /**
   * The entry whose key is `key[0..length)`, of kind `pinned` (`EF_PINNED`
   * for a loader lock, 0 for a value), or 0. The kind is part of the
   * identity, so a lock never answers a value lookup and vice versa, even
   * when a user key happens to spell a lock key.
   * @throws {RangeError} the chain is corrupt: it loops, or a link leaves the arena
   */
  find(hash: number, key: Uint8Array, length: number, pinned: number): number {
    const p = this.#walk(hash, key, length, pinned)
    if (p === LOOPS) throw new RangeError('SharedDict bucket chain loops')
    if (p === LEAVES_ARENA) throw new RangeError('SharedDict bucket chain leaves the arena')
    return p
  }

  /**
   * {@link HashIndex.find} of a value entry without the mutex, while a
   * writer may be relinking the chain (`DictCore.readEntryOptimistic`): what
   * it reads may be torn, so the walk's checks of every link answer a
   * negative number instead of throwing. Answers the entry, 0 for none, or
   * a negative number when a link cannot be right; either answer counts
   * only if the dict's sequence word did not move meanwhile.
   */
  findUnlocked(hash: number, key: Uint8Array, length: number): number {
    return this.#walk(hash, key, length, 0)
  }

  /**
   * The walk of {@link HashIndex.find}: the entry, 0 for none, or
   * {@link LOOPS} or {@link LEAVES_ARENA} for a chain that cannot be right.
   * Every link is checked to lie in the arena and the walk is bounded, so
   * even a chain torn by a concurrent writer cannot run wild.
   */
  #walk(hash: number, key: Uint8Array, length: number, pinned: number): number {
    const u32 = this.#u32
    const u8 = this.#u8
    let steps = 0
    for (let p = u32[this.#base + (hash & this.#mask)]!; p !== 0; p = u32[(p << 1) + E_BUCKET_NEXT]!) {
      if (p < this.#firstUnit || p > this.#lastUnit) return LEAVES_ARENA
      if (++steps > this.#maxChain) return LOOPS
      const w = p << 1
      if (u32[w + E_HASH] !== hash || u32[w + E_KEY_LEN] !== length) continue
      const at = p * 8
      if ((u8[at + E_ENTRY_FLAGS]! & EF_PINNED) !== pinned) continue
      let i = 0
      while (i < length && u8[at + E_KEY + i] === key[i]) i++
      if (i === length) return p
    }
    return 0
  }

  /**
   * Whether `p`, any number, is the start of a value entry: it is on the
   * chain of the hash it holds, and not pinned. Checks a use that a
   * lock-free read recorded (`DictCore.#applyTouches`), whose entry may have
   * been freed since. Never throws: a chain too long to be sane answers false.
   */
  holdsValueEntry(p: number): boolean {
    if (!(p >= this.#firstUnit && p <= this.#lastUnit)) return false
    const u32 = this.#u32
    let steps = 0
    for (let q = u32[this.#bucketOf(u32[(p << 1) + E_HASH]!)]!; q !== 0 && ++steps <= this.#maxChain; q = u32[(q << 1) + E_BUCKET_NEXT]!) {
      if (q === p) return (this.#u8[p * 8 + E_ENTRY_FLAGS]! & EF_PINNED) === 0
    }
    return false
  }

  /** Pushes the entry `p`, whose hash is already written, on its bucket chain. */
  insert(p: number): void {
    const u32 = this.#u32
    const bucket = this.#bucketOf(u32[(p << 1) + E_HASH]!)
    u32[(p << 1) + E_BUCKET_NEXT] = u32[bucket]!
    u32[bucket] = p
  }

  /** Unlinks the entry `p` from its bucket chain. */
  remove(p: number): void {
    const u32 = this.#u32
    const next = u32[(p << 1) + E_BUCKET_NEXT]!
    let link = this.#bucketOf(u32[(p << 1) + E_HASH]!)
    for (let q = u32[link]!, steps = 0; q !== p; q = u32[link]!) {
      if (q === 0 || ++steps > this.#maxChain) throw new RangeError('SharedDict entry missing from its bucket chain')
      link = (q << 1) + E_BUCKET_NEXT
    }
    u32[link] = next
  }
}
