import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { settles } from '../../helpers/ts-workers.js'

const dicts = useCheckedDicts()

describe('tryLock() and unlock()', () => {
  it("tryLock() acquires a free lock and answers 'held' while its lease lasts", () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    expect(dict.tryLock('ns', 'key', 'owner', 1_000)).toBe('acquired')
    expect(dict.tryLock('ns', 'key', 'owner', 1_000)).toBe('held')
    expect(dict.tryLock('ns', 'key', 'other', 1_000)).toBe('held')
    clock.advance(999)
    expect(dict.tryLock('ns', 'key', 'other', 1_000)).toBe('held')
  })

  it('tryLock() takes over an expired lease, in place for a token of the same length', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.tryLock('ns', 'key', 'first', 100)
    const offset = inspectSharedDict(dict).entries[0]?.offset
    clock.advance(100)
    expect(dict.tryLock('ns', 'key', 'other', 100)).toBe('acquired')
    expect(inspectSharedDict(dict).entries[0]?.offset).toBe(offset)
    expect(dict.unlock('ns', 'key', 'first')).toBe(false)
    clock.advance(100)
    expect(dict.tryLock('ns', 'key', 'a much longer token', 100)).toBe('acquired')
    expect(dict.unlock('ns', 'key', 'other')).toBe(false)
    expect(dict.unlock('ns', 'key', 'a much longer token')).toBe(true)
    expect(dict.stats().entries).toBe(0)
  })

  it('a lease of 0 never expires', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.tryLock('ns', 'key', 'owner', 0)
    clock.advance(10 * 365 * 86_400_000)
    expect(dict.tryLock('ns', 'key', 'other', 0)).toBe('held')
  })

  it('unlock() is a compare-and-delete on the token', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.unlock('ns', 'key', 'owner')).toBe(false)
    dict.tryLock('ns', 'key', 'owner', 10_000)
    expect(dict.unlock('ns', 'key', 'owne')).toBe(false)
    expect(dict.unlock('ns', 'key', 'owner!')).toBe(false)
    expect(dict.unlock('ns', 'other', 'owner')).toBe(false)
    expect(dict.unlock('ns', 'key', 'owner')).toBe(true)
    expect(dict.unlock('ns', 'key', 'owner')).toBe(false)
    expect(dict.tryLock('ns', 'key', 'next', 10_000)).toBe('acquired')
  })

  it('locks are pinned: kept out of the LRU, invisible to get(), keys() and the value of the same key', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('ns', 'key', Uint8Array.of(1), 0, 0)
    dict.tryLock('ns', 'key', 'owner', 10_000)
    dict.set('lock:2:ns:key', 'a user key that spells the lock key')
    const { entries, lru } = inspectSharedDict(dict)
    expect(entries.filter((entry) => entry.pinned).map((entry) => entry.key)).toEqual(['lock:2:ns:key'])
    expect(lru).toEqual(['lock:2:ns:key', '2:ns:key'])
    expect(dict.get('lock:2:ns:key')?.value).toBe('a user key that spells the lock key')
    dict.delete('lock:2:ns:key')
    expect(dict.tryLock('ns', 'key', 'other', 10_000)).toBe('held')
    expect(dict.readEntry('ns', 'key')?.value).toEqual(Uint8Array.of(1))
  })

  it('value writes never evict a lock, even when the lock is the oldest entry', () => {
    const dict = dicts.create({ size: '16k' })
    for (let i = 0; i < 10; i++) expect(dict.tryLock('ns', `key${i}`, `owner${i}`, 60_000)).toBe('acquired')
    for (let i = 0; i < 500; i++) dict.writeEntry('ns', `filler${i}`, new Uint8Array(200), 0, 0)
    expect(dict.stats().forcibleEvictions).toBeGreaterThan(0)
    for (let i = 0; i < 10; i++) expect(dict.unlock('ns', `key${i}`, `owner${i}`)).toBe(true)
  })

  it("tryLock() never evicts a value: a full dict answers 'no memory'", () => {
    const dict = dicts.create({ size: '8k' })
    let count = 0
    while (dict.safeSet(`v${String(count).padStart(4, '0')}`, 'x'.repeat(40)).ok) count++
    expect(dict.tryLock('ns', 'key', 'owner', 1_000)).toBe('no memory')
    expect(dict.stats().entries).toBe(count)
    expect(dict.stats().noMemory).toBe(2)
    expect(dict.get('v0000')?.value).toBe('x'.repeat(40))
  })

  it('tryLock() leaves a stale value alone while memory allows (no pre-op sweep)', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.writeEntry('ns', 'key', Uint8Array.of(1), 10, 0)
    clock.advance(10)
    expect(dict.tryLock('ns', 'key', 'owner', 1_000)).toBe('acquired')
    expect(dict.readEntry('ns', 'key')?.stale).toBe(true)
  })

  it('tryLock() on a full dict reclaims expired values at the LRU tail, never live ones', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '8k', clock: clock.now })
    let count = 0
    while (dict.safeSet(`v${String(count).padStart(4, '0')}`, 'x'.repeat(40), 10).ok) count++
    clock.advance(10)
    expect(dict.tryLock('ns', 'key', 'owner', 1_000)).toBe('acquired')
    expect(dict.stats().expiredFreed).toBe(2)
  })
})

