/**
 * Worker entry for record tests, on the dict of `handle`:
 * - `task: 'write'`: writes every record of `records` (`[namespace, key,
 *   value]`), takes the loader lock `ns`/`lock` (60 s lease), posts
 *   `{ written, locked }` (the answers) and idles until terminated;
 * - `task: 'read'`: posts `{ read }`, the `readRecord` answer of every
 *   `[namespace, key]` of `keys`, and exits.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export type RecordWorkerData =
  | { readonly task: 'write'; readonly handle: SharedDictHandle; readonly records: readonly (readonly [string, string, string])[] }
  | { readonly task: 'read'; readonly handle: SharedDictHandle; readonly keys: readonly (readonly [string, string])[] }

const data = workerData as RecordWorkerData
const dict = SharedDict.attach(data.handle)
if (data.task === 'write') {
  const written = data.records.map(([namespace, key, value]) => dict.writeRecord(namespace, key, value))
  const locked = dict.tryLock('ns', 'lock', `${threadId}:1`, 60_000)
  parentPort!.postMessage({ written, locked })
  // Stay alive until terminated.
  setInterval(() => {}, 60_000)
} else {
  parentPort!.postMessage({ read: data.keys.map(([namespace, key]) => dict.readRecord(namespace, key)) })
}
