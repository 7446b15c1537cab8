import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sizeClass } from '../../../src/l2/shared-dict/arena.js'
import { checkSharedDictInvariants, inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { entryBlockBytes, MIN_BLOCK_UNITS } from '../../../src/l2/shared-dict/layout.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { seededRandom as random } from '../../helpers/seeded-random.js'

const dicts = useCheckedDicts()


describe('allocator', () => {
  it('sizeClass() is monotonic and maps every block size into the 32 x 16 lists', () => {
    let previous = -1
    for (let units = MIN_BLOCK_UNITS; units < 1 << 20; units += 1 + (units >>> 6)) {
      const cls = sizeClass(units)
      expect(cls).toBeGreaterThanOrEqual(previous)
      expect(cls).toBeLessThan(32 * 16)
      previous = cls
    }
    expect(sizeClass(2 ** 29 - 1)).toBeLessThan(32 * 16)
  })

  it('freed neighbours coalesce into one free block', () => {
    const dict = dicts.create({ size: '16k' })
    const arena = dict.freeSpace()
    for (const key of ['a', 'b', 'c', 'd']) dict.set(key, 'x'.repeat(100))
    expect(inspectSharedDict(dict).freeBlocks).toHaveLength(1)
    dict.delete('b')
    dict.delete('d')
    // 'd' merged with the free tail of the arena; 'b' is a hole between a and c.
    expect(inspectSharedDict(dict).freeBlocks).toEqual([entryBlockBytes(1, 100), arena - 3 * entryBlockBytes(1, 100)])
    dict.delete('c')
    expect(inspectSharedDict(dict).freeBlocks).toEqual([dict.freeSpace()])
    expect(dict.freeSpace()).toBe(arena - entryBlockBytes(1, 100))
    dict.delete('a')
    expect(inspectSharedDict(dict).freeBlocks).toEqual([dict.freeSpace()])
  })

  it('a block is split only when the remainder is at least 48 bytes', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('a', 'x'.repeat(200))
    dict.set('b', 1)
    dict.delete('a')
    // The hole is 248 bytes; an entry of 208 leaves 40, too little for a block.
    expect(entryBlockBytes(1, 200)).toBe(248)
    dict.set('c', 'y'.repeat(160))
    const c = inspectSharedDict(dict).entries.find((entry) => entry.key === 'c')
    expect(c?.blockBytes).toBe(248)
    // 56 bytes less leaves a 48-byte remainder: split.
    dict.delete('c')
    dict.set('d', 'z'.repeat(150))
    const d = inspectSharedDict(dict).entries.find((entry) => entry.key === 'd')
    expect(d?.blockBytes).toBe(entryBlockBytes(1, 150))
    expect(inspectSharedDict(dict).freeBlocks[0]).toBe(48)
  })

  it('an allocation finds a fitting block of its own size class that the rounded search skips', () => {
    const dict = dicts.create({ size: '64k' })
    // Leave exactly one hole whose size is not a class boundary, then ask for exactly that size.
    dict.set('hole', 'h'.repeat(1_000))
    dict.set('wall', 1)
    const hole = entryBlockBytes(4, 1_000)
    while (dict.safeSet(`f${dict.stats().entries}`, 'x'.repeat(500)).ok) {
      // Fill everything else.
    }
    while (dict.safeSet(`g${dict.stats().entries}`, 1).ok) {
      // And the last crumbs.
    }
    dict.delete('hole')
    expect(Math.max(...inspectSharedDict(dict).freeBlocks)).toBe(hole)
    expect(dict.safeSet('same', 's'.repeat(1_000))).toEqual({ ok: true, forcible: false })
  })

  it('churn: writing 10x the capacity in mixed sizes keeps free + used = arena and never gets stuck', () => {
    const dict = dicts.create({ size: '64k' })
    const arena = dict.freeSpace()
    const next = random(42)
    let written = 0
    let ops = 0
    while (written < 10 * dict.capacity()) {
      const key = `key${Math.floor(next() * 400)}`
      const roll = next()
      if (roll < 0.15) {
        dict.delete(key)
      } else {
        const size = roll < 0.6 ? Math.floor(next() * 64) : roll < 0.9 ? Math.floor(next() * 1_000) : Math.floor(next() * 8_000)
        const value = 'v'.repeat(size)
        const ttl = next() < 0.3 ? 1 + Math.floor(next() * 10) : 0
        // 30 eviction rounds may free only small scattered blocks ("no memory", as in nginx, which
        // is why mlcache retries); every value fits an empty arena, so retrying always gets there.
        let tries = 1
        while (!dict.set(key, value, ttl).ok && tries < 20) tries++
        expect(tries).toBeLessThan(20)
        written += size
      }
      if (++ops % 500 === 0) checkSharedDictInvariants(dict)
      const stats = dict.stats()
      expect(stats.usedBytes + stats.freeBytes).toBe(arena)
    }
    dict.flushAll()
    dict.flushExpired()
    expect(inspectSharedDict(dict).freeBlocks).toEqual([arena])
  })

  it('random set/delete sequences keep the allocator consistent (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30 }), fc.option(fc.integer({ min: 0, max: 2_500 }))), {
          maxLength: 200,
        }),
        (ops) => {
          const dict = dicts.create({ size: '16k' })
          for (const [key, size] of ops) {
            if (size === null) dict.delete(`k${key}`)
            else expect(dict.set(`k${key}`, new Uint8Array(size)).ok).toBe(true)
          }
          checkSharedDictInvariants(dict)
        },
      ),
      { numRuns: 100 },
    )
  })
})
