/**
 * The fences of SharedDict's loader locks, operation by operation: which
 * ones void the fence of a lock (its entry is marked revoked, the lock stays
 * held) and which leave it valid. Deterministic: every lease is 60 s except
 * in the takeover tests, which wait a short one out.
 */
import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import type { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { sleep } from '../../helpers/ts-workers.js'

const dicts = useCheckedDicts()

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)
/** Larger than the arena of a 16 KiB dict: every write of it answers 'no memory'. */
const HUGE = new Uint8Array(20_000)

/** The lock entry of `ns`/`key` (its internal key is `${ns.length}:${ns}:${key}`), as stored. */
function lockOf(dict: SharedDict, ns: string, key: string): { value: unknown; revoked: boolean } | undefined {
  return inspectSharedDict(dict).entries.find((entry) => entry.pinned && entry.key === `${ns.length}:${ns}:${key}`)
}

/** A dict holding a value at ns/key and the lock of ns/key for 'owner'. */
function lockedDict(): SharedDict {
  const clock = fakeClock()
  const dict = dicts.create({ size: '16k', clock: clock.now })
  expect(dict.writeEntry('ns', 'key', bytes(1), 0, 1)).toBe('ok')
  expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('acquired')
  expect(lockOf(dict, 'ns', 'key')).toMatchObject({ value: 'owner', revoked: false })
  return dict
}

const VOIDING: [string, (dict: SharedDict) => void][] = [
  ['writeEntry() without a fence', (dict) => expect(dict.writeEntry('ns', 'key', bytes(2), 0, 2)).toBe('ok')],
  ['writeEntry() without a fence that finds no memory', (dict) => expect(dict.writeEntry('ns', 'key', HUGE, 0, 2)).toBe('no memory')],
  ['writeEntry() without a fence, with staleTtl', (dict) => expect(dict.writeEntry('ns', 'key', bytes(2), 10, 2, { staleTtl: 1_000 })).toBe('ok')],
  ['deleteEntry()', (dict) => dict.deleteEntry('ns', 'key')],
  [
    'deleteEntry() of a key without a value',
    (dict) => {
      dict.deleteEntry('ns', 'key')
      expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('held')
      dict.deleteEntry('ns', 'key')
    },
  ],
  ['purgeNamespace(ns, false)', (dict) => dict.purgeNamespace('ns', false)],
  ['purgeNamespace(ns, true)', (dict) => dict.purgeNamespace('ns', true)],
]

const KEEPING: [string, (dict: SharedDict) => void][] = [
  ['a fenced writeEntry() with its token', (dict) => expect(dict.writeEntry('ns', 'key', bytes(2), 0, 2, { fence: 'owner' })).toBe('ok')],
  [
    'a fenced writeEntry() with its token that finds no memory',
    (dict) => expect(dict.writeEntry('ns', 'key', HUGE, 0, 2, { fence: 'owner' })).toBe('no memory'),
  ],
  ['a fenced writeEntry() with another token', (dict) => expect(dict.writeEntry('ns', 'key', bytes(2), 0, 2, { fence: 'other' })).toBe('fenced')],
  ['tryLock() by another token', (dict) => expect(dict.tryLock('ns', 'key', 'other', 60_000)).toBe('held')],
  ['tryLock() by its own token', (dict) => expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('held')],
  ['unlock() with another token', (dict) => expect(dict.unlock('ns', 'key', 'other')).toBe(false)],
  ['extendLock()', (dict) => expect(dict.extendLock('ns', 'key', 'owner', 60_000)).toBe(true)],
  ['extendLock() with another token', (dict) => expect(dict.extendLock('ns', 'key', 'other', 60_000)).toBe(false)],
  ['readEntry() and readEntries()', (dict) => expect(dict.readEntries('ns', ['key', 'key'])).toHaveLength(2)],
  ['waitForUnlock()', (dict) => void dict.waitForUnlock('ns', 'key', 0)],
  [
    'writes and deletes of other keys of the namespace',
    (dict) => {
      dict.writeEntry('ns', 'key2', bytes(2), 0, 0)
      dict.writeEntry('ns', 'ke', bytes(2), 0, 0)
      dict.deleteEntry('ns', 'key2')
      dict.deleteEntry('ns', 'k')
    },
  ],
  [
    'writes, deletes and purges of other namespaces',
    (dict) => {
      for (const ns of ['n', 'ns2', 'ns:key', 'other', '']) {
        dict.writeEntry(ns, 'key', bytes(2), 0, 0)
        dict.deleteEntry(ns, 'key')
        dict.purgeNamespace(ns, false)
        dict.purgeNamespace(ns, true)
      }
    },
  ],
  ['locks of other keys taken and released', (dict) => {
    expect(dict.tryLock('ns', 'key2', 'owner', 60_000)).toBe('acquired')
    dict.writeEntry('ns', 'key2', bytes(3), 0, 0)
    expect(dict.unlock('ns', 'key2', 'owner')).toBe(true)
  }],
]

