/**
 * MLCache across real worker_threads sharing one SharedDict.
 */
import { describe, expect, it } from 'vitest'
import { SharedDict } from '../../src/index.js'
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