describe('waitForUnlock()', () => {
  it('waitForUnlock() resolves when the lock is released', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.tryLock('ns', 'key', 'owner', 60_000)
    let resolved = false
    const waiting = dict.waitForUnlock('ns', 'key', 30_000).then(() => {
      resolved = true
    })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(resolved).toBe(false)
    expect(dict.unlock('ns', 'key', 'owner')).toBe(true)
    expect(await settles(waiting)).toBe(true)
  })

  it('waitForUnlock() resolves after its timeout when nobody unlocks, and the lock stays held', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.tryLock('ns', 'key', 'owner', 60_000)
    expect(await settles(dict.waitForUnlock('ns', 'key', 20))).toBe(true)
    expect(dict.tryLock('ns', 'key', 'other', 1_000)).toBe('held')
  })

  it('waitForUnlock() resolves at once when no live lock exists', async () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    expect(await settles(dict.waitForUnlock('ns', 'free', 60_000), 1_000)).toBe(true)
    dict.tryLock('ns', 'expired', 'owner', 10)
    clock.advance(10)
    expect(await settles(dict.waitForUnlock('ns', 'expired', 60_000), 1_000)).toBe(true)
  })

  it('waitForUnlock() resolves when the lease ends', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.tryLock('ns', 'key', 'owner', 20)
    // Timers may fire a little before the wall clock reaches the expiry: a
    // caller retries after an early wake-up, which then returns at once.
    const takeOver = async (): Promise<void> => {
      while (dict.tryLock('ns', 'key', 'next', 1_000) !== 'acquired') await dict.waitForUnlock('ns', 'key', 60_000)
    }
    expect(await settles(takeOver())).toBe(true)
  })

  it('waitForUnlock() wakes the waiters of another attached instance', async () => {
    const dict = dicts.create({ size: '16k' })
    const other = dicts.track(SharedDict.attach(dict.handle))
    dict.tryLock('ns', 'key', 'owner', 60_000)
    const waiters = Promise.all([other.waitForUnlock('ns', 'key', 30_000), dict.waitForUnlock('ns', 'key', 30_000)])
    await new Promise((resolve) => setTimeout(resolve, 5))
    dict.unlock('ns', 'key', 'owner')
    expect(await settles(waiters)).toBe(true)
  })

  it('waitForUnlock() rejects bad arguments', async () => {
    const dict = dicts.create({ size: '16k' })
    await expect(dict.waitForUnlock('ns', 'key', -1)).rejects.toThrow('timeout must be >= 0')
    await expect(dict.waitForUnlock(1 as unknown as string, 'key', 1)).rejects.toThrow(TypeError)
    await expect(dict.waitForUnlock('ns', '', 1)).rejects.toThrow(RangeError)
  })
})
