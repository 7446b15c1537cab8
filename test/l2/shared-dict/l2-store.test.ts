import { describe, expect, it, vi } from 'vitest'
import type { EntryView } from '../../../src/l2/l2-store.js'
import { LOCK_FREE_READS } from '../../../src/l2/shared-dict/dict-core.js'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

describe('readEntry() and writeEntry()', () => {
  it('writeEntry() then readEntry() returns a copy of the bytes, the flags and the remaining ttl', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    expect(dict.writeEntry('cache', 'key', bytes(1, 2, 3), 1_000, 0x1)).toBe('ok')
    clock.advance(250)
    const entry = dict.readEntry('cache', 'key')
    expect(entry?.flags).toBe(1)
    expect(entry?.ttl).toBe(750)
    expect(entry?.stale).toBe(false)
    expect(Array.from(entry?.value ?? [])).toEqual([1, 2, 3])
    entry?.value.fill(0)
    expect(Array.from(dict.readEntry('cache', 'key')?.value ?? [])).toEqual([1, 2, 3])
  })

  it('readEntry() returns a stale entry with its negative ttl and does not count it as a use', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('live', 1)
    dict.writeEntry('cache', 'key', bytes(9), 100, 2)
    dict.set('newest', 1)
    clock.advance(130)
    expect(dict.readEntry('cache', 'key')).toEqual({ value: bytes(9), flags: 2, ttl: -30, stale: true })
    expect(inspectSharedDict(dict).lru).toEqual(['newest', '5:cache:key', 'live'])
    expect(dict.readEntry('cache', 'missing')).toBeUndefined()
  })

  it('readEntry() marks the entries purgeNamespace() expired as purged, and one its TTL expired as not', () => {
    for (const start of [1_700_000_000_000, 0]) {
      const clock = fakeClock(start)
      const dict = dicts.create({ size: '16k', clock: clock.now })
      dict.writeEntry('cache', 'expired', bytes(1), 100, 0, { staleTtl: 10_000 })
      dict.writeEntry('cache', 'purged', bytes(2), 0, 0, { staleTtl: 10_000 })
      clock.advance(200)
      // Expired by its TTL: an ordinary stale entry.
      expect(dict.readEntry('cache', 'expired')).toEqual({ value: bytes(1), flags: 0, ttl: -100, stale: true })
      dict.purgeNamespace('cache', false)
      expect(dict.readEntry('cache', 'purged')).toMatchObject({ stale: true, purged: true })
      expect(dict.readEntry('cache', 'expired')).toMatchObject({ stale: true, purged: true })
    }
  })

  it('writeEntry() stores a non-ASCII key of a namespace as its UTF-8 bytes after the prefix, once', () => {
    const dict = dicts.create({ size: '16k' })
    for (const key of ['aé', 'été', 'ab\u{1F600}c']) expect(dict.writeEntry('cache', key, bytes(1), 0, 0)).toBe('ok')
    expect(inspectSharedDict(dict).lru.sort()).toEqual(['5:cache:aé', '5:cache:ab\u{1F600}c', '5:cache:été'].sort())
    expect(dict.readEntry('cache', 'aé')?.value).toEqual(bytes(1))
  })

  it('keys of one namespace, each longer than the last, are each stored whole after the prefix', () => {
    const dict = dicts.create({ size: '64k' })
    const keys = [1, 200, 600, 2_000].map((length) => 'k'.repeat(length))
    for (const key of keys) expect(dict.writeEntry('cache', key, bytes(key.length & 0xff), 0, 0)).toBe('ok')
    expect(inspectSharedDict(dict).lru.sort()).toEqual(keys.map((key) => `5:cache:${key}`).sort())
    for (const key of keys) expect(dict.readEntry('cache', key)?.value).toEqual(bytes(key.length & 0xff))
  })

  it('a fresh readEntry() is a use once the thread next takes the mutex; no expiry sweep runs before it', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('expired', 1, 10)
    dict.writeEntry('cache', 'key', bytes(1), 0, 0)
    dict.set('newest', 1)
    clock.advance(10)
    expect(dict.readEntry('cache', 'key')?.ttl).toBe(0)
    expect(inspectSharedDict(dict).lru).toEqual(LOCK_FREE_READS ? ['newest', '5:cache:key', 'expired'] : ['5:cache:key', 'newest', 'expired'])
    dict.stats()
    expect(inspectSharedDict(dict).lru).toEqual(['5:cache:key', 'newest', 'expired'])
  })

  it('readEntry() returns a copy of bytes, large or small, independent of later writes', () => {
    const dict = dicts.create({ size: '64k' })
    const big = Uint8Array.from({ length: 10_000 }, (_, i) => i & 0xff)
    dict.writeEntry('cache', 'big', big, 0, 0)
    dict.writeEntry('cache', 'small', bytes(5, 6), 0, 0)
    const readBig = dict.readEntry('cache', 'big')?.value
    const readSmall = dict.readEntry('cache', 'small')?.value
    dict.writeEntry('cache', 'big', new Uint8Array(10_000), 0, 0)
    dict.writeEntry('cache', 'small', bytes(0, 0), 0, 0)
    expect(readBig).toEqual(big)
    expect(Array.from(readSmall ?? [])).toEqual([5, 6])
  })

  it('writeEntry() evicts when the dict is full and answers "no memory" for a value that can never fit', () => {
    const dict = dicts.create({ size: '8k' })
    for (let i = 0; i < 100; i++) expect(dict.writeEntry('cache', `key${i}`, new Uint8Array(100), 0, 0)).toBe('ok')
    expect(dict.stats().forcibleEvictions).toBeGreaterThan(0)
    expect(dict.writeEntry('cache', 'huge', new Uint8Array(10_000), 0, 0)).toBe('no memory')
    expect(dict.readEntry('cache', 'key99')).toMatchObject({ value: new Uint8Array(100), flags: 0, stale: false })
  })

  it("writeEntry() with noEvict on a full dict answers 'no memory' and evicts nothing; without it, it evicts", () => {
    const dict = dicts.create({ size: '8k' })
    let count = 0
    while (count < 1_000 && dict.writeEntry('cache', `key${count}`, new Uint8Array(100), 0, 0, { noEvict: true }) === 'ok') count++
    expect(count).toBeGreaterThan(10)
    expect(count).toBeLessThan(1_000)
    const written = Array.from({ length: count }, (_, i) => `key${i}`)
    expect(dict.writeEntry('cache', 'more', new Uint8Array(100), 0, 0, { noEvict: true })).toBe('no memory')
    expect(dict.stats()).toMatchObject({ entries: count, forcibleEvictions: 0 })
    for (const key of written) expect(dict.readEntry('cache', key)?.stale).toBe(false)
    // noEvict: false is an ordinary write.
    expect(dict.writeEntry('cache', 'more', new Uint8Array(100), 0, 0, { noEvict: false })).toBe('ok')
    expect(dict.stats().forcibleEvictions).toBeGreaterThan(0)
    expect(dict.readEntry('cache', 'key0')).toBeUndefined()
  })

  it('writeEntry() with noEvict frees expired entries at the LRU tail first, as safeSet() does', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '8k', clock: clock.now })
    dict.writeEntry('cache', 'old', new Uint8Array(100), 10, 0)
    let count = 0
    while (count < 1_000 && dict.writeEntry('cache', `key${count}`, new Uint8Array(100), 0, 0, { noEvict: true }) === 'ok') count++
    clock.advance(10)
    expect(dict.writeEntry('cache', 'more', new Uint8Array(100), 0, 0, { noEvict: true })).toBe('ok')
    expect(dict.readEntry('cache', 'old')).toBeUndefined()
    expect(dict.stats()).toMatchObject({ forcibleEvictions: 0, expiredFreed: 1 })
    for (let i = 0; i < count; i++) expect(dict.readEntry('cache', `key${i}`)?.stale).toBe(false)
  })

  it('deleteEntry() removes an entry of its namespace only', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('one', 'key', bytes(1), 0, 0)
    dict.writeEntry('two', 'key', bytes(2), 0, 0)
    dict.deleteEntry('one', 'key')
    dict.deleteEntry('one', 'missing')
    expect(dict.readEntry('one', 'key')).toBeUndefined()
    expect(dict.readEntry('two', 'key')?.value).toEqual(bytes(2))
  })

  it("namespaces 'ab' + 'c' and 'a' + 'bc' are different entries", () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('ab', 'c', bytes(1), 0, 1)
    expect(dict.readEntry('a', 'bc')).toBeUndefined()
    dict.writeEntry('a', 'bc', bytes(2), 0, 2)
    expect(dict.readEntry('ab', 'c')?.flags).toBe(1)
    expect(dict.readEntry('a', 'bc')?.flags).toBe(2)
    expect(dict.keys().sort()).toEqual(['1:a:bc', '2:ab:c'])
  })

  it('the empty namespace and a namespace of 10+ characters are encoded with their length', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('', 'k', bytes(1), 0, 0)
    dict.writeEntry('namespace!', 'k', bytes(2), 0, 0)
    expect(dict.keys().sort()).toEqual(['0::k', '10:namespace!:k'])
    expect(dict.readEntry('', 'k')?.value).toEqual(bytes(1))
  })

  it('readEntries() answers readEntry() of each key, in order: fresh ones are uses, stale ones not', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.writeEntry('cache', 'stale', bytes(1), 10, 1, { staleTtl: 1_000 })
    dict.writeEntry('cache', 'a', bytes(2), 0, 2)
    dict.writeEntry('cache', 'b', bytes(3), 0, 3)
    clock.advance(15)
    expect(dict.readEntries('cache', ['b', 'missing', 'stale', 'a'])).toEqual([
      { value: bytes(3), flags: 3, ttl: 0, stale: false },
      undefined,
      { value: bytes(1), flags: 1, ttl: -5, stale: true },
      { value: bytes(2), flags: 2, ttl: 0, stale: false },
    ])
    // The uses reach the LRU list at the thread's next call that takes the mutex.
    dict.stats()
    expect(inspectSharedDict(dict).lru).toEqual(['5:cache:a', '5:cache:b', '5:cache:stale'])
    expect(dict.readEntries('cache', [])).toEqual([])
  })

  it('a plain set() of the internal key is the same entry (as upstream name..key)', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('ns', 'key', bytes(7), 0, 3)
    expect(dict.get('2:ns:key')).toEqual({ value: bytes(7), flags: 3 })
  })
})

