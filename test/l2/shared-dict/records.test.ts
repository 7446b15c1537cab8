import { describe, expect, it } from 'vitest'
import { checkSharedDictInvariants, inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { RECORD_OWNER } from '../../../src/l2/shared-dict/layout.js'
import type { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, useTsWorkers } from '../../helpers/ts-workers.js'
import type { RecordWorkerData } from './workers/record-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const RECORD = new URL('./workers/record-worker.ts', import.meta.url)

/** The internal key of `namespace`/`key`, as `inspectSharedDict` shows it. */
const internalKey = (namespace: string, key: string): string => `${namespace.length}:${namespace}:${key}`

/** The stored entry of the record `namespace`/`key`, as decoded by `inspectSharedDict`. */
function recordEntry(dict: SharedDict, namespace: string, key: string) {
  return inspectSharedDict(dict).entries.find((entry) => entry.pinned && entry.key === internalKey(namespace, key))
}

/** Sets distinct live values of 100 bytes until `count` of them were written (evicting once the dict is full). */
function setValues(dict: SharedDict, count: number): void {
  for (let i = 0; i < count; i++) expect(dict.set(`value${i}`, 'v'.repeat(100)).ok).toBe(true)
}

/** Fills `dict` with live values of `size` bytes, never evicting, until one does not fit; answers how many fit. */
function fill(dict: SharedDict, size: number): number {
  let count = 0
  while (count < 100_000 && dict.safeSet(`fill${count}`, 'f'.repeat(size)).ok) count++
  return count
}

describe('SharedDict records', () => {
  it('writeRecord() then readRecord() answers the string; a missing record is undefined', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.readRecord('ns', 'page')).toBeUndefined()
    expect(dict.writeRecord('ns', 'page', '7')).toBe(true)
    expect(dict.writeRecord('ns', 'empty', '')).toBe(true)
    expect(dict.writeRecord('ns', 'unicode', 'pâge 😀')).toBe(true)
    expect(dict.readRecord('ns', 'page')).toBe('7')
    expect(dict.readRecord('ns', 'empty')).toBe('')
    expect(dict.readRecord('ns', 'unicode')).toBe('pâge 😀')
    expect(dict.readRecord('other', 'page')).toBeUndefined()
    // A loader lock is pinned too, but it is not a record.
    expect(dict.tryLock('ns', 'lock', 'token', 60_000)).toBe('acquired')
    expect(dict.readRecord('ns', 'lock')).toBeUndefined()
    expect(recordEntry(dict, 'ns', 'page')).toMatchObject({ value: '7', flags: RECORD_OWNER, expiresAt: 0, revoked: false })
    checkSharedDictInvariants(dict)
  })

  it('writeRecord() overwrites a record with one of the same, a longer or a shorter length', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', 'one')).toBe(true)
    const offset = recordEntry(dict, 'ns', 'page')?.offset
    expect(dict.writeRecord('ns', 'page', 'two')).toBe(true)
    expect(recordEntry(dict, 'ns', 'page')?.offset).toBe(offset)
    expect(dict.readRecord('ns', 'page')).toBe('two')
    for (const value of ['a much longer record than before', 's', 'x'.repeat(2_000), '']) {
      expect(dict.writeRecord('ns', 'page', value)).toBe(true)
      expect(dict.readRecord('ns', 'page')).toBe(value)
      checkSharedDictInvariants(dict)
    }
    expect(dict.stats().entries).toBe(1)
  })

  it('readEntry() never sees a record, and entries of the same namespace and key leave it alone', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', 'record')).toBe(true)
    expect(dict.readEntry('ns', 'page')).toBeUndefined()
    expect(dict.readEntries('ns', ['page'])).toEqual([undefined])
    expect(dict.get(internalKey('ns', 'page'))).toBeUndefined()
    expect(dict.writeEntry('ns', 'page', Uint8Array.of(1, 2), 0, 3)).toBe('ok')
    expect(dict.readEntry('ns', 'page')).toMatchObject({ value: Uint8Array.of(1, 2), flags: 3 })
    expect(dict.readRecord('ns', 'page')).toBe('record')
    dict.deleteEntry('ns', 'page')
    expect(dict.readEntry('ns', 'page')).toBeUndefined()
    expect(dict.readRecord('ns', 'page')).toBe('record')
    // Writing the record again, in place, clears the void-fence bit those set on the pinned entry.
    expect(dict.writeRecord('ns', 'page', 'RECORD')).toBe(true)
    expect(recordEntry(dict, 'ns', 'page')).toMatchObject({ value: 'RECORD', revoked: false })
    checkSharedDictInvariants(dict)
  })

  it('writeRecord() keeps the record when the dict is full and evicts values', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', 'kept')).toBe(true)
    setValues(dict, 1_000)
    expect(dict.stats().forcibleEvictions).toBeGreaterThan(500)
    expect(dict.readRecord('ns', 'page')).toBe('kept')
    checkSharedDictInvariants(dict)
  })

  it('flushAll(), flushExpired() and time never remove a record; keys() does not list it', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    dict.set('value', 1)
    expect(dict.writeRecord('ns', 'page', 'kept')).toBe(true)
    expect(dict.keys(0)).toEqual(['value'])
    dict.flushAll()
    expect(dict.readRecord('ns', 'page')).toBe('kept')
    checkSharedDictInvariants(dict)
    clock.advance(1e12)
    expect(dict.flushExpired(0)).toBe(0)
    expect(dict.readRecord('ns', 'page')).toBe('kept')
    expect(dict.keys(0)).toEqual([])
    expect(dict.stats().entries).toBe(1)
    checkSharedDictInvariants(dict)
  })

  it('purgeNamespace() leaves a record of its namespace as it was, and voids the fences of its locks', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', 'kept')).toBe(true)
    expect(dict.tryLock('ns', 'key', 'owner', 60_000)).toBe('acquired')
    dict.writeEntry('ns', 'entry', Uint8Array.of(1), 0, 0)
    for (const flushExpired of [false, true]) {
      dict.purgeNamespace('ns', flushExpired)
      expect(dict.readRecord('ns', 'page')).toBe('kept')
      expect(recordEntry(dict, 'ns', 'page')).toMatchObject({ revoked: false, flags: RECORD_OWNER, expiresAt: 0 })
      checkSharedDictInvariants(dict)
    }
    expect(recordEntry(dict, 'ns', 'key')).toMatchObject({ value: 'owner', revoked: true })
    expect(dict.readEntry('ns', 'entry')).toBeUndefined()
  })

  it('writeRecord() answers false when the dict has no room, changing nothing, and never evicts a value', () => {
    const dict = dicts.create({ size: '8k' })
    expect(dict.writeRecord('ns', 'page', 'old')).toBe(true)
    const count = fill(dict, 40)
    const before = inspectSharedDict(dict)
    expect(dict.writeRecord('ns', 'other', 'r'.repeat(200))).toBe(false)
    expect(dict.writeRecord('ns', 'page', 'r'.repeat(200))).toBe(false)
    expect(inspectSharedDict(dict)).toEqual(before)
    expect(dict.readRecord('ns', 'other')).toBeUndefined()
    expect(dict.readRecord('ns', 'page')).toBe('old')
    expect(dict.stats()).toMatchObject({ entries: count + 1, forcibleEvictions: 0 })
    // The same length needs no room: rewritten in place.
    expect(dict.writeRecord('ns', 'page', 'new')).toBe(true)
    expect(dict.readRecord('ns', 'page')).toBe('new')
    checkSharedDictInvariants(dict)
  })

  it('writeRecord() on a full dict reclaims expired values, as a loader lock does', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '8k', clock: clock.now })
    for (let i = 0; i < 10; i++) dict.set(`expiring${i}`, 'e'.repeat(40), 10)
    fill(dict, 40)
    clock.advance(10)
    expect(dict.writeRecord('ns', 'page', 'r'.repeat(100))).toBe(true)
    expect(dict.readRecord('ns', 'page')).toBe('r'.repeat(100))
    expect(dict.stats().forcibleEvictions).toBe(0)
    expect(dict.stats().expiredFreed).toBeGreaterThan(0)
  })

  it('a record larger than a large value (1 MiB) reads back', () => {
    const dict = dicts.create({ size: '8m' })
    const ascii = 'a'.repeat((1 << 20) + 5)
    const unicode = 'é😀'.repeat(200_000)
    expect(dict.writeRecord('ns', 'ascii', ascii)).toBe(true)
    expect(dict.writeRecord('ns', 'unicode', unicode)).toBe(true)
    expect(dict.readRecord('ns', 'ascii')).toBe(ascii)
    expect(dict.readRecord('ns', 'unicode')).toBe(unicode)
  })

  it('a record written by a worker that is terminated and reaped still reads back; its lock is gone', async () => {
    const dict = dicts.create({ size: '16k' })
    const data: RecordWorkerData = { task: 'write', handle: dict.handle, records: [['ns', 'page', 'from worker']] }
    // Unsupervised: the test plays its supervisor.
    const worker = await workers.spawnUnsupervised(RECORD, { ...data })
    expect(await nextMessage(worker.relay)).toEqual({ written: [true], locked: 'acquired' })
    await worker.terminate()
    expect(dict.tryLock('ns', 'lock', 'next', 1_000)).toBe('held')
    dict.reapThread(worker.threadId)
    expect(dict.tryLock('ns', 'lock', 'next', 1_000)).toBe('acquired')
    expect(dict.readRecord('ns', 'page')).toBe('from worker')
    checkSharedDictInvariants(dict)
  })

  it('reapThread() of any thread id, even the owner slot of records, never removes a record', () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', 'kept')).toBe(true)
    for (const id of [4242, RECORD_OWNER]) {
      dict.reapThread(id)
      expect(dict.readRecord('ns', 'page')).toBe('kept')
    }
  })

  it('another thread attached to the dict reads the records', async () => {
    const dict = dicts.create({ size: '16k' })
    expect(dict.writeRecord('ns', 'page', '3')).toBe(true)
    expect(dict.writeRecord('other', 'page', 'ünïcode')).toBe(true)
    const data: RecordWorkerData = {
      task: 'read',
      handle: dict.handle,
      keys: [
        ['ns', 'page'],
        ['other', 'page'],
        ['ns', 'missing'],
      ],
    }
    const worker = workers.spawn(RECORD, { ...data })
    try {
      expect(await nextMessage(worker)).toEqual({ read: ['3', 'ünïcode', undefined] })
    } finally {
      await worker.terminate()
    }
  })

  it('bad arguments throw a TypeError or RangeError naming them and change nothing', () => {
    const dict = dicts.create({ size: '16k' })
    const bad = 1 as unknown as string
    expect(() => dict.readRecord(bad, 'page')).toThrow('namespace must be a string')
    expect(() => dict.writeRecord(bad, 'page', 'v')).toThrow('namespace must be a string')
    expect(() => dict.readRecord('ns', bad)).toThrow(TypeError)
    expect(() => dict.writeRecord('ns', '', 'v')).toThrow(RangeError)
    expect(() => dict.writeRecord('ns', 'page', bad)).toThrow(/^value must be a string$/)
    expect(() => dict.writeRecord('ns', 'page', undefined as unknown as string)).toThrow(/^value must be a string$/)
    expect(() => dict.writeRecord('ns', 'page', 'a\uD800')).toThrow(TypeError)
    expect(dict.stats().entries).toBe(0)
  })
})
