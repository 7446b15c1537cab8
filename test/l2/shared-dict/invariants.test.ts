/**
 * The white-box helpers themselves: `inspectSharedDict` reports what is
 * stored, lock fences included, and `checkSharedDictInvariants` catches a
 * corrupted entry flag byte (each corruption is undone afterwards, and the
 * dict checks clean again).
 */
import { describe, expect, it } from 'vitest'
import { checkSharedDictInvariants, inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { E_ENTRY_FLAGS, E_EXPIRES_AT, E_VALUE_TYPE, EF_KEEP_STALE, EF_PINNED, EF_REVOKED, VT_BYTES } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'

/** A dict with a value and a lock under ns/key, and a lock of ns/other whose fence is void. */
function sample(): SharedDict {
  const dict = SharedDict.create({ size: '16k' })
  dict.writeEntry('ns', 'key', Uint8Array.of(1), 0, 0)
  dict.tryLock('ns', 'key', 'owner', 60_000)
  dict.tryLock('ns', 'other', 'owner', 60_000)
  dict.deleteEntry('ns', 'other')
  return dict
}

/** The byte offset of the entry of `key` (`pinned` or not) in the dict's buffer. */
function entryAt(dict: SharedDict, key: string, pinned: boolean): number {
  const entry = inspectSharedDict(dict).entries.find((e) => e.key === key && e.pinned === pinned)
  if (entry === undefined) throw new Error(`no entry ${key}`)
  return entry.offset * 8
}

/** Sets the byte at `at` to `value`, expects the checker to throw `message`, then restores it. */
function expectCaught(dict: SharedDict, at: number, value: number, message: RegExp): void {
  const u8 = new Uint8Array(dict.handle.buffer)
  const saved = u8[at]!
  u8[at] = value
  try {
    expect(() => checkSharedDictInvariants(dict)).toThrow(message)
  } finally {
    u8[at] = saved
  }
  checkSharedDictInvariants(dict)
}

describe('inspectSharedDict()', () => {
  it('reports whether the fence of each lock is void, and no value as revoked', () => {
    const dict = sample()
    const entries = inspectSharedDict(dict).entries.map(({ key, pinned, revoked, value }) => ({ key, pinned, revoked, value }))
    expect(entries).toEqual([
      { key: '2:ns:key', pinned: false, revoked: false, value: Uint8Array.of(1) },
      { key: '2:ns:key', pinned: true, revoked: false, value: 'owner' },
      { key: '2:ns:other', pinned: true, revoked: true, value: 'owner' },
    ])
    checkSharedDictInvariants(dict)
    dict.writeEntry('ns', 'key', Uint8Array.of(2), 0, 0)
    expect(inspectSharedDict(dict).entries.filter((e) => e.revoked).map((e) => e.key)).toEqual(['2:ns:key', '2:ns:other'])
    checkSharedDictInvariants(dict)
  })
})

describe('checkSharedDictInvariants()', () => {
  it('catches an unknown entry flag on a value or a lock', () => {
    const dict = sample()
    for (const bit of [8, 0x10, 0x80]) {
      expectCaught(dict, entryAt(dict, '2:ns:key', false) + E_ENTRY_FLAGS, bit, /has unknown entry flags/)
      expectCaught(dict, entryAt(dict, '2:ns:key', true) + E_ENTRY_FLAGS, EF_PINNED | bit, /has unknown entry flags/)
      expectCaught(dict, entryAt(dict, '2:ns:other', true) + E_ENTRY_FLAGS, EF_PINNED | EF_REVOKED | bit, /has unknown entry flags/)
    }
  })

  it('catches a lock marked keep-stale', () => {
    const dict = sample()
    expectCaught(dict, entryAt(dict, '2:ns:key', true) + E_ENTRY_FLAGS, EF_PINNED | EF_KEEP_STALE, /lock at unit \d+ is marked keep-stale/)
  })

  it('catches a value marked revoked', () => {
    const dict = sample()
    expectCaught(dict, entryAt(dict, '2:ns:key', false) + E_ENTRY_FLAGS, EF_REVOKED, /value entry at unit \d+ is marked revoked/)
  })

  it('catches a lock that lost its pinned flag, and a value that gained it', () => {
    const dict = sample()
    // A lock that looks like a value: outside the LRU list, or beside the value of its key.
    expectCaught(dict, entryAt(dict, '2:ns:other', true) + E_ENTRY_FLAGS, 0, /LRU entries \+ \d+ pinned entries != \d+ entries/)
    expectCaught(dict, entryAt(dict, '2:ns:key', true) + E_ENTRY_FLAGS, 0, /two entries have the key/)
    expectCaught(dict, entryAt(dict, '2:ns:other', true) + E_ENTRY_FLAGS, EF_REVOKED, /is marked revoked/)
    // A value flagged as a lock: its bytes are no token.
    expectCaught(dict, entryAt(dict, '2:ns:key', false) + E_ENTRY_FLAGS, EF_PINNED, /lock at unit \d+ does not hold a string token/)
  })

  it('catches a lock whose token is not a string', () => {
    const dict = sample()
    expectCaught(dict, entryAt(dict, '2:ns:key', true) + E_VALUE_TYPE, VT_BYTES, /lock at unit \d+ does not hold a string token/)
  })

  it('accepts records, and catches a record with an expiry', () => {
    const dict = sample()
    expect(dict.writeRecord('ns', 'page', 'record')).toBe(true)
    checkSharedDictInvariants(dict)
    const f64 = new Float64Array(dict.handle.buffer)
    const at = entryAt(dict, '2:ns:page', true) / 8 + E_EXPIRES_AT
    f64[at] = 1
    try {
      expect(() => checkSharedDictInvariants(dict)).toThrow(/record at unit \d+ has an expiry/)
    } finally {
      f64[at] = 0
    }
    checkSharedDictInvariants(dict)
  })
})
