import { threadId } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import {
  E_BUCKET_NEXT,
  E_HASH,
  E_VALUE_LEN,
  H_BUCKET_COUNT,
  H_BUCKETS_OFF,
  H_GENERATION,
  H_MUTATING,
  H_MUTEX,
  H_SEQ,
} from '../../../src/l2/shared-dict/layout.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

/** Corrupts the value length of `key`'s entry so that reading it throws under the mutex. */
function corrupt(dict: SharedDict, key: string): void {
  const entry = inspectSharedDict(dict).entries.find((candidate) => candidate.key === key)
  if (entry === undefined) throw new Error(`no entry ${key}`)
  new Uint32Array(dict.handle.buffer)[(entry.offset << 1) + E_VALUE_LEN] = 0x7fff_fff0
}

describe('recovery from an interrupted mutation', () => {
  it('an exception inside a critical section empties the dict, releases the mutex, is reported and rethrown', async () => {
    const { dict, recoveries } = recordingDict(dicts)
    const words = new Int32Array(dict.handle.buffer)
    const generation = words[H_GENERATION]
    dict.set('good', 1)
    dict.set('bad', 'string')
    corrupt(dict, 'bad')
    const seq = Atomics.load(words, H_SEQ)
    expect(() => dict.get('bad')).toThrow(RangeError)
    expect(Atomics.load(words, H_MUTEX)).toBe(0)
    expect(Atomics.load(words, H_MUTATING)).toBe(0)
    // Reads without the mutex see the emptying as a change: the sequence word moved on, and is even.
    expect(Atomics.load(words, H_SEQ)).toBe(seq + 2)
    expect(Atomics.load(words, H_GENERATION)).toBe((generation ?? 0) + 1)
    expect(dict.stats()).toMatchObject({ entries: 0, usedBytes: 0, recoveries: 1 })
    expect(dict.get('good')).toBeUndefined()
    // The dict works as before.
    expect(dict.set('after', 2)).toEqual({ ok: true, forcible: false })
    expect(dict.get('after')?.value).toBe(2)
    // Reported after the call, not under the mutex.
    expect(recoveries).toEqual([])
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'exception', threadId, emptied: true }])
  })

  it("without onRecover, a recovery emits a process warning, like nginx's alert", async () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('bad', 'string')
    corrupt(dict, 'bad')
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve))
    expect(() => dict.get('bad')).toThrow(RangeError)
    const warning = (await warned) as Error & { code?: string }
    expect(warning.name).toBe('SharedDictWarning')
    expect(warning.code).toBe('MLCACHE_SHARED_DICT_RECOVERED')
    expect(warning.message).toBe(`SharedDict: an exception escaped a mutation in thread ${threadId}; the dict was emptied`)
  })

  it('create() and attach() reject an onRecover that is not a function', () => {
    const bad = { onRecover: 'log' as unknown as () => void }
    expect(() => SharedDict.create({ size: '16k', ...bad })).toThrow('options.onRecover must be a function')
    const dict = dicts.create({ size: '16k' })
    expect(() => SharedDict.attach(dict.handle, bad)).toThrow('options.onRecover must be a function')
  })

  it('a recovery wakes the waiters of loader locks, whose locks are gone', async () => {
    const dict = dicts.create({ size: '16k', onRecover: () => {} })
    dict.tryLock('ns', 'key', 'owner', 60_000)
    dict.set('bad', 'string')
    corrupt(dict, 'bad')
    let woken = false
    const waiting = dict.waitForUnlock('ns', 'key', 30_000).then(() => {
      woken = true
    })
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(() => dict.getStale('bad')).toThrow(RangeError)
    await waiting
    expect(woken).toBe(true)
    expect(dict.tryLock('ns', 'key', 'next', 1_000)).toBe('acquired')
  })
})

describe('a structure damaged beyond what a mutation leaves', () => {
  it('a bucket chain that loops makes the lookup throw and empties the dict instead of spinning forever with the mutex held', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k')
    for (let i = 0; i < 300; i++) dict.set(`key-${i}`, i)
    const u32 = new Uint32Array(dict.handle.buffer)
    const base = u32[H_BUCKETS_OFF]! / 4
    const mask = u32[H_BUCKET_COUNT]! - 1
    // Two entries of one bucket: make its head point to itself, then look up the other.
    const byBucket = new Map<number, string[]>()
    for (const entry of inspectSharedDict(dict).entries) {
      const bucket = u32[(entry.offset << 1) + E_HASH]! & mask
      byBucket.set(bucket, [...(byBucket.get(bucket) ?? []), entry.key])
    }
    const [bucket] = [...byBucket].find(([, keys]) => keys.length >= 2)!
    const head = u32[base + bucket]!
    const other = byBucket.get(bucket)!.find((key) => inspectSharedDict(dict).entries.find((e) => e.key === key)!.offset !== head)!
    u32[(head << 1) + E_BUCKET_NEXT] = head
    expect(() => dict.get(other)).toThrow('SharedDict bucket chain loops')
    expect(dict.stats()).toMatchObject({ entries: 0, recoveries: 1 })
    expect(dict.set('after', 1).ok).toBe(true)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'exception', threadId, emptied: true }])
  })

  it('a bucket chain linking outside the arena makes the lookup throw and empties the dict instead of reading the header as an entry', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k')
    dict.set('first', 1)
    const u32 = new Uint32Array(dict.handle.buffer)
    const [entry] = inspectSharedDict(dict).entries
    // Another key of the same bucket, so that its lookup follows the entry's next link.
    const mask = u32[H_BUCKET_COUNT]! - 1
    const bucket = u32[(entry!.offset << 1) + E_HASH]! & mask
    let other = ''
    for (let i = 0; other === ''; i++) {
      dict.set(`probe-${i}`, i)
      const probe = inspectSharedDict(dict).entries.find((e) => e.key === `probe-${i}`)!
      if ((u32[(probe.offset << 1) + E_HASH]! & mask) === bucket) other = `probe-${i}`
      dict.delete(`probe-${i}`)
    }
    // The entry's next link points at unit 1, inside the header.
    u32[(entry!.offset << 1) + E_BUCKET_NEXT] = 1
    expect(() => dict.get(other)).toThrow('SharedDict bucket chain leaves the arena')
    expect(dict.stats()).toMatchObject({ entries: 0, recoveries: 1 })
    expect(dict.set('after', 1).ok).toBe(true)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'exception', threadId, emptied: true }])
  })
})
