/**
 * Workers that die at any instant (`worker.terminate()` skips `finally`
 * blocks) never leave the dict unusable: the contract's crash clause (the
 * other threads carry on within a bounded time, and the dict stays
 * consistent, possibly emptied). Every test ends with the structural
 * invariants.
 */
import type { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { lockWordOf } from '../../../src/internal/robust-mutex.js'
import { reapThread } from '../../../src/internal/thread-reaper.js'
import { inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { H_MUTATING, H_MUTEX, H_SEQ } from '../../../src/l2/shared-dict/layout.js'
import type { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { recordingDict } from '../../helpers/recording-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, settles, sleep, useTsWorkers } from '../../helpers/ts-workers.js'
import type { MixedWorkerResult } from './workers/mixed-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const HANG = new URL('./workers/hang-worker.ts', import.meta.url)
const MIXED = new URL('./workers/mixed-worker.ts', import.meta.url)
const LOCK = new URL('./workers/lock-worker.ts', import.meta.url)

/** `ownerDeadAfter` of every thread in the tests of unsupervised deaths, ms. */
const OWNER_DEAD_AFTER = 300

/**
 * Starts a worker that nothing supervises (see `spawnUnsupervised`) and
 * that stops forever inside a critical section of `dict` (the failpoint of
 * hang-worker.ts), checks that it holds the mutex there, terminates it and
 * answers its thread id. Nobody reaps it unless the test does.
 */
async function dieInside(dict: SharedDict, at: 'mutation' | 'read'): Promise<number> {
  const victim = await workers.spawnUnsupervised(HANG, { handle: dict.handle, at })
  const id = victim.threadId
  try {
    expect(await nextMessage(victim.relay)).toEqual({ inside: true })
    const words = new Int32Array(dict.handle.buffer)
    expect(Atomics.load(words, H_MUTEX) & ~1).toBe(lockWordOf(id, false))
    expect(Atomics.load(words, H_MUTATING)).toBe(at === 'mutation' ? lockWordOf(id, false) : 0)
  } finally {
    await victim.terminate()
  }
  return id
}

/** Starts `count` mixed-operation workers that run until `stop[0]` is set, and waits until each has started working. */
async function startSurvivors(dict: SharedDict, stop: Int32Array, count: number): Promise<Worker[]> {
  const data = { handle: dict.handle, ops: 0, stop, readyAfter: 100, ownerDeadAfter: OWNER_DEAD_AFTER }
  const started = Array.from({ length: count }, () => workers.spawn(MIXED, data))
  await Promise.all(started.map((worker) => nextMessage(worker)))
  return started
}

/** Stops the survivors and answers what they report; every one of them must have finished. */
async function stopSurvivors(survivors: Worker[], stop: Int32Array): Promise<MixedWorkerResult[]> {
  const results = Promise.all(survivors.map((worker) => nextMessage<MixedWorkerResult>(worker)))
  Atomics.store(stop, 0, 1)
  expect(await settles(results)).toBe(true)
  return results
}

describe('a worker that dies holding the dict mutex', () => {
  it('mid-mutation: reapThread() takes the mutex back at once and empties the half-linked dict', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k')
    dict.set('before', 1)
    const id = await dieInside(dict, 'mutation')
    // The failpoint stopped `set` between the bucket link and the LRU link.
    expect(inspectSharedDict(dict).entries.map((entry) => entry.key)).toContain('hang-worker')
    expect(inspectSharedDict(dict).lru).not.toContain('hang-worker')
    // It died with the sequence word odd; the emptying leaves it even, so reads without the mutex resume.
    const words = new Int32Array(dict.handle.buffer)
    expect(Atomics.load(words, H_SEQ) & 1).toBe(1)
    reapThread(id)
    expect(Atomics.load(words, H_SEQ) & 1).toBe(0)
    expect(dict.stats()).toMatchObject({ entries: 0, recoveries: 1 })
    expect(dict.get('before')).toBeUndefined()
    expect(dict.set('after', 2).ok).toBe(true)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'reaped', threadId: id, emptied: true }])
  })

  it('in a read: reapThread() only releases the mutex, and the entries stay', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k')
    dict.set('before', 1)
    const id = await dieInside(dict, 'read')
    reapThread(id)
    expect(dict.get('before')?.value).toBe(1)
    expect(dict.stats().recoveries).toBe(0)
    await Promise.resolve()
    expect(recoveries).toEqual([{ reason: 'reaped', threadId: id, emptied: false }])
  })

  it('unreaped: the waiting threads (workers and the main thread) presume it dead and carry on', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k', OWNER_DEAD_AFTER)
    const stop = new Int32Array(new SharedArrayBuffer(4))
    const survivors = await startSurvivors(dict, stop, 2)
    const id = await dieInside(dict, 'mutation')
    // Blocks until some thread has waited OWNER_DEAD_AFTER and stolen the mutex.
    expect(dict.set('main', 1).ok).toBe(true)
    const results = await stopSurvivors(survivors, stop)
    await Promise.resolve()
    const all = [...recoveries, ...results.flatMap((result) => result.recoveries)]
    expect(all).toEqual([{ reason: 'owner-timeout', threadId: id, emptied: true }])
    expect(dict.stats().recoveries).toBe(1)
    for (const result of results) expect(result.ops).toBeGreaterThan(100)
  })

  it('killed at random moments of a hot write loop, supervised or not: the others carry on, every emptying counted', async () => {
    const { dict, recoveries } = recordingDict(dicts, '64k', OWNER_DEAD_AFTER)
    const stop = new Int32Array(new SharedArrayBuffer(4))
    const never = new Int32Array(new SharedArrayBuffer(4))
    // Victims load ahead of time, all at once, and start their loop one at a
    // time; every other one has no supervisor, so nobody reaps it.
    const victims = await Promise.all(
      Array.from({ length: 6 }, async (_, index) => {
        const start = new Int32Array(new SharedArrayBuffer(4))
        const data = { handle: dict.handle, ops: 0, stop: never, start, readyAfter: 200, ownerDeadAfter: OWNER_DEAD_AFTER }
        if (index % 2 === 0) {
          const worker = workers.spawn(MIXED, data)
          return { messages: worker, id: worker.threadId, start, terminate: () => worker.terminate() }
        }
        const victim = await workers.spawnUnsupervised(MIXED, data)
        return { messages: victim.relay, id: victim.threadId, start, terminate: () => victim.terminate() }
      }),
    )
    const survivors = await startSurvivors(dict, stop, 2)
    for (const victim of victims) {
      const ready = nextMessage(victim.messages)
      Atomics.store(victim.start, 0, 1)
      Atomics.notify(victim.start, 0)
      await ready
      await sleep(Math.random() * 20)
      await victim.terminate()
      // The main thread carries on too (after OWNER_DEAD_AFTER when an unsupervised victim held the mutex).
      expect(dict.incr('main', 1, 0).err).toBeUndefined()
    }
    const results = await stopSurvivors(survivors, stop)
    await Promise.resolve()
    const all = [...recoveries, ...results.flatMap((result) => result.recoveries)]
    for (const recovery of all) {
      expect(victims.map((victim) => victim.id)).toContain(recovery.threadId)
      expect(['reaped', 'owner-timeout']).toContain(recovery.reason)
    }
    expect(all.filter((recovery) => recovery.emptied)).toHaveLength(dict.stats().recoveries)
    for (const result of results) expect(result.ops).toBeGreaterThan(100)
  })
})

