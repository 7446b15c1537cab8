/**
 * A replay worker: replays the key batches the main thread posts through its
 * own MLCache (its own L1, the shared SharedDict or no L2), then answers its
 * counts when told the trace is done.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { SharedDict } from '../l2/shared-dict/shared-dict.js'
import type { SharedDictHandle } from '../l2/shared-dict/types.js'
import { NoL2Store } from './no-l2.js'
import { countsOf, replayCache, replayKeys } from './replay-core.js'

/** What the main thread passes as `workerData`. */
export interface ReplayWorkerData {
  /** L1 entries of this worker. */
  lruSize: number
  /** The shared L2, or `undefined` for an L1-only replay. */
  dict: SharedDictHandle | undefined
}

/** A message to a replay worker: a batch of keys, or `null` for "the trace is done". */
export type ReplayWorkerMessage = readonly string[] | null

const data = workerData as ReplayWorkerData
const port = parentPort
if (port === null) throw new Error('replay-worker.ts must run in a worker thread')
const cache = replayCache(data.dict === undefined ? new NoL2Store() : SharedDict.attach(data.dict), data.lruSize)
// Batches arrive faster than they replay: chain them so they run in order, one at a time.
let queue = Promise.resolve()
port.on('message', (message: ReplayWorkerMessage) => {
  queue = queue
    .then(async () => {
      if (message !== null) return replayKeys(cache, message)
      const counts = countsOf(cache)
      await cache.close()
      port.postMessage(counts)
      port.close()
    })
    // Rethrown outside the chain: an uncaught error fails the worker, and the main thread's replay with it.
    .catch((error: unknown) => process.nextTick(() => {
      throw error
    }))
})
