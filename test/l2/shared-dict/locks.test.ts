import { threadId } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { lockWordOf } from '../../../src/internal/robust-mutex.js'
import { H_MUTEX } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { settles, sleep } from '../../helpers/ts-workers.js'

const dicts = useCheckedDicts()

/** A lease short enough to wait out (real ms). */
const SHORT_LEASE = 20

/** Resolves once more than `ms` real milliseconds have passed since `performance.now()` was `since`. */
async function sleepPast(since: number, ms: number): Promise<void> {
  while (performance.now() - since <= ms) await sleep(Math.ceil(since + ms - performance.now()) + 1)
}

describe('tryLock() and unlock()', () => {
  it("tryLock() acquires a free lock and answers 'held' while its lease lasts, to its own token too", () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('acquired')
    expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('held')
    expect(dict.tryLock('ns', 'key', 'other', 60_000)).toBe('held')
  })

  it("a lock records its owner's thread id and a lease on real time, whatever the dict clock says", () => {
    const clock = fakeClock(0)
    const dict = dicts.create({ size: '16k', clock: clock.now })
    const before = performance.timeOrigin + performance.now()
    dict.tryLock('ns', 'key', 'owner', 60_000)
    const after = performance.timeOrigin + performance.now()
    const [lock] = inspectSharedDict(dict).entries
    expect(lock).toMatchObject({ key: '2:ns:key', pinned: true, revoked: false, value: 'owner', flags: threadId })
    expect(lock?.expiresAt).toBeGreaterThanOrEqual(before + 60_000)
    expect(lock?.expiresAt).toBeLessThanOrEqual(after + 60_000)
  })

  it('tryLock() takes over an expired lease, in place for a token of the same length', async () => {
    const dict = dicts.create({ size: '16k' })
    let since = performance.now()
    dict.tryLock('ns', 'key', 'first', SHORT_LEASE)
    const offset = inspectSharedDict(dict).entries[0]?.offset
    await sleepPast(since, SHORT_LEASE)
    since = performance.now()
    expect(dict.tryLock('ns', 'key', 'other', SHORT_LEASE)).toBe('acquired')
    expect(inspectSharedDict(dict).entries[0]?.offset).toBe(offset)
    expect(dict.unlock('ns', 'key', 'first')).toBe(false)
    await sleepPast(since, SHORT_LEASE)
    expect(dict.tryLock('ns', 'key', 'a much longer token', 60_000)).toBe('acquired')
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
    expect(inspectSharedDict(dict).entries[0]?.expiresAt).toBe(0)
    expect(dict.extendLock('ns', 'key', 'owner', 0)).toBe(true)
    expect(inspectSharedDict(dict).entries[0]?.expiresAt).toBe(0)
  })

  it('extendLock() moves the expiry of the lock on real time and keeps its token, owner and place', () => {
    const dict = dicts.create({ size: '16k' })
    dict.tryLock('ns', 'key', 'owner', 1_000)
    const [lock] = inspectSharedDict(dict).entries
    const before = performance.timeOrigin + performance.now()
    expect(dict.extendLock('ns', 'key', 'owner', 60_000)).toBe(true)
    const [extended] = inspectSharedDict(dict).entries
    expect(extended).toMatchObject({ offset: lock?.offset, value: 'owner', flags: threadId, pinned: true })
    expect(extended?.expiresAt).toBeGreaterThanOrEqual(before + 60_000)
    expect(dict.extendLock('ns', 'key', 'other', 120_000)).toBe(false)
    expect(inspectSharedDict(dict).entries[0]?.expiresAt).toBe(extended?.expiresAt)
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

  it('locks are pinned: kept out of the LRU, invisible to get(), keys() and the value under the same key', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('ns', 'key', Uint8Array.of(1), 0, 0)
    dict.tryLock('ns', 'key', 'owner', 10_000)
    dict.tryLock('ns', 'lonely', 'owner', 10_000)
    dict.set('plain', 'a user value')
    const { entries, lru } = inspectSharedDict(dict)
    expect(entries.filter((entry) => entry.pinned).map((entry) => entry.key)).toEqual(['2:ns:key', '2:ns:lonely'])
    expect(lru).toEqual(['plain', '2:ns:key'])
    expect(dict.keys()).toEqual(['2:ns:key', 'plain'])
    // The value and the lock share the internal key; each lookup finds its own kind.
    expect(dict.get('2:ns:key')?.value).toEqual(Uint8Array.of(1))
    expect(dict.get('2:ns:lonely')).toBeUndefined()
    expect(dict.getStale('2:ns:lonely')).toBeUndefined()
    expect(dict.ttl('2:ns:lonely')).toBeUndefined()
    expect(dict.readEntry('ns', 'lonely')).toBeUndefined()
    // A plain delete() of the internal key removes the value, never the lock.
    dict.delete('2:ns:key')
    dict.delete('2:ns:lonely')
    expect(dict.readEntry('ns', 'key')).toBeUndefined()
    expect(dict.tryLock('ns', 'key', 'other', 10_000)).toBe('held')
    expect(dict.tryLock('ns', 'lonely', 'other', 10_000)).toBe('held')
    // And a plain set() of it writes the value, never the lock.
    dict.set('2:ns:lonely', 'a value')
    expect(dict.unlock('ns', 'lonely', 'owner')).toBe(true)
    expect(dict.get('2:ns:lonely')?.value).toBe('a value')
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
    // A lock block (42 + 8 + 100 bytes) larger than any value block (88 bytes), so larger than what is left.
    expect(dict.freeSpace()).toBeLessThan(88)
    expect(dict.tryLock('ns', 'key', 'o'.repeat(100), 1_000)).toBe('no memory')
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
    // 152 bytes: more than what is left, less than what is left plus two adjacent freed 88-byte values.
    expect(dict.tryLock('ns', 'key', 'o'.repeat(100), 1_000)).toBe('acquired')
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
    const dict = dicts.create({ size: '16k' })
    expect(await settles(dict.waitForUnlock('ns', 'free', 60_000), 1_000)).toBe(true)
    const since = performance.now()
    dict.tryLock('ns', 'expired', 'owner', SHORT_LEASE)
    await sleepPast(since, SHORT_LEASE)
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

describe('leases are judged once the mutex is held', () => {
  /** The lock word of a thread id no live thread has, without a supervisor. */
  const DEAD_WORD = lockWordOf(4242, false)

  /**
   * A dict whose mutex a dead thread holds (outside a mutation): the next
   * call waits a second (its `ownerDeadAfter`) before it takes the
   * mutex over, far longer than the 200 ms lease of the lock of ns/key.
   */
  function stuckDict(): SharedDict {
    const { dict } = recordingDict(dicts, '16k', 1_000)
    expect(dict.writeEntry('ns', 'key', Uint8Array.of(1), 0, 1)).toBe('ok')
    expect(dict.tryLock('ns', 'key', 'owner', 200)).toBe('acquired')
    Atomics.store(new Int32Array(dict.handle.buffer), H_MUTEX, DEAD_WORD)
    return dict
  }

  it('a fenced write whose lease ended while it waited for the mutex is refused', () => {
    const dict = stuckDict()
    expect(dict.writeEntry('ns', 'key', Uint8Array.of(2), 0, 2, { fence: 'owner' })).toBe('fenced')
    expect(dict.readEntry('ns', 'key')?.value).toEqual(Uint8Array.of(1))
  })

  it('extendLock() of a lease that ended while it waited for the mutex answers false', () => {
    const dict = stuckDict()
    expect(dict.extendLock('ns', 'key', 'owner', 60_000)).toBe(false)
    expect(dict.tryLock('ns', 'key', 'next', 60_000)).toBe('acquired')
  })

  it('tryLock() takes a lock whose lease ended while it waited for the mutex', () => {
    const dict = stuckDict()
    expect(dict.tryLock('ns', 'key', 'next', 60_000)).toBe('acquired')
    expect(dict.unlock('ns', 'key', 'owner')).toBe(false)
  })
})
