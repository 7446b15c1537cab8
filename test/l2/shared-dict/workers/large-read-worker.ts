/**
 * Worker entry that reads the large values `bytes` (a Uint8Array) and
 * `text` (a string) of a dict and records, for every buffer of 1 MiB or
 * more allocated meanwhile, whether the dict mutex was held at that moment
 * (its word, 0 when free): it replaces this thread's global `Uint8Array`
 * with a subclass that looks before allocating. Posts `{ words, bytes,
 * textLength }`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { H_MUTEX } from '../../../../src/l2/shared-dict/layout.js'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'

const { handle } = workerData as { handle: SharedDictHandle }
const dict = SharedDict.attach(handle)
const mutex = new Int32Array(handle.buffer)
const words: number[] = []
const Original = Uint8Array
class Watched extends Original {
  constructor(...args: unknown[]) {
    if (typeof args[0] === 'number' && args[0] >= 1 << 20) words.push(Atomics.load(mutex, H_MUTEX))
    super(...(args as [number]))
  }
}
globalThis.Uint8Array = Watched as unknown as Uint8ArrayConstructor
const bytes = dict.get('bytes')?.value as Uint8Array
const text = dict.get('text')?.value as string
globalThis.Uint8Array = Original
parentPort!.postMessage({ words, bytes: [bytes.length, bytes[0], bytes[bytes.length - 1]], textLength: text.length, text: text.slice(0, 3) })
