/**
 * The figures of the README's "Sizing" section, measured: what one cached
 * entry costs in a SharedDict, and the counters that show a dict or an L1
 * too small. Run `npx vitest run test/l2/shared-dict/sizing.test.ts` to
 * check them; a change of the entry layout or of the value encoding fails
 * here before the README goes stale.
 */
import { describe, expect, it } from 'vitest'
import { PROFILE, SHORT, USER } from '../../../bench/fixtures.js'
import { NoMemoryError } from '../../../src/errors.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../../src/mlcache.js'

/** The README's formula: 42 bytes of header, the stored key and the value, rounded up to 8. */
function entryBytes(keyBytes: number, valueBytes: number): number {
  return Math.ceil((42 + keyBytes + valueBytes) / 8) * 8
}

describe('SharedDict bytes per entry (README "Sizing")', () => {
  // cache 'users', key 'user:12345': MLCache stores it under '5:users:user:12345' (name length, name, key).
  const STORED_KEY_BYTES = '5:users:user:12345'.length

  it.each([
    ['a 20-character string', SHORT, 22, 88],
    ['the 7-field user object', USER, 112, 176],
    ['the ~1 KB profile object', PROFILE, 982, 1048],
  ])('%s under users/user:12345: 42 + key + msgpack value, rounded up to 8', async (_label, value, valueBytes, bytes) => {
    const dict = SharedDict.create({ size: '1m' })
    const cache = new MLCache('users', { store: dict, lruSize: 0 })
    const before = dict.stats()
    await cache.set('user:12345', value)
    const after = dict.stats()
    expect(after.entries - before.entries).toBe(1)
    expect(dict.readEntry('users', 'user:12345')?.value.length).toBe(valueBytes)
    expect(after.usedBytes - before.usedBytes).toBe(entryBytes(STORED_KEY_BYTES, valueBytes))
    expect(after.usedBytes - before.usedBytes).toBe(bytes)
    await cache.close()
  })

  it('every entry of the same shape costs the same: 1,000 users take 1,000 x 176 bytes', async () => {
    const dict = SharedDict.create({ size: '1m' })
    const cache = new MLCache('users', { store: dict, lruSize: 0 })
    const before = dict.stats()
    for (let i = 0; i < 1_000; i++) await cache.set(`user:${10_000 + i}`, USER)
    const after = dict.stats()
    expect(after.entries - before.entries).toBe(1_000)
    expect(after.usedBytes - before.usedBytes).toBe(1_000 * 176)
    await cache.close()
  })

  it.each([
    ['1m', 1_028_096],
    ['64m', 66_056_192],
  ])('a %s dict has %i bytes for entries (the rest holds the header and the hash buckets, one per 256 bytes)', (size, arena) => {
    const dict = SharedDict.create({ size })
    expect(dict.stats()).toMatchObject({ entries: 0, usedBytes: 0, freeBytes: arena })
  })
})

describe('a dict or an L1 too small, in the counters (README "Sizing")', () => {
  it('a full dict evicts unexpired entries: dict.stats().forcibleEvictions and cache.stats().forcibleEvictions count them', async () => {
    const dict = SharedDict.create({ size: '16k' })
    const cache = new MLCache('users', { store: dict, lruSize: 10 })
    // 16 KiB holds fewer than 100 entries of 176 bytes.
    for (let i = 0; i < 200; i++) await cache.set(`user:${i}`, USER)
    const evicted = dict.stats().forcibleEvictions
    expect(evicted).toBeGreaterThan(100)
    expect(cache.stats().forcibleEvictions).toBe(evicted)
    expect(dict.stats().noMemory).toBe(0)
    // The evicted keys are gone from L2, so a read of one runs the loader again.
    let loads = 0
    expect(await cache.lookup('user:0', () => (loads++, USER))).toMatchObject({ hitLevel: 3 })
    expect(loads).toBe(1)
    await cache.close()
  })

  it('a value larger than the dict: set() rejects with NoMemoryError, get() serves it from L1 only (l2NoMemory, dict noMemory)', async () => {
    const dict = SharedDict.create({ size: '8k' })
    const cache = new MLCache('big', { store: dict })
    const big = 'x'.repeat(16_384)
    await expect(cache.set('k', big)).rejects.toBeInstanceOf(NoMemoryError)
    expect(await cache.lookup('other', () => big)).toMatchObject({ hitLevel: 3 })
    expect(await cache.lookup('other')).toMatchObject({ hitLevel: 1 })
    expect(cache.stats().l2NoMemory).toBe(2)
    expect(dict.stats().noMemory).toBeGreaterThan(0)
    await cache.close()
  })

  it('an L1 smaller than the working set: l2Hits grow instead of l1Hits', async () => {
    const dict = SharedDict.create({ size: '1m' })
    const cache = new MLCache('users', { store: dict, lruSize: 10 })
    for (let i = 0; i < 100; i++) await cache.set(`user:${i}`, USER)
    cache.stats({ reset: true })
    // 100 keys read in turn through 10 slots: every read misses L1 and hits L2.
    for (let round = 0; round < 2; round++) for (let i = 0; i < 100; i++) await cache.get(`user:${i}`)
    expect(cache.stats()).toMatchObject({ l1Hits: 0, l2Hits: 200, loads: 0 })
    await cache.close()
  })
})
