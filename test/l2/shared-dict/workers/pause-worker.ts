/**
 * Worker entry with a test-only failpoint that plays a *live* owner paused
 * inside the dict's critical section, as a long GC pause or a stopped
 * thread would: the first lookup (`at: 'read'`, in `ttl('k')`) or the first
 * bucket link (`at: 'mutation'`, in `set('pause-worker', 'value')`) posts
 * `{ inside: true }`, then either spins for `busyMs` (the thread stays
 * busy, as in a GC pause) or sleeps until `gate[0]` is set, and carries on.
 * At the end it posts `{ done, recoveries }`: the call's answer and the
 * recoveries this thread performed. No production code is changed: the
 * failpoint wraps a method of the hash index in this worker's copy of the
 * module.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { HashIndex } from '../../../../src/l2/shared-dict/hash-index.js'
import { SharedDict, type SharedDictHandle, type SharedDictRecovery } from '../../../../src/l2/shared-dict/shared-dict.js'

/** The `workerData` of this entry. */
export interface PauseWorkerData {
  readonly handle: SharedDictHandle
  readonly at: 'mutation' | 'read'
  /** Spin this long inside; otherwise sleep until `gate[0]` is non-zero. */
  readonly busyMs?: number
  readonly gate?: Int32Array
  readonly ownerDeadAfter?: number
  /** The key `at: 'mutation'` sets, `'pause-worker'` by default. */
  readonly key?: string
}

const data = workerData as PauseWorkerData
const recoveries: SharedDictRecovery[] = []
const dict = SharedDict.attach(data.handle, {
  ownerDeadAfter: data.ownerDeadAfter ?? Number.POSITIVE_INFINITY,
  onRecover: (recovery) => recoveries.push(recovery),
})
const method = data.at === 'mutation' ? 'insert' : 'find'
const original = HashIndex.prototype[method] as (this: HashIndex, ...args: unknown[]) => unknown
let paused = false
;(HashIndex.prototype as unknown as Record<string, unknown>)[method] = function (this: HashIndex, ...args: unknown[]) {
  const result = original.apply(this, args)
  if (paused) return result
  paused = true
  parentPort!.postMessage({ inside: true })
  if (data.busyMs !== undefined) {
    const until = Date.now() + data.busyMs
    while (Date.now() < until);
  } else {
    while (Atomics.load(data.gate!, 0) === 0) Atomics.wait(data.gate!, 0, 0)
  }
  return result
}
const done = data.at === 'mutation' ? dict.set(data.key ?? 'pause-worker', 'value') : dict.ttl('k')
// Recoveries are reported in a microtask.
await Promise.resolve()
parentPort!.postMessage({ done, recoveries })
