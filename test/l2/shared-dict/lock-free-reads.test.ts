/**
 * The L2Store reads `readEntryInto` and `readEntry` read without the dict
 * mutex (a seqlock on the dict's sequence word) and record the use they
 * make of a fresh entry, which the thread applies to the LRU list at its
 * next hold of the mutex or after a batch of 64 reads. Where they take the
 * mutex instead (`LOCK_FREE_READS` false: another CPU, or the
 * `locked-reads` test project), the same tests check that they answer the
 * same and move the entry at once.
 */
import { describe, expect, it } from 'vitest'
import { lockWordOf } from '../../../src/internal/robust-mutex.js'
import { LOCK_FREE_READS } from '../../../src/l2/shared-dict/dict-core.js'
import type { EntryView } from '../../../src/l2/l2-store.js'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { H_MUTATING, H_MUTEX, H_SEQ } from '../../../src/l2/shared-dict/layout.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, useTsWorkers } from '../../helpers/ts-workers.js'
import type { PauseWorkerData } from './workers/pause-worker.js'
import type { SeqlockReport, SeqlockWorkerData } from './workers/seqlock-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const PAUSE = new URL('./workers/pause-worker.ts', import.meta.url)
const SEQLOCK = new URL('./workers/seqlock-worker.ts', import.meta.url)

const view = (): EntryView => ({ bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false })
const lentBytes = (v: EntryView): number[] => Array.from(v.bytes.subarray(v.start, v.end))
/** The LRU list of `dict`, most recent first, as stored (without applying any recorded use). */
const lruOf = (dict: Parameters<typeof inspectSharedDict>[0]): string[] => inspectSharedDict(dict).lru

