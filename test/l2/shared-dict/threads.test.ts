import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

const MODULE = new URL('../../../src/l2/shared-dict/shared-dict.ts', import.meta.url).href

/**
 * A worker (CommonJS, evaluated) that loads the TypeScript source through
 * tsx, attaches to the dict and runs `ops` mixed operations: an `incr` of a
 * shared counter each time, plus sets, gets, deletes and lock round trips on
 * a few shared keys, so that the threads contend for the mutex.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
;(async () => {
  const { tsImport } = await import('tsx/esm/api')
  const { SharedDict } = await tsImport(workerData.module, workerData.module)
  const dict = SharedDict.attach(workerData.handle)
  let acquired = 0
  for (let i = 0; i < workerData.ops; i++) {
    dict.incr('counter', 1, 0)
    const key = 'key' + (i % 17)
    switch (i % 5) {
      case 0: dict.set(key, 'x'.repeat((i * 7) % 300), i % 3 === 0 ? 5 : 0); break
      case 1: dict.get(key); break
      case 2: dict.delete(key); break
      case 3: dict.incr('n' + (i % 3), 1, 0); break
      default:
        if (dict.tryLock('ns', 'lock', 'w' + workerData.id, 60000) === 'acquired') {
          acquired++
          if (!dict.unlock('ns', 'lock', 'w' + workerData.id)) throw new Error('lost a lock')
        }
    }
  }
  parentPort.postMessage({ acquired })
})().catch((error) => parentPort.postMessage({ error: String(error && error.stack) }))
`

describe('threads', () => {
  it('N workers x M incr() give N*M, with mixed operations contending for the mutex', async () => {
    const dict = dicts.create({ size: '64k' })
    const workerCount = 4
    const ops = 5_000
    const workers = Array.from(
      { length: workerCount },
      (_, id) => new Worker(WORKER, { eval: true, workerData: { handle: dict.handle, ops, id, module: MODULE } }),
    )
    try {
      const results = await Promise.all(
        workers.map(
          (worker) =>
            new Promise<{ acquired?: number; error?: string }>((resolve, reject) => {
              worker.once('message', resolve)
              worker.once('error', reject)
            }),
        ),
      )
      for (const result of results) expect(result.error).toBeUndefined()
      expect(dict.get('counter')?.value).toBe(workerCount * ops)
      expect(results.reduce((sum, result) => sum + (result.acquired ?? 0), 0)).toBeGreaterThan(0)
      expect(dict.tryLock('ns', 'lock', 'main', 1_000)).toBe('acquired')
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()))
    }
  })
})
