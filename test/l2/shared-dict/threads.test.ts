import { describe, expect, it } from 'vitest'
import { H_VERSION } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, useTsWorkers } from '../../helpers/ts-workers.js'
import type { MixedWorkerResult } from './workers/mixed-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const MIXED = new URL('./workers/mixed-worker.ts', import.meta.url)
const ATTACH = new URL('./workers/attach-worker.ts', import.meta.url)

describe('threads', () => {
  it('N workers x M incr() give N*M, with sets, gets, deletes and locks contending for the mutex', async () => {
    const dict = dicts.create({ size: '64k' })
    const workerCount = 4
    const ops = 5_000
    const started = Array.from({ length: workerCount }, () => workers.spawn(MIXED, { handle: dict.handle, ops }))
    try {
      const results = await Promise.all(started.map((worker) => nextMessage<MixedWorkerResult>(worker)))
      expect(dict.get('counter')?.value).toBe(workerCount * ops)
      expect(results.reduce((sum, result) => sum + result.acquired, 0)).toBeGreaterThan(0)
      expect(results.map((result) => [result.lost, result.recoveries.length])).toEqual(results.map(() => [0, 0]))
      expect(dict.stats().recoveries).toBe(0)
      expect(dict.tryLock('ns', 'lock0', 'main', 1_000)).toBe('acquired')
    } finally {
      await Promise.all(started.map((worker) => worker.terminate()))
    }
  })

  it('attach() in a worker shares the memory of the dict created in the main thread', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('key', 'from main')
    const worker = workers.spawn(ATTACH, { handle: dict.handle })
    try {
      expect(await nextMessage(worker)).toEqual({ value: 'from main' })
      expect(dict.get('from-worker')?.value).toBe(worker.threadId)
    } finally {
      await worker.terminate()
    }
  })

  it('attach() in a worker throws a TypeError for a bad handle or another layout version', async () => {
    const dict = SharedDict.create({ size: '16k' })
    const otherVersion = new SharedArrayBuffer(dict.capacity())
    new Uint8Array(otherVersion).set(new Uint8Array(dict.handle.buffer))
    new Int32Array(otherVersion)[H_VERSION] = 99
    const cases = [
      [{ buffer: otherVersion }, 'SharedDict layout version 99, expected 5'],
      [{ buffer: new SharedArrayBuffer(16_384) }, 'handle is not a SharedDict handle'],
      [{ buffer: new ArrayBuffer(16_384) }, 'handle is not a SharedDict handle'],
      [{}, 'handle is not a SharedDict handle'],
    ] as const
    const started = cases.map(([handle]) => workers.spawn(ATTACH, { handle }))
    try {
      const answers = await Promise.all(started.map((worker) => nextMessage(worker)))
      expect(answers).toEqual(cases.map(([, message]) => ({ error: { name: 'TypeError', message } })))
    } finally {
      await Promise.all(started.map((worker) => worker.terminate()))
    }
  })
})
