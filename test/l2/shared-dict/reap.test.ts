import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { threadId } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { lockWordOf } from '../../../src/internal/robust-mutex.js'
import { reapThread, registerReapable } from '../../../src/internal/thread-reaper.js'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { H_ENTRIES, H_GENERATION, H_MUTATING, H_MUTEX } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict, type SharedDictHandle } from '../../../src/l2/shared-dict/shared-dict.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, settles, useTsWorkers } from '../../helpers/ts-workers.js'
import type { LockWorkerData } from './workers/lock-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const PROGRESS = new URL('./workers/progress-worker.ts', import.meta.url)
const LOCK = new URL('./workers/lock-worker.ts', import.meta.url)

/**
 * Runs a worker thread that nothing supervises, which takes `locks` (60 s
 * leases) in every dict of `handles` and exits, leaving them behind;
 * answers its thread id once it has exited.
 */
async function lockAndExit(handles: SharedDictHandle[], locks: [string, string, string][]): Promise<number> {
  const data: LockWorkerData = { task: 'take', handles, locks, lease: 60_000 }
  // Unsupervised: the test plays its supervisor.
  const worker = await workers.spawnUnsupervised(LOCK, { ...data })
  expect(await nextMessage(worker.relay)).toEqual({ locked: handles.map(() => locks.map(() => 'acquired')) })
  expect(await worker.exited).toBe(0)
  return worker.threadId
}

/** A thread id no live thread has: ids are never reused within a process. */
const DEAD = 4242
/** Its lock word, as a thread without a supervisor. */
const DEAD_WORD = lockWordOf(DEAD, false)

/** Makes it look as if thread DEAD died inside a critical section of `dict` (mid-mutation when `mutating`). */
function dieHolding(dict: SharedDict, mutating: boolean, contended = false): void {
  const words = new Int32Array(dict.handle.buffer)
  Atomics.store(words, H_MUTEX, DEAD_WORD | (contended ? 1 : 0))
  if (mutating) {
    Atomics.store(words, H_MUTATING, DEAD_WORD)
    // A half-done mutation: the entry counter no longer matches the entries.
    words[H_ENTRIES] = words[H_ENTRIES]! + 1
  }
}

describe('SharedDict.reapThread()', () => {
  it('takes the mutex back from a thread that died mid-mutation and empties the dict', async () => {
    const { dict, recoveries } = recordingDict(dicts)
    const words = new Int32Array(dict.handle.buffer)
    dict.set('a', 1)
    dict.tryLock('ns', 'key', `${threadId}:1`, 60_000)
    const waiting = dict.waitForUnlock('ns', 'key', 30_000)
    const generation = Atomics.load(words, H_GENERATION)
    dieHolding(dict, true, true)
    dict.reapThread(DEAD)
    expect(Atomics.load(words, H_MUTEX)).toBe(0)
    expect(Atomics.load(words, H_MUTATING)).toBe(0)
    expect(Atomics.load(words, H_GENERATION)).toBe(generation + 1)
    expect(dict.stats()).toMatchObject({ entries: 0, usedBytes: 0, recoveries: 1 })
    expect(await settles(waiting)).toBe(true)
    expect(recoveries).toEqual([{ reason: 'reaped', threadId: DEAD, emptied: true }])
    expect(dict.set('b', 2)).toEqual({ ok: true, forcible: false })
  })

  it('only releases the mutex of a thread that died outside a mutation: the entries stay', async () => {
    const { dict, recoveries } = recordingDict(dicts)
    dict.set('a', 1)
    for (const contended of [false, true]) {
      dieHolding(dict, false, contended)
      dict.reapThread(DEAD)
      expect(Atomics.load(new Int32Array(dict.handle.buffer), H_MUTEX)).toBe(0)
    }
    expect(dict.get('a')?.value).toBe(1)
    expect(dict.stats().recoveries).toBe(0)
    await Promise.resolve()
    expect(recoveries).toEqual([
      { reason: 'reaped', threadId: DEAD, emptied: false },
      { reason: 'reaped', threadId: DEAD, emptied: false },
    ])
  })

  it('deletes the loader locks the dead thread took, whatever their tokens, and wakes their waiters', async () => {
    const { dict, recoveries } = recordingDict(dicts)
    // The worker's locks, with tokens that look like this thread's, or nobody's.
    const id = await lockAndExit(
      [dict.handle],
      [
        ['ns', 'a', `${threadId}:1`],
        ['ns', 'b', 'anything'],
        ['other', 'a', ''],
        ['ns', 'c', `${threadId}:2`],
      ],
    )
    // This thread's own locks, with tokens that look like the dead worker's.
    const mine: [string, string, string][] = [
      ['ns', 'mine', `${id}:1`],
      ['other', 'mine', `${id}:2`],
      ['ns', 'bare', String(id)],
      ['ns', 'own', `${threadId}:3`],
    ]
    for (const [ns, key, token] of mine) expect(dict.tryLock(ns, key, token, 60_000)).toBe('acquired')
    dict.set(`${id}:1`, `${id}:1`)
    dict.writeEntry('ns', 'value', new TextEncoder().encode(`${id}:1`), 0, 0)
    dict.writeEntry('ns', 'a', new TextEncoder().encode('the value under a lock'), 0, 7)
    // Dead but not reaped: its locks are still held.
    for (const [ns, key] of [['ns', 'a'], ['ns', 'b'], ['other', 'a'], ['ns', 'c']] as const) {
      expect(dict.tryLock(ns, key, 'next', 1_000)).toBe('held')
    }
    const waiters = [dict.waitForUnlock('ns', 'a', 30_000), dict.waitForUnlock('other', 'a', 30_000)]
    dict.reapThread(id)
    expect(await settles(Promise.all(waiters))).toBe(true)
    for (const [ns, key] of [['ns', 'a'], ['ns', 'b'], ['other', 'a'], ['ns', 'c']] as const) {
      expect(dict.tryLock(ns, key, 'next', 1_000)).toBe('acquired')
    }
    for (const [ns, key, token] of mine) {
      expect(dict.tryLock(ns, key, 'next', 1_000)).toBe('held')
      expect(dict.unlock(ns, key, token)).toBe(true)
    }
    expect(dict.get(`${id}:1`)?.value).toBe(`${id}:1`)
    expect(dict.readEntry('ns', 'value')).toBeDefined()
    expect(dict.readEntry('ns', 'a')?.flags).toBe(7)
    expect(inspectSharedDict(dict).entries.filter((entry) => entry.pinned).map((entry) => entry.value)).toEqual(
      Array.from({ length: 4 }, () => 'next'),
    )
    expect(recoveries).toEqual([])
  })

  it('is a no-op for a thread that left nothing behind', () => {
    const { dict, recoveries } = recordingDict(dicts)
    dict.set('a', 1)
    dict.reapThread(DEAD)
    expect(dict.get('a')?.value).toBe(1)
    expect(recoveries).toEqual([])
  })

  it('rejects a bad thread id, and the calling thread', () => {
    const { dict } = recordingDict(dicts)
    expect(() => dict.reapThread(-1)).toThrow('threadId must be >= 0')
    expect(() => dict.reapThread(1.5)).toThrow(RangeError)
    expect(() => dict.reapThread('1' as unknown as number)).toThrow(TypeError)
    expect(() => dict.reapThread(threadId)).toThrow('threadId must not be the calling thread')
  })
})

