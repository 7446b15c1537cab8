/**
 * Worker entry with a test-only failpoint: it stops forever *inside* the
 * dict's critical section, holding the mutex, so that the test can
 * `terminate()` it there and recreate "a worker died holding the mutex"
 * deterministically. No production code is involved: the failpoint wraps a
 * method of the hash index in this worker's copy of the module.
 *
 * - `at: 'mutation'`: `set` stops right after linking the new entry into
 *   its bucket, before the LRU link and the entry counter: the structures
 *   are half relinked and the mutation mark is set.
 * - `at: 'read'`: `ttl` (a read-only call) stops in its lookup: the mutex is
 *   held but no mutation is marked.
 *
 * Posts `{ inside: true }` from inside the critical section, then blocks on
 * `Atomics.wait` (no CPU used) until terminated.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { HashIndex } from '../../../../src/l2/shared-dict/hash-index.js'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export interface HangWorkerData {
  readonly handle: SharedDictHandle
  readonly at: 'mutation' | 'read'
}

const data = workerData as HangWorkerData
const dict = SharedDict.attach(data.handle)
const method = data.at === 'mutation' ? 'insert' : 'find'
const original = HashIndex.prototype[method] as (this: HashIndex, ...args: unknown[]) => unknown
const forever = new Int32Array(new SharedArrayBuffer(4))
;(HashIndex.prototype as unknown as Record<string, unknown>)[method] = function (this: HashIndex, ...args: unknown[]) {
  const result = original.apply(this, args)
  parentPort!.postMessage({ inside: true })
  Atomics.wait(forever, 0, 0)
  return result
}
if (data.at === 'mutation') dict.set('hang-worker', 'never fully linked')
else dict.ttl('hang-worker')
