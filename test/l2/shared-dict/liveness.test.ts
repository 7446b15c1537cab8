/**
 * Which owner of the dict mutex may be presumed dead. A supervised thread
 * (the main thread, any worker created by a thread that uses a SharedDict)
 * is never taken over on time alone, however long it stays inside a
 * critical section: its creator reaps it when it really exits. Only an
 * owner without a supervisor is presumed dead after `ownerDeadAfter`, and
 * if it was only paused it can corrupt nothing when it resumes.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { lockWordOf } from '../../../src/internal/robust-mutex.js'
import { H_MUTEX } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict, type SharedDictRecovery } from '../../../src/l2/shared-dict/shared-dict.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, settles, useTsWorkers } from '../../helpers/ts-workers.js'
import type { PauseWorkerData } from './workers/pause-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const PAUSE = new URL('./workers/pause-worker.ts', import.meta.url)
const HANG = new URL('./workers/hang-worker.ts', import.meta.url)
const LOCK = new URL('./workers/lock-worker.ts', import.meta.url)
const LARGE = new URL('./workers/large-read-worker.ts', import.meta.url)

interface PauseResult {
  readonly done: unknown
  readonly recoveries: SharedDictRecovery[]
}

function releaseGate(gate: Int32Array): void {
  Atomics.store(gate, 0, 1)
  Atomics.notify(gate, 0)
}

describe('a live supervised owner', () => {
  it('paused inside a mutation far longer than ownerDeadAfter is never taken over: the waiter gets the mutex when it leaves, nothing is emptied', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k', 100)
    dict.set('before', 1)
    const data: PauseWorkerData = { handle: dict.handle, at: 'mutation', busyMs: 1_500, ownerDeadAfter: 100 }
    const owner = workers.spawn(PAUSE, { ...data })
    const id = owner.threadId
    expect(await nextMessage(owner)).toEqual({ inside: true })
    expect(Atomics.load(new Int32Array(dict.handle.buffer), H_MUTEX) & ~1).toBe(lockWordOf(id, true))
    const answer = nextMessage<PauseResult>(owner)
    // Waits for the whole pause, 15 times ownerDeadAfter.
    expect(dict.set('main', 2).ok).toBe(true)
    expect(await answer).toEqual({ done: { ok: true, forcible: false }, recoveries: [] })
    expect(dict.get('before')?.value).toBe(1)
    expect(dict.get('pause-worker')?.value).toBe('value')
    expect(dict.stats().recoveries).toBe(0)
    await Promise.resolve()
    expect(recoveries).toEqual([])
  })

  it('that dies inside a mutation is reaped by the thread that created it as soon as it exits, without any call', async () => {
    // No time-based takeover at all: only the reaping can free the mutex.
    const { dict, recoveries } = recordingDict(dicts, '64k', Number.POSITIVE_INFINITY)
    dict.set('before', 1)
    const victim = workers.spawn(HANG, { handle: dict.handle, at: 'mutation' })
    const id = victim.threadId
    expect(await nextMessage(victim)).toEqual({ inside: true })
    await victim.terminate()
    expect(dict.set('after', 2).ok).toBe(true)
    expect(dict.get('before')).toBeUndefined()
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'reaped', threadId: id, emptied: true }])
  })
})

describe('an owner without a supervisor, only paused', () => {
  it('inside a mutation past ownerDeadAfter is taken over; when it resumes it releases nothing, empties the dict again and runs its call anew', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k', 200)
    dict.set('before', 1)
    const gate = new Int32Array(new SharedArrayBuffer(4))
    const data: PauseWorkerData = { handle: dict.handle, at: 'mutation', gate, ownerDeadAfter: 200 }
    const victim = await workers.spawnUnsupervised(PAUSE, { ...data })
    expect(await nextMessage(victim.relay)).toEqual({ inside: true })
    expect(Atomics.load(new Int32Array(dict.handle.buffer), H_MUTEX) & ~1).toBe(lockWordOf(victim.threadId, false))
    // Presumes it dead after 200 ms, takes the mutex over and empties the half-linked dict.
    expect(dict.set('main', 2).ok).toBe(true)
    expect(dict.get('before')).toBeUndefined()
    expect(dict.set('after', 3).ok).toBe(true)
    const answer = nextMessage<PauseResult>(victim.relay)
    releaseGate(gate)
    expect(await answer).toEqual({
      done: { ok: true, forcible: false },
      recoveries: [{ reason: 'taken-over', threadId: victim.threadId, emptied: true }],
    })
    // Its writes after the takeover were wiped, then its call ran again.
    expect(dict.get('after')).toBeUndefined()
    expect(dict.get('pause-worker')?.value).toBe('value')
    expect(dict.stats().recoveries).toBe(2)
    expect(Atomics.load(new Int32Array(dict.handle.buffer), H_MUTEX)).toBe(0)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'owner-timeout', threadId: victim.threadId, emptied: true }])
  })

  it('inside a read past ownerDeadAfter is taken over; when it resumes it reads again instead of answering what it read across the takeover', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k', 200)
    const gate = new Int32Array(new SharedArrayBuffer(4))
    const data: PauseWorkerData = { handle: dict.handle, at: 'read', gate, ownerDeadAfter: 200 }
    const victim = await workers.spawnUnsupervised(PAUSE, { ...data })
    // It looked for 'k' and found nothing, then paused.
    expect(await nextMessage(victim.relay)).toEqual({ inside: true })
    expect(dict.set('k', 'v', 60_000).ok).toBe(true)
    const answer = nextMessage<PauseResult>(victim.relay)
    releaseGate(gate)
    const { done, recoveries: victimRecoveries } = await answer
    expect(done).toBeGreaterThan(50_000)
    expect(victimRecoveries).toEqual([])
    // A read marks no mutation: the takeover only took the mutex.
    expect(dict.get('k')?.value).toBe('v')
    expect(dict.stats().recoveries).toBe(0)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'owner-timeout', threadId: victim.threadId, emptied: false }])
  })
})

describe('a dict that only its workers refer to', () => {
  it('is still reaped when a worker dies holding a loader lock, after the creating thread dropped it and collected garbage', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // The README's pattern: the creating thread keeps no reference to the
    // dict, only (for the second worker, below) to its memory.
    const { holder, buffer } = (() => {
      const shared = { dict: SharedDict.create({ size: '64k' }).handle }
      return { holder: workers.spawn(LOCK, { handle: shared.dict, task: 'hold', lease: 60_000 }), buffer: shared.dict.buffer }
    })()
    expect(await nextMessage(holder)).toEqual({ locked: 'acquired' })
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    const waiter = workers.spawn(LOCK, { handle: { buffer }, task: 'wait', lease: 60_000 })
    expect(await nextMessage(waiter)).toEqual({ waiting: true })
    const answer = nextMessage(waiter)
    await holder.terminate()
    // Long before the 60 s lease ends.
    expect(await settles(answer)).toBe(true)
    expect(await answer).toEqual({ locked: 'acquired' })
  })
})

describe('a read of a large value', () => {
  it('allocates its copy with the mutex free, so one huge value never keeps the others waiting through an allocation', async () => {
    const dict = dicts.create({ size: '32m' })
    const bytes = new Uint8Array(3 << 20).fill(7)
    bytes[0] = 1
    dict.set('bytes', bytes)
    dict.set('text', 'é'.repeat(2 << 20))
    const reader = workers.spawn(LARGE, { handle: dict.handle })
    const result = await nextMessage<{ words: number[]; bytes: number[]; textLength: number; text: string }>(reader)
    expect(result.bytes).toEqual([3 << 20, 1, 7])
    expect(result.textLength).toBe(2 << 20)
    expect(result.text).toBe('ééé')
    expect(result.words.length).toBeGreaterThanOrEqual(2)
    expect(result.words.every((word) => word === 0)).toBe(true)
  })
})
