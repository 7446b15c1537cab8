/**
 * MLCache across real worker_threads sharing one SharedDict. Each worker's L1
 * is an lru-cache it inspects directly (`peekL1`), so assertions about L1
 * never go through L2. No outcome depends on timing: loads and stalls end
 * on signals from the test or the other workers.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SharedDict, WorkerBus, type WorkerBusOptions } from '../../src/index.js'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { StallSignal } from '../helpers/stall-signal.js'
import { ScriptedWorker } from '../helpers/workers.js'
import type { L1Content } from './workers/cache-worker.js'

const ENTRY = new URL('./workers/cache-worker.ts', import.meta.url)

async function startWorkers(count: number, data: Record<string, unknown>): Promise<ScriptedWorker[]> {
  return Promise.all(Array.from({ length: count }, () => ScriptedWorker.start(ENTRY, data)))
}

describe('MLCache across worker_threads', () => {
  it('get() of one cold key by 4 workers x 1000 callers runs the loader once in total: one hitLevel 3, the rest 1 or 2', async () => {
    const dict = SharedDict.create({ size: '4m' })
    const startFlag = new SharedArrayBuffer(4)
    const workers = await startWorkers(4, { dictHandle: dict.handle, name: 'stampede', startFlag })
    // The load is held until all 4 workers have started their 1,000 callers: every caller misses.
    const runs = workers.map((w) => w.call<{ levels: Record<string, number>; values: number }>('stampede', { key: 'cold', callers: 1_000, parties: 4 }))
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
  async function setup(count: number, busOptions: WorkerBusOptions = {}, data: Record<string, unknown> = {}) {
    const dict = SharedDict.create({ size: '4m' })
    const bus = WorkerBus.create(busOptions)
    onTestFinished(() => bus.close())
    const workers = await startWorkers(count, { dictHandle: dict.handle, busHandle: bus.handle, name: 'users', ...data })
    return { dict, bus, workers }
  }

  const inL1 = (value: unknown): L1Content => ({ present: true, value })
  const notInL1: L1Content = { present: false, value: undefined }

  it('get() of a stale key by 4 workers x 1000 callers inside staleWhileRevalidate answers them all at once and makes exactly one background reload', async () => {
    const startFlag = new SharedArrayBuffer(4)
    const { dict, workers } = await setup(4, {}, { startFlag })
    const [first] = workers as [ScriptedWorker]
    // A value that expires 1 ms after it is written (on real time): stale by the time the workers read it.
    await first.call('set', { key: 'hot', value: 'v1', ttl: 1 })
    await new Promise((resolve) => setTimeout(resolve, 5))
    const runs = workers.map((w) => w.call<{ levels: Record<string, number>; values: string[]; backgroundReloads: number }>('revalidate', { key: 'hot', value: 'v2', callers: 1_000, parties: 4 }))
    const flag = new Int32Array(startFlag)
    Atomics.store(flag, 0, 1)
    Atomics.notify(flag, 0)
    const results = await Promise.all(runs)
    expect(dict.get('loader-calls')?.value).toBe(1)
    expect(results.reduce((sum, result) => sum + result.backgroundReloads, 0)).toBe(1)
    for (const { levels, values } of results) {
      expect(levels).toEqual({ 4: 1_000 })
      expect(values).toEqual(['"v1"'])
    }
    // The reload's value replaced the stale one in L2, and every worker serves it.
    for (const worker of workers) expect(await worker.call('lookup', { key: 'hot' })).toEqual({ value: 'v2', hitLevel: 2, stale: false })
    checkSharedDictInvariants(dict)
  })

  it('set(), delete() and purge() in worker A are never served from the L1 of worker B after B.update()', async () => {
    const { workers } = await setup(2)
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    for (const step of ['set', 'delete', 'purge'] as const) {
      expect(await b.call('get', { key: 'k', value: 'old' })).toEqual({ value: 'old', hitLevel: 3, stale: false })
      expect(await b.call('peekL1', { key: 'k' })).toEqual(inL1('old'))
      if (step === 'set') await a.call('set', { key: 'k', value: 'new' })
      else await a.call(step, { key: 'k' })
      await b.call('update')
      expect(await b.call('peekL1', { key: 'k' }), step).toEqual(notInL1)
      // B now reads what A left in L2.
      const afterStep = step === 'set' ? { value: 'new', hitLevel: 2, stale: false } : { value: undefined, hitLevel: -1, stale: false }
      expect(await b.call('lookup', { key: 'k' }), step).toEqual(afterStep)
      await a.call('delete', { key: 'k' })
      await b.call('update')
    }
  })

  it('a worker whose bus queue overflowed while it stalled clears its L1 on resume', async () => {
    const signal = new StallSignal()
    const { workers } = await setup(2, { maxQueueLen: 64 }, { stall: signal.buffer })
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    await b.call('get', { key: 'kept', value: 'cached' })
    // Invalidations of other keys, read in time, leave 'kept' in B's L1.
    for (let i = 0; i < 10; i++) await a.call('delete', { key: `before-${i}` })
    await b.call('update')
    expect(await b.call('peekL1', { key: 'kept' })).toEqual(inL1('cached'))
    const stalled = b.call('stall')
    await signal.stalled(stalled)
    // While B is blocked: far more invalidations than the ring holds, none of them for 'kept'.
    for (let i = 0; i < 500; i++) await a.call('delete', { key: `other-${i}` })
    signal.release()
    await stalled
    await b.call('update')
    // 'kept' was never invalidated, but B cannot know what it missed: its L1 was cleared,
    // while L2 still holds the value.
    expect(await b.call('peekL1', { key: 'kept' })).toEqual(notInL1)
    expect(await b.call('lookup', { key: 'kept' })).toEqual({ value: 'cached', hitLevel: 2, stale: false })
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

  it("get() proceeds at once when the lock holder is terminated, with the README's pattern: no bus, only the dict's handle kept, after a GC", async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    // As the README's snippet: the main thread keeps nothing but what it sends.
    const started = (() => {
      const shared = { dictHandle: SharedDict.create({ size: '4m' }).handle, name: 'users' }
      return startWorkers(2, shared)
    })()
    const [holder, waiter] = (await started) as [ScriptedWorker, ScriptedWorker]
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    expect(await holder.call('holdLock', { key: 'k' })).toBe('acquired')
    const waiting = waiter.call<{ value: unknown; hitLevel: number }>('get', { key: 'k', value: 'loaded' })
    await holder.terminate()
    expect(await waiting).toMatchObject({ value: 'loaded', hitLevel: 3 })
  })
})