describe('readEntryInto()', () => {
  const view = (): EntryView => ({ bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false })
  const lentBytes = (v: EntryView): number[] => Array.from(v.bytes.subarray(v.start, v.end))

  it('readEntryInto() fills the view as readEntry() answers: bytes, flags, ttl, stale and purged, at any alignment', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '64k', clock: clock.now })
    // Keys of 1 to 8 bytes put the value at every offset within a word.
    const keys = ['k', 'ke', 'key', 'keys', 'keys5', 'keys56', 'keys567', 'keys5678']
    keys.forEach((key, i) => dict.writeEntry('cache', key, Uint8Array.from({ length: 3 + i * 5 }, (_, j) => (j * 7 + i) & 0xff), 100 + i, i, { staleTtl: 1_000 }))
    dict.writeEntry('cache', 'never', bytes(4, 5), 0, 9)
    const v = view()
    for (const advance of [50, 60]) {
      clock.advance(advance)
      for (const key of [...keys, 'never']) {
        const entry = dict.readEntry('cache', key)!
        expect(dict.readEntryInto('cache', key, v)).toBe(true)
        expect(lentBytes(v)).toEqual(Array.from(entry.value))
        expect({ flags: v.flags, ttl: v.ttl, stale: v.stale, purged: v.purged }).toEqual({ flags: entry.flags, ttl: entry.ttl, stale: entry.stale, purged: false })
      }
    }
    expect(v.stale).toBe(false)
    expect(dict.readEntryInto('cache', 'key', v) && v.stale).toBe(true)
    dict.purgeNamespace('cache', false)
    expect(dict.readEntryInto('cache', 'never', v) && v.purged && v.stale).toBe(true)
    expect(dict.readEntryInto('cache', 'missing', v)).toBe(false)
    expect(dict.readEntryInto('other', 'k', v)).toBe(false)
  })

  it('readEntryInto() lends one buffer, which the next read of the thread overwrites, and is a use once the thread next takes the mutex', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('oldest', 1)
    dict.writeEntry('cache', 'a', bytes(1, 1, 1), 0, 0)
    dict.writeEntry('cache', 'b', bytes(2, 2, 2), 0, 0)
    const other = dicts.create({ size: '16k' })
    other.writeEntry('cache', 'c', bytes(3, 3, 3, 3, 3, 3, 3, 3), 0, 0)
    const first = view()
    const second = view()
    dict.readEntryInto('cache', 'a', first)
    expect(lentBytes(first)).toEqual([1, 1, 1])
    other.readEntryInto('cache', 'c', second)
    expect(second.bytes).toBe(first.bytes)
    expect(lentBytes(first)).not.toEqual([1, 1, 1])
    // A lock-free read records the use; the next call of the thread that takes the mutex applies it.
    expect(inspectSharedDict(dict).lru).toEqual(LOCK_FREE_READS ? ['5:cache:b', '5:cache:a', 'oldest'] : ['5:cache:a', '5:cache:b', 'oldest'])
    dict.stats()
    expect(inspectSharedDict(dict).lru).toEqual(['5:cache:a', '5:cache:b', 'oldest'])
  })

  it('with the default clock, readEntryInto() and readEntry() of an entry that expires read the time, after entries that never expire too', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('cache', 'never', bytes(1), 0, 0)
    dict.writeEntry('cache', 'short', bytes(2), 30, 0, { staleTtl: 10_000 })
    const v = view()
    expect(dict.readEntryInto('cache', 'short', v) && v.ttl > 0 && v.ttl <= 30 && !v.stale).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 60))
    for (const read of [() => dict.readEntryInto('cache', 'short', v) && v, () => dict.readEntry('cache', 'short')]) {
      // Reads of an entry that never expires first: they need no time.
      for (let i = 0; i < 3; i++) expect(dict.readEntryInto('cache', 'never', v) && v.ttl).toBe(0)
      expect(dict.readEntry('cache', 'never')?.ttl).toBe(0)
      const entry = read()
      expect(entry && entry.stale).toBe(true)
      expect(entry && entry.ttl <= -30 && entry.ttl > -10_000).toBe(true)
      const before = inspectSharedDict(dict).lru
      read()
      expect(inspectSharedDict(dict).lru).toEqual(before)
    }
  })

  it('with the default clock, a read of an entry that never expires reads no clock; after one that expires, the next read takes it first', () => {
    const clock = vi.spyOn(Date, 'now')
    try {
      // Created while Date.now is the spy: the spy is the dict's default clock.
      const dict = dicts.create({ size: '16k' })
      dict.writeEntry('cache', 'never', bytes(1), 0, 0)
      dict.writeEntry('cache', 'expires', bytes(2), 60_000, 0)
      const v = view()
      const callsOf = (read: () => unknown): number => {
        const before = clock.mock.calls.length
        read()
        return clock.mock.calls.length - before
      }
      const never = () => dict.readEntryInto('cache', 'never', v)
      const expires = () => dict.readEntryInto('cache', 'expires', v)
      // Each read's clock calls: none for 'never'; one for 'expires', under the mutex; the read after it
      // takes the time before the mutex (it does not know the entry yet), and that one finds it unneeded.
      expect([never, never, expires, never, never, expires, expires].map(callsOf)).toEqual([0, 0, 1, 1, 0, 1, 1])
      const readNever = () => dict.readEntry('cache', 'never')
      const readExpires = () => dict.readEntry('cache', 'expires')
      expect([readNever, readNever, readExpires, readNever].map(callsOf)).toEqual([1, 0, 1, 1])
    } finally {
      clock.mockRestore()
    }
  })

  it('with the default clock, reads keep the Date.now the dict was made with when the global one is replaced later', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('cache', 'never', bytes(1), 0, 0)
    dict.writeEntry('cache', 'expires', bytes(2), 60_000, 0)
    const v = view()
    // A read that needs no time first: the next read takes it under the mutex.
    expect(dict.readEntryInto('cache', 'never', v)).toBe(true)
    const inAnHour = Date.now() + 3_600_000
    const replaced = vi.spyOn(Date, 'now').mockReturnValue(inAnHour)
    try {
      expect(dict.readEntryInto('cache', 'expires', v) && v.stale).toBe(false)
      expect(dict.readEntry('cache', 'expires')?.stale).toBe(false)
      expect(replaced).not.toHaveBeenCalled()
    } finally {
      replaced.mockRestore()
    }
  })

  it('readEntryInto() answers a value larger than its buffer (64 KiB) with a private copy', () => {
    const dict = dicts.create({ size: '1m' })
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 13) & 0xff)
    dict.writeEntry('cache', 'big', big, 0, 7)
    dict.writeEntry('cache', 'small', bytes(1), 0, 0)
    const v = view()
    expect(dict.readEntryInto('cache', 'big', v)).toBe(true)
    const lent = v.bytes
    expect(v.flags).toBe(7)
    expect(new Uint8Array(v.bytes.subarray(v.start, v.end))).toEqual(big)
    dict.readEntryInto('cache', 'small', view())
    expect(new Uint8Array(lent.subarray(0, 100_000))).toEqual(big)
  })

  it('readEntryInto() rejects a bad namespace or key as readEntry() does, with the mutex free after', () => {
    const dict = dicts.create({ size: '16k' })
    for (const [namespace, key] of [[1, 'k'], ['cache', ''], ['cache', 2]] as [string, string][]) {
      const expected = (() => {
        try {
          dict.readEntry(namespace, key)
        } catch (error) {
          return error as Error
        }
      })()
      expect(expected).toBeInstanceOf(Error)
      expect(() => dict.readEntryInto(namespace, key, view())).toThrow(expected as Error)
    }
    dict.writeEntry('cache', 'k', bytes(1), 0, 0)
    expect(dict.readEntryInto('cache', 'k', view())).toBe(true)
  })
})