describe('a mutex owner that nobody reaps', () => {
  it('is presumed dead by a thread that waited ownerDeadAfter for the same lock word: it steals and recovers', async () => {
    const { dict, recoveries } = recordingDict(dicts, '16k', 300)
    dict.set('a', 1)
    dieHolding(dict, true)
    // reapThread of another thread does not force this mutex: its lock scan
    // waits like any caller, then steals.
    dict.reapThread(DEAD + 1)
    expect(dict.stats()).toMatchObject({ entries: 0, recoveries: 1 })
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'owner-timeout', threadId: DEAD, emptied: true }])
  })

  it('is not presumed dead while it reports progress (a long walk over every entry)', async () => {
    const { dict, recoveries } = recordingDict(dicts, '16k', 300)
    const done = new Int32Array(new SharedArrayBuffer(4))
    dieHolding(dict, true)
    // Beats for 1.2 s, longer than ownerDeadAfter, then stops as if it died.
    const owner = workers.spawn(PROGRESS, { handle: dict.handle, beats: 12, done })
    try {
      expect(await nextMessage(owner)).toEqual({ beating: true })
      expect(dict.set('a', 1).ok).toBe(true)
      // The mutex was stolen only after the beats stopped.
      expect(Atomics.load(done, 0)).toBe(1)
    } finally {
      await owner.terminate()
    }
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'owner-timeout', threadId: DEAD, emptied: true }])
  })
})

describe('the thread reaper registry', () => {
  it('reaches every SharedDict created or attached in this thread', async () => {
    const { dict } = recordingDict(dicts)
    // Only an attached instance of this one stays referenced.
    const attached = dicts.track(SharedDict.attach(SharedDict.create({ size: '16k' }).handle, { onRecover: () => {} }))
    const id = await lockAndExit([dict.handle, attached.handle], [['ns', 'a', 'token']])
    dieHolding(dict, false)
    reapThread(DEAD)
    expect(Atomics.load(new Int32Array(dict.handle.buffer), H_MUTEX)).toBe(0)
    expect(dict.tryLock('ns', 'a', 'next', 1_000)).toBe('held')
    reapThread(id)
    expect(dict.tryLock('ns', 'a', 'next', 1_000)).toBe('acquired')
    expect(attached.tryLock('ns', 'a', 'next', 1_000)).toBe('acquired')
  })

  it('holds its targets weakly: a collected target is not called', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    let calls = 0
    ;(() => registerReapable({ reapThread: () => calls++ }))()
    // A WeakRef created in this job keeps its target alive until the job
    // ends, and the registry holds a new target until the next turn.
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    reapThread(DEAD)
    expect(calls).toBe(0)
  })

  it('rejects a bad thread id (such as `worker.threadId` read after the exit)', () => {
    expect(() => reapThread(-1)).toThrow('threadId must be >= 0')
    expect(() => reapThread(Number.NaN)).toThrow(TypeError)
  })

  // Last: its throwing targets stay registered while they live.
  it('calls every registered target, even after one throws, then rethrows the first error', () => {
    const calls: string[] = []
    const first = new Error('first')
    const targets = [
      { reapThread: (id: number) => calls.push(`a${id}`) },
      {
        reapThread: () => {
          throw first
        },
      },
      {
        reapThread: () => {
          throw new Error('second')
        },
      },
      { reapThread: (id: number) => calls.push(`b${id}`) },
    ]
    for (const target of targets) registerReapable(target)
    expect(() => reapThread(DEAD)).toThrow(first)
    expect(calls).toEqual([`a${DEAD}`, `b${DEAD}`])
  })
})
