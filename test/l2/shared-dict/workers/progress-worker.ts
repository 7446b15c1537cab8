/**
 * Worker entry that plays a live mutex owner in a long walk: it bumps the
 * dict's progress word every 100 ms, `beats` times (posting `{ beating:
 * true }` after the first), then sets `done[0]` and stops. It never touches
 * the mutex itself.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { H_PROGRESS } from '../../../../src/l2/shared-dict/layout.js'
import type { SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

const { handle, beats, done } = workerData as { handle: SharedDictHandle; beats: number; done: Int32Array }
const words = new Int32Array(handle.buffer)
const pause = new Int32Array(new SharedArrayBuffer(4))
for (let beat = 0; beat < beats; beat++) {
  Atomics.add(words, H_PROGRESS, 1)
  if (beat === 0) parentPort!.postMessage({ beating: true })
  Atomics.wait(pause, 0, 0, 100)
}
Atomics.store(done, 0, 1)