describe('a worker that dies holding a loader lock', () => {
  it('reapThread() deletes its lock at once: a pending waitForUnlock() resolves and another thread acquires', async () => {
    const dict = dicts.create({ size: '16k' })
    // Unsupervised, so that the test plays its supervisor.
    const holder = await workers.spawnUnsupervised(LOCK, { handle: dict.handle, task: 'hold', lease: 60_000 })
    expect(await nextMessage(holder.relay)).toEqual({ locked: 'acquired' })
    const waiter = workers.spawn(LOCK, { handle: dict.handle, task: 'wait', lease: 60_000 })
    expect(await nextMessage(waiter)).toEqual({ waiting: true })
    const answer = nextMessage(waiter)
    const mainWaiting = dict.waitForUnlock('ns', 'key', 30_000)
    await holder.terminate()
    expect(dict.tryLock('ns', 'key', 'main', 60_000)).toBe('held')
    reapThread(holder.threadId)
    expect(await settles(mainWaiting)).toBe(true)
    expect(await answer).toEqual({ locked: 'acquired' })
    expect(dict.tryLock('ns', 'key', 'main', 60_000)).toBe('held')
    await waiter.terminate()
  })

  it('unsupervised, its lock becomes acquirable when the lease ends', async () => {
    const dict = dicts.create({ size: '16k' })
    const holder = await workers.spawnUnsupervised(LOCK, { handle: dict.handle, task: 'hold', lease: 1_500 })
    expect(await nextMessage(holder.relay)).toEqual({ locked: 'acquired' })
    await holder.terminate()
    expect(dict.tryLock('ns', 'key', 'main', 60_000)).toBe('held')
    const takeOver = async (): Promise<void> => {
      while (dict.tryLock('ns', 'key', 'main', 60_000) !== 'acquired') await dict.waitForUnlock('ns', 'key', 60_000)
    }
    expect(await settles(takeOver())).toBe(true)
  })
})
