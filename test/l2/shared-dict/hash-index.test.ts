/**
 * The hash index read directly (white box): what `warm()` reads before the
 * mutex must be the bucket the lookup reads under it.
 */
import { describe, expect, it } from 'vitest'
import { HashIndex } from '../../../src/l2/shared-dict/hash-index.js'
import { DictViews, E_HASH, H_BUCKET_COUNT, H_BUCKETS_OFF } from '../../../src/l2/shared-dict/layout.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('HashIndex', () => {
  it('warm() reads the bucket of a hash: the hash of the head of its chain, 0 for an empty bucket', () => {
    const dict = dicts.create({ size: '64k' })
    for (let i = 0; i < 40; i++) dict.set(`key:${i}`, i)
    const views = new DictViews(dict.handle.buffer)
    const index = new HashIndex(views)
    const u32 = views.u32
    const base = u32[H_BUCKETS_OFF]! / 4
    const count = u32[H_BUCKET_COUNT]!
    let occupied = 0
    for (let bucket = 0; bucket < count; bucket++) {
      const head = u32[base + bucket]!
      if (head !== 0) occupied++
      // Any hash whose low bits pick this bucket: the high bits must not matter.
      const hash = (0x5a5a_0000 * count + bucket) >>> 0
      expect(index.warm(hash)).toBe(head === 0 ? 0 : u32[(head << 1) + E_HASH])
    }
    expect(occupied).toBeGreaterThan(20)
    expect(occupied).toBeLessThan(count)
  })
})
