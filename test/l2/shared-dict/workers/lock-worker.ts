/**
 * Worker entry for loader-lock crash tests, with MLCache's token format
 * (`${threadId}:${counter}`) unless told otherwise:
 * - `task: 'hold'`: takes the lock of `ns`/`key` for `lease` ms, posts
 *   `{ locked }` (the tryLock answer) and idles until terminated;
 * - `task: 'wait'`: posts `{ waiting: true }`, waits with `waitForUnlock`
 *   (up to 30 s), then tries the lock once and posts `{ locked }`;
 * - `task: 'take'`: takes every lock of `locks` (`[namespace, key, token]`)
 *   for `lease` ms in every dict of `handles`, posts `{ locked }` (the
 *   answers, dict by dict) and exits, leaving the locks behind.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export type LockWorkerData =
  | { readonly task: 'hold' | 'wait'; readonly handle: SharedDictHandle; readonly lease: number }
  | {
      readonly task: 'take'
      readonly handles: readonly SharedDictHandle[]
      readonly locks: readonly (readonly [string, string, string])[]
      readonly lease: number
    }

const data = workerData as LockWorkerData
if (data.task === 'take') {
  const locked = data.handles.map((handle) => {
    const dict = SharedDict.attach(handle)
    return data.locks.map(([namespace, key, token]) => dict.tryLock(namespace, key, token, data.lease))
  })
  // Nothing keeps the worker alive after this: it exits.
  parentPort!.postMessage({ locked })
} else {
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
}
