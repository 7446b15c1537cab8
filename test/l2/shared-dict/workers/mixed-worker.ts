/**
 * Worker entry: attaches to a dict and runs mixed operations that contend
 * for its mutex, an `incr` of a shared counter each time plus sets, gets,
 * deletes, counters and loader-lock round trips on a few shared keys. Runs
 * `ops` iterations, or until `stop[0]` becomes non-zero when `ops` is 0;
 * with `start`, only once `start[0]` is non-zero (so that tests can load
 * workers ahead of time). Posts `{ ready: true }` after `readyAfter`
 * iterations if asked, then its {@link MixedWorkerResult} at the end.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { SharedDict, type SharedDictHandle, type SharedDictRecovery } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export interface MixedWorkerData {
  readonly handle: SharedDictHandle
  /** Iterations, or 0 to run until `stop[0] !== 0`. */
  readonly ops: number
  readonly stop?: Int32Array
  /** Wait until `start[0]` is non-zero before the first operation. */
  readonly start?: Int32Array
  /** Post `{ ready: true }` once this many iterations are done. */
  readonly readyAfter?: number
  /** The `ownerDeadAfter` of this thread's instance (default: never presume an owner dead). */
  readonly ownerDeadAfter?: number
}

/** What the worker posts when it is done. */
export interface MixedWorkerResult {
  /** Iterations run. */
  readonly ops: number
  /** Loader locks taken. */
  readonly acquired: number
  /** Loader locks found gone at unlock (a recovery emptied the dict in between). */
  readonly lost: number
  /** The recoveries this thread performed. */
  readonly recoveries: SharedDictRecovery[]
}

const data = workerData as MixedWorkerData
const recoveries: SharedDictRecovery[] = []
const dict = SharedDict.attach(data.handle, { ownerDeadAfter: data.ownerDeadAfter ?? Number.POSITIVE_INFINITY, onRecover: (recovery) => recoveries.push(recovery) })
if (data.start !== undefined) while (Atomics.load(data.start, 0) === 0) Atomics.wait(data.start, 0, 0)
let acquired = 0
let lost = 0
let i = 0
for (; data.ops === 0 ? Atomics.load(data.stop!, 0) === 0 : i < data.ops; i++) {
  if (i === data.readyAfter) parentPort!.postMessage({ ready: true })
  dict.incr('counter', 1, 0)
  const key = `key${i % 17}`
  switch (i % 5) {
    case 0:
      dict.set(key, 'x'.repeat((i * 7) % 300), i % 3 === 0 ? 5 : 0)
      break
    case 1:
      dict.get(key)
      break
    case 2:
      dict.delete(key)
      break
    case 3:
      dict.incr(`n${i % 3}`, 1, 0)
      break
    default: {
      // MLCache's token format, so that reapThread finds the locks of a dead worker.
      const token = `${threadId}:${i}`
      if (dict.tryLock('ns', `lock${i % 2}`, token, 60_000) === 'acquired') {
        acquired++
        if (!dict.unlock('ns', `lock${i % 2}`, token)) lost++
      }
    }
  }
}
// Let the microtasks that report recoveries run before answering.
await Promise.resolve()
parentPort!.postMessage({ ops: i, acquired, lost, recoveries } satisfies MixedWorkerResult)