describe('the fence of a loader lock', () => {
  for (const [name, run] of VOIDING) {
    it(`${name} voids it and leaves the lock held`, () => {
      const dict = lockedDict()
      run(dict)
      expect(lockOf(dict, 'ns', 'key')).toMatchObject({ value: 'owner', revoked: true })
      expect(dict.tryLock('ns', 'key', 'other', 60_000)).toBe('held')
      const before = dict.readEntry('ns', 'key')
      expect(dict.writeEntry('ns', 'key', bytes(9), 0, 9, { fence: 'owner' })).toBe('fenced')
      expect(dict.readEntry('ns', 'key')).toEqual(before)
      expect(dict.unlock('ns', 'key', 'owner')).toBe(true)
    })
  }

  for (const [name, run] of KEEPING) {
    it(`${name} leaves it valid`, () => {
      const dict = lockedDict()
      run(dict)
      expect(lockOf(dict, 'ns', 'key')).toMatchObject({ value: 'owner', revoked: false })
      expect(dict.writeEntry('ns', 'key', bytes(9), 0, 9, { fence: 'owner' })).toBe('ok')
      expect(dict.readEntry('ns', 'key')).toMatchObject({ value: bytes(9), flags: 9, stale: false })
      expect(dict.unlock('ns', 'key', 'owner')).toBe(true)
    })
  }

  it('voiding one lock leaves the others of the namespace, and the same key elsewhere, valid', () => {
    const dict = lockedDict()
    for (const [ns, key] of [['ns', 'other'], ['ns2', 'key'], ['n', 'skey']] as const) {
      expect(dict.tryLock(ns, key, 'owner', 60_000)).toBe('acquired')
    }
    dict.writeEntry('ns', 'key', bytes(2), 0, 0)
    dict.deleteEntry('ns', 'key')
    expect(inspectSharedDict(dict).entries.filter((entry) => entry.pinned).map((entry) => [entry.key, entry.revoked])).toEqual([
      ['2:ns:key', true],
      ['2:ns:other', false],
      ['3:ns2:key', false],
      ['1:n:skey', false],
    ])
  })

  it('purgeNamespace() voids every lock of the namespace, with a value or not', () => {
    const dict = lockedDict()
    for (const key of ['a', 'b', 'c']) expect(dict.tryLock('ns', key, `owner-${key}`, 60_000)).toBe('acquired')
    expect(dict.tryLock('other', 'a', 'owner', 60_000)).toBe('acquired')
    dict.purgeNamespace('ns', true)
    expect(inspectSharedDict(dict).entries.filter((entry) => entry.pinned).map((entry) => [entry.key, entry.revoked])).toEqual([
      ['2:ns:key', true],
      ['2:ns:a', true],
      ['2:ns:b', true],
      ['2:ns:c', true],
      ['5:other:a', false],
    ])
    for (const key of ['a', 'b', 'c']) expect(dict.writeEntry('ns', key, bytes(1), 0, 0, { fence: `owner-${key}` })).toBe('fenced')
    expect(dict.writeEntry('other', 'a', bytes(1), 0, 0, { fence: 'owner' })).toBe('ok')
  })

  it('a lock taken over after its lease ended has a fresh fence, in place or not', async () => {
    const dict = dicts.create({ size: '16k' })
    for (const [next, inPlace] of [['other', true], ['a longer token', false]] as const) {
      const since = performance.now()
      expect(dict.tryLock('ns', 'key', 'owner', 20)).toBe('acquired')
      dict.deleteEntry('ns', 'key')
      const voided = inspectSharedDict(dict).entries.find((entry) => entry.pinned)
      expect(voided?.revoked).toBe(true)
      while (performance.now() - since <= 20) await sleep(5)
      expect(dict.writeEntry('ns', 'key', bytes(1), 0, 0, { fence: 'owner' })).toBe('fenced')
      expect(dict.tryLock('ns', 'key', next, 60_000)).toBe('acquired')
      const lock = inspectSharedDict(dict).entries.find((entry) => entry.pinned)
      expect(lock).toMatchObject({ value: next, revoked: false })
      // The same token length reuses the block; another one may land anywhere.
      if (inPlace) expect(lock?.offset).toBe(voided?.offset)
      expect(dict.writeEntry('ns', 'key', bytes(2), 0, 0, { fence: next })).toBe('ok')
      expect(dict.writeEntry('ns', 'key', bytes(3), 0, 0, { fence: 'owner' })).toBe('fenced')
      expect(dict.unlock('ns', 'key', next)).toBe(true)
    }
  })

  it('a fence is compared byte for byte, unicode and the empty token included', () => {
    const dict = dicts.create({ size: '16k' })
    const tokens = ['', 'é', 'e\u0301', '🔑', 'x'.repeat(300)]
    for (const [i, token] of tokens.entries()) expect(dict.tryLock('ns', `k${i}`, token, 60_000)).toBe('acquired')
    for (const [i, token] of tokens.entries()) {
      for (const other of tokens) {
        const expected = other === token ? 'ok' : 'fenced'
        expect(dict.writeEntry('ns', `k${i}`, bytes(i), 0, 0, { fence: other })).toBe(expected)
      }
    }
  })

  it('writeEntry() rejects a fence that is not a string, before touching anything', () => {
    const dict = lockedDict()
    for (const fence of [1, null, {}, Symbol('x')]) {
      expect(() => dict.writeEntry('ns', 'key', bytes(2), 0, 0, { fence } as unknown as { fence: string })).toThrow(TypeError)
    }
    expect(() => dict.writeEntry('ns', 'key', bytes(2), 0, 0, { staleTtl: -1 })).toThrow(RangeError)
    expect(lockOf(dict, 'ns', 'key')?.revoked).toBe(false)
    expect(dict.readEntry('ns', 'key')?.value).toEqual(bytes(1))
  })
})
