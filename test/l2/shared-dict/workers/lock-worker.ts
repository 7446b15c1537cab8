/**
 * Worker entry for loader-lock crash tests, with MLCache's token format
 * (`${threadId}:${counter}`):
 * - `task: 'hold'`: takes the lock of `ns`/`key` for `lease` ms, posts
 *   `{ locked }` (the tryLock answer) and idles until terminated;
 * - `task: 'wait'`: posts `{ waiting: true }`, waits with `waitForUnlock`
 *   (up to 30 s), then tries the lock once and posts `{ locked }`.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export interface LockWorkerData {
  readonly handle: SharedDictHandle
  readonly task: 'hold' | 'wait'
  readonly lease: number
}

const data = workerData as LockWorkerData
const dict = SharedDict.attach(data.handle)
const token = `${threadId}:1`
if (data.task === 'hold') {
  parentPort!.postMessage({ locked: dict.tryLock('ns', 'key', token, data.lease) })
  // Stay alive (and keep the lock) until terminated.
  setInterval(() => {}, 60_000)
} else {
  parentPort!.postMessage({ waiting: true })
  await dict.waitForUnlock('ns', 'key', 30_000)
  parentPort!.postMessage({ locked: dict.tryLock('ns', 'key', token, data.lease) })
}