describe('readEntryInto() and readEntry() without the mutex', () => {
  it('answer while another thread holds the mutex, and leave the mutex word alone (taking the mutex, they presume that owner dead)', () => {
    // A read that took the mutex would presume this owner (no supervisor, no progress) dead after 100 ms and steal it.
    const dict = dicts.create({ size: '16k', ownerDeadAfter: 100, onRecover: () => undefined })
    dict.writeEntry('n', 'k', Uint8Array.of(7, 8, 9), 0, 3)
    const i32 = new Int32Array(dict.handle.buffer)
    const otherOwner = lockWordOf(4_242, false)
    Atomics.store(i32, H_MUTEX, otherOwner)
    try {
      const v = view()
      expect(dict.readEntryInto('n', 'k', v)).toBe(true)
      expect([lentBytes(v), v.flags, v.ttl, v.stale]).toEqual([[7, 8, 9], 3, 0, false])
      expect(dict.readEntryInto('n', 'missing', v)).toBe(false)
      expect(dict.readEntry('n', 'k')).toEqual({ value: Uint8Array.of(7, 8, 9), flags: 3, ttl: 0, stale: false })
      expect(dict.readEntry('n', 'missing')).toBeUndefined()
      expect(Atomics.load(i32, H_MUTEX)).toBe(LOCK_FREE_READS ? otherOwner : 0)
    } finally {
      Atomics.store(i32, H_MUTEX, 0)
    }
  })

  it('the sequence word moves by two over each change a lookup could see, and stays put over reads and LRU moves', () => {
    let now = 1_000
    const dict = dicts.create({ size: '16k', clock: () => now })
    const i32 = new Int32Array(dict.handle.buffer)
    const seq = (): number => Atomics.load(i32, H_SEQ)
    const moves = (call: () => unknown): number => {
      const before = seq()
      call()
      return seq() - before
    }
    expect(moves(() => dict.writeEntry('n', 'a', Uint8Array.of(1), 0, 0))).toBe(2)
    expect(moves(() => dict.set('short', 1, 10))).toBe(2)
    expect(moves(() => dict.readEntryInto('n', 'a', view()))).toBe(0)
    expect(moves(() => dict.readEntry('n', 'a'))).toBe(0)
    // get() moves the entry it finds in the LRU list, and applies the uses above: no change a lookup sees.
    expect(moves(() => dict.get('1:n:a'))).toBe(0)
    now += 20
    // Its sweep frees the expired entry at the LRU tail: that one is seen.
    expect(moves(() => dict.get('1:n:a'))).toBe(2)
    expect(dict.stats().expiredFreed).toBe(1)
    expect(moves(() => dict.deleteEntry('n', 'a'))).toBe(2)
  })

  it('readEntry() answers a private copy, which later reads of the thread leave intact', () => {
    const dict = dicts.create({ size: '16k' })
    dict.writeEntry('n', 'a', Uint8Array.of(1, 1, 1), 0, 0)
    dict.writeEntry('n', 'b', Uint8Array.of(2, 2, 2), 0, 0)
    const a = dict.readEntry('n', 'a')!.value
    expect(dict.readEntryInto('n', 'b', view())).toBe(true)
    expect(Array.from(dict.readEntry('n', 'b')!.value)).toEqual([2, 2, 2])
    expect(Array.from(a)).toEqual([1, 1, 1])
  })

  it('of a key a paused writer is inserting waits for the mutation to end instead of reading it half made', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k')
    const i32 = new Int32Array(dict.handle.buffer)
    const data: PauseWorkerData = { handle: dict.handle, at: 'mutation', busyMs: 1_000, key: '1:n:paused' }
    const writer = workers.spawn(PAUSE, { ...data })
    expect(await nextMessage(writer)).toEqual({ inside: true })
    expect(Atomics.load(i32, H_SEQ) & 1).toBe(1)
    const answer = nextMessage(writer)
    const v = view()
    expect(dict.readEntryInto('n', 'paused', v)).toBe(true)
    // Read once the writer left: its mutation is over, not merely under way.
    expect([Atomics.load(i32, H_SEQ) & 1, Atomics.load(i32, H_MUTATING)]).toEqual([0, 0])
    expect(Buffer.from(lentBytes(v)).toString()).toBe('value')
    expect(await answer).toEqual({ done: { ok: true, forcible: false }, recoveries: [] })
    expect(recoveries).toEqual([])
  })

  it('records a use that the next write of the thread applies before it evicts: the entry read stays, the next oldest goes', () => {
    const dict = dicts.create({ size: '16k' })
    const value = new Uint8Array(200)
    for (let i = 0; dict.stats().forcibleEvictions === 0; i++) dict.writeEntry('n', `k${i}`, value, 0, 0)
    const [oldest, nextOldest] = lruOf(dict).slice(-2).reverse() as [string, string]
    expect(dict.readEntryInto('n', oldest.slice('1:n:'.length), view())).toBe(true)
    dict.writeEntry('n', 'new', value, 0, 0)
    const present = new Set(lruOf(dict))
    expect([present.has(oldest), present.has(nextOldest), present.has('1:n:new')]).toEqual([true, false, true])
  })

  it('applies the uses of 64 reads in one hold, in the order read, and not before the 64th (taking the mutex, each at once)', () => {
    const dict = dicts.create({ size: '64k' })
    for (let i = 0; i <= 64; i++) dict.writeEntry('n', `e${i}`, Uint8Array.of(i), 0, 0)
    const stored = lruOf(dict)
    for (let i = 0; i < 63; i++) dict.readEntryInto('n', `e${i}`, view())
    const readSoFar = Array.from({ length: 63 }, (_, i) => `1:n:e${62 - i}`)
    expect(lruOf(dict)).toEqual(LOCK_FREE_READS ? stored : [...readSoFar, '1:n:e64', '1:n:e63'])
    dict.readEntryInto('n', 'e63', view())
    const read = Array.from({ length: 64 }, (_, i) => `1:n:e${63 - i}`)
    expect(lruOf(dict)).toEqual([...read, '1:n:e64'])
  })

  it('a stale read records no use', () => {
    let now = 1_000
    const dict = dicts.create({ size: '16k', clock: () => now })
    dict.writeEntry('n', 'short', Uint8Array.of(1), 10, 0, { staleTtl: 1_000 })
    dict.writeEntry('n', 'newer', Uint8Array.of(2), 0, 0)
    now += 20
    const v = view()
    expect(dict.readEntryInto('n', 'short', v) && v.stale).toBe(true)
    dict.stats()
    expect(lruOf(dict)).toEqual(['1:n:newer', '1:n:short'])
  })

  it('never answers bytes mixed from two writes while another thread rewrites, frees and reuses blocks under it', async () => {
    const dict = dicts.create({ size: '256k' })
    const stop = new Int32Array(new SharedArrayBuffer(4))
    const spawn = (role: SeqlockWorkerData['role'], seed: number) => workers.spawn(SEQLOCK, { handle: dict.handle, role, rounds: 30_000, stop, seed } satisfies SeqlockWorkerData)
    const reader = spawn('reader', 1)
    const readerReport = nextMessage<SeqlockReport>(reader)
    await nextMessage<SeqlockReport>(spawn('writer', 2))
    Atomics.store(stop, 0, 1)
    const { reads, found, mixed } = await readerReport
    expect(mixed).toBe(0)
    expect(found).toBeGreaterThan(0)
    expect(reads).toBeGreaterThan(found)
  })
})