describe('purgeNamespace()', () => {
  it('purgeNamespace(ns, false) makes the entries of ns stale and keeps other namespaces fresh', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    for (let i = 0; i < 3; i++) dict.writeEntry('users', `k${i}`, bytes(i), 0, i)
    dict.writeEntry('users2', 'k0', bytes(10), 0, 0)
    dict.writeEntry('user', 's:k0', bytes(11), 0, 0)
    dict.set('5:users', 'not in the namespace')
    dict.purgeNamespace('users', false)
    for (let i = 0; i < 3; i++) {
      const entry = dict.readEntry('users', `k${i}`)
      expect(entry?.stale).toBe(true)
      expect(entry?.value).toEqual(bytes(i))
      expect(entry?.ttl).toBeLessThan(0)
    }
    expect(dict.readEntry('users2', 'k0')?.stale).toBe(false)
    expect(dict.readEntry('user', 's:k0')?.stale).toBe(false)
    expect(dict.get('5:users')?.value).toBe('not in the namespace')
  })

  it('purgeNamespace(ns, true) frees the entries of ns', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('keep', 'k', bytes(1), 0, 0)
    const free = dict.freeSpace()
    for (let i = 0; i < 10; i++) dict.writeEntry('drop', `k${i}`, new Uint8Array(50), 0, 0)
    dict.purgeNamespace('drop', true)
    expect(dict.freeSpace()).toBe(free)
    expect(dict.readEntry('drop', 'k0')).toBeUndefined()
    expect(dict.readEntry('keep', 'k')?.stale).toBe(false)
    expect(dict.stats().expiredFreed).toBe(10)
  })

  it('purgeNamespace() leaves loader locks held', () => {
    const dict = dicts.create({ size: '16k' })
    dict.tryLock('ns', 'key', 'owner', 10_000)
    dict.writeEntry('ns', 'key', bytes(1), 0, 0)
    dict.purgeNamespace('ns', true)
    expect(dict.tryLock('ns', 'key', 'other', 10_000)).toBe('held')
    expect(dict.readEntry('ns', 'key')).toBeUndefined()
  })
})
