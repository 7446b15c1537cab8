/**
 * Replays a trace through real MLCache instances, in this thread or spread
 * over worker threads sharing one SharedDict.
 */
import { Worker } from 'node:worker_threads'
import { SharedDict } from '../l2/shared-dict/shared-dict.js'
import { NoL2Store } from './no-l2.js'
import { type ReplayCounts, countsOf, replayCache, replayKeys, zeroCounts } from './replay-core.js'
import type { ReplayWorkerData, ReplayWorkerMessage } from './replay-worker.js'

export type { ReplayCounts } from './replay-core.js'

/** How to replay a trace. */
export interface ReplayOptions {
  /** L1 entries of each MLCache (its `lruSize`): one per thread. */
  l1: number
  /** Bytes of the one SharedDict every thread shares; `0` replays L1 only, with no L2 at all. */
  l2: number | string
  /** Threads to spread the requests over round-robin; `1` (the default) replays in this thread. */
  workers?: number
}

/** Keys per message to a worker: big enough that messaging costs little next to the replay. */
const BATCH = 8192

/** Sources run through tsx (tests, `npx tsx`) boot the worker through `ts-worker.mjs`; the build starts its `.js`. */
const FROM_SOURCES = import.meta.url.endsWith('.ts')
const WORKER_ENTRY = new URL(FROM_SOURCES ? './replay-worker.ts' : './replay-worker.js', import.meta.url)

function startWorker(data: ReplayWorkerData): Worker {
  if (!FROM_SOURCES) return new Worker(WORKER_ENTRY, { workerData: data })
  return new Worker(new URL('../internal/ts-worker.mjs', import.meta.url), { workerData: { ...data, entry: WORKER_ENTRY.href } })
}

/** The counts a worker answers once it has replayed every batch; rejects if it fails or exits first. */
function answerOf(worker: Worker): Promise<ReplayCounts> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', (code) => reject(new Error(`a replay worker exited with code ${code} before answering`)))
  })
}

async function replayInWorkers(keys: readonly string[], lruSize: number, dict: SharedDict | undefined, count: number): Promise<ReplayCounts> {
  const workers = Array.from({ length: count }, () => startWorker({ lruSize, dict: dict?.handle }))
  try {
    const answers = workers.map(answerOf)
    // Request i goes to worker i mod n; each worker gets its share in order, in batches.
    const batches: string[][] = workers.map(() => [])
    keys.forEach((key, index) => {
      const target = index % count
      const batch = batches[target]!
      batch.push(key)
      if (batch.length === BATCH) {
        workers[target]!.postMessage(batch satisfies ReplayWorkerMessage)
        batches[target] = []
      }
    })
    workers.forEach((worker, index) => {
      worker.postMessage(batches[index]! satisfies ReplayWorkerMessage)
      worker.postMessage(null satisfies ReplayWorkerMessage)
    })
    const total = zeroCounts()
    for (const counts of await Promise.all(answers)) {
      total.l1 += counts.l1
      total.l2 += counts.l2
      total.loader += counts.loader
    }
    return total
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
}

/**
 * Replays `keys` through fresh MLCache instances (`get(key, loader)` per
 * request) and answers where the requests were served from, by the
 * caches' `stats()`.
 * @throws {RangeError} a bad `l1`, `l2` or `workers` (rejects)
 */
export async function replay(keys: readonly string[], options: ReplayOptions): Promise<ReplayCounts> {
  const workers = options.workers ?? 1
  if (!Number.isInteger(options.l1) || options.l1 < 1) throw new RangeError('l1 must be an integer >= 1')
  if (!Number.isInteger(workers) || workers < 1) throw new RangeError('workers must be an integer >= 1')
  const dict = options.l2 === 0 || options.l2 === '0' ? undefined : SharedDict.create({ size: options.l2 })
  if (workers > 1) return replayInWorkers(keys, options.l1, dict, workers)
  const cache = replayCache(dict ?? new NoL2Store(), options.l1)
  try {
    await replayKeys(cache, keys)
    return countsOf(cache)
  } finally {
    await cache.close()
  }
}
