/**
 * Worker entry: attaches to `workerData.handle` and posts what happened:
 * `{ value }` (the value of `key`, after setting `from-worker` to
 * `threadId` and `copy-id` to the dict's `copyId` as this thread reads it) or `{ error: { name, message } }` when `attach` threw.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

const { handle } = workerData as { handle: SharedDictHandle }
try {
  const dict = SharedDict.attach(handle)
  dict.set('from-worker', threadId)
  dict.set('copy-id', dict.copyId)
  parentPort!.postMessage({ value: dict.get('key')?.value })
} catch (error) {
  const { name, message } = error as Error
  parentPort!.postMessage({ error: { name, message } })
}
