/**
 * MLCache across real worker_threads sharing one SharedDict.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { SharedDict, WorkerBus, type WorkerBusOptions } from '../../src/index.js'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { ScriptedWorker } from '../helpers/workers.js'

const ENTRY = new URL('./workers/cache-worker.ts', import.meta.url)

async function startWorkers(count: number, data: Record<string, unknown>): Promise<ScriptedWorker[]> {
  return Promise.all(Array.from({ length: count }, () => ScriptedWorker.start(ENTRY, data)))
}

describe('MLCache across worker_threads', () => {
  it('get() of one cold key by 4 workers x 1000 callers runs the loader once in total: one hitLevel 3, the rest 1 or 2', async () => {
    const dict = SharedDict.create({ size: '4m' })
    const startFlag = new SharedArrayBuffer(4)
    const workers = await startWorkers(4, { dictHandle: dict.handle, name: 'stampede', startFlag })
    const runs = workers.map((w) => w.call<{ levels: Record<string, number>; values: number }>('stampede', { key: 'cold', callers: 1_000, loaderMs: 50 }))
    const flag = new Int32Array(startFlag)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    const results = await Promise.all(runs)
    expect(dict.get('loader-calls')?.value).toBe(1)
    const total: Record<string, number> = {}
    for (const { levels, values } of results) {
      expect(values).toBe(1) // every caller of a worker saw the same value
      for (const [level, count] of Object.entries(levels)) total[level] = (total[level] ?? 0) + count
    }
    expect(total['3']).toBe(1)
    expect((total['2'] ?? 0) + (total['1'] ?? 0)).toBe(3_999)
    expect(Object.keys(total).every((level) => ['1', '2', '3'].includes(level))).toBe(true)
    checkSharedDictInvariants(dict)
  })
})

describe('MLCache across worker_threads on a WorkerBus', () => {
  async function setup(count: number, busOptions: WorkerBusOptions = {}) {
    const dict = SharedDict.create({ size: '4m' })
    const bus = WorkerBus.create(busOptions)
    onTestFinished(() => bus.close())
    const workers = await startWorkers(count, { dictHandle: dict.handle, busHandle: bus.handle, name: 'users' })
    return { dict, bus, workers }
  }

  it('set(), delete() and purge() in worker A are never served from the L1 of worker B after B.update()', async () => {
    const { workers } = await setup(2)
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    for (const step of ['set', 'delete', 'purge'] as const) {
      await b.call('get', { key: 'k', value: 'old' })
      expect(await b.call('peekL1', { key: 'k' })).toMatchObject({ value: 'old', hitLevel: 1 })
      if (step === 'set') await a.call('set', { key: 'k', value: 'new' })
      else await a.call(step, { key: 'k' })
      await b.call('update')
      const seen = await b.call<{ value: unknown; hitLevel: number }>('peekL1', { key: 'k' })
      expect(seen.value).not.toBe('old')
      expect(seen.hitLevel).not.toBe(1)
      await a.call('delete', { key: 'k' })
      await b.call('update')
    }
  })

  it('a worker whose bus queue overflowed while it stalled clears its L1 on resume', async () => {
    const { workers } = await setup(2, { maxQueueLen: 64 })
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    await b.call('get', { key: 'kept', value: 'cached' })
    expect(await b.call('peekL1', { key: 'kept' })).toMatchObject({ hitLevel: 1 })
    const stalled = b.call('stall', { ms: 1_500 })
    // Far more invalidations than the ring holds, none of them for 'kept'.
    for (let i = 0; i < 500; i++) await a.call('delete', { key: `other-${i}` })
    await stalled
    await b.call('update')
    // 'kept' was never invalidated, but B cannot know what it missed: its L1 was cleared.
    expect(await b.call('peekL1', { key: 'kept' })).toMatchObject({ value: 'cached', hitLevel: 2 })
  })

  it('get() proceeds at once when the worker holding the loader lock is terminated', async () => {
    const { dict, workers } = await setup(2)
    const [holder, waiter] = workers as [ScriptedWorker, ScriptedWorker]
    expect(await holder.call('holdLock', { key: 'k' })).toBe('acquired')
    const waiting = waiter.call<{ value: unknown; hitLevel: number }>('get', { key: 'k', value: 'loaded' })
    await holder.terminate()
    // The lease is 60 s and the test times out long before: only reaping frees it.
    expect(await waiting).toMatchObject({ value: 'loaded', hitLevel: 3 })
    checkSharedDictInvariants(dict)
  })
})
