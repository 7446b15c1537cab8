/**
 * Worker entry for the lock-free read stress test. Every value written is
 * one byte repeated, so a read that mixed two writes shows two bytes.
 * - `writer`: `rounds` times, rewrites the hot key in place (same length,
 *   the next byte), writes a churn key of a random length that expires at
 *   once, lets a `get` sweep expired entries away and deletes another
 *   churn key, so blocks are freed, split and reused under the readers.
 * - `reader`: reads the hot key and the churn keys with `readEntryInto`
 *   until `stop[0]` is set, and counts what it found and what was mixed.
 * Posts a {@link SeqlockReport} at the end.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { EntryView } from '../../../../src/l2/l2-store.js'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'
import { seededRandom } from '../../../helpers/seeded-random.js'

/** The `workerData` of this entry. */
export interface SeqlockWorkerData {
  readonly handle: SharedDictHandle
  readonly role: 'writer' | 'reader'
  readonly rounds: number
  /** Set by the test once the writers are done: the readers stop. */
  readonly stop: Int32Array
  readonly seed: number
}

/** What a worker did. */
export interface SeqlockReport {
  readonly reads: number
  readonly found: number
  /** Reads whose bytes were not all the same: torn between two writes. */
  readonly mixed: number
}

const HOT_BYTES = 4_000
const CHURN_KEYS = 40

const data = workerData as SeqlockWorkerData
const dict = SharedDict.attach(data.handle)
const rand = seededRandom(data.seed)
const view: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }
const churnKey = (): string => `churn${Math.floor(rand() * CHURN_KEYS)}`

let reads = 0
let found = 0
let mixed = 0
if (data.role === 'writer') {
  const hot = new Uint8Array(HOT_BYTES)
  for (let round = 0; round < data.rounds; round++) {
    dict.writeEntry('n', 'hot', hot.fill(round & 0xff), 0, 0)
    dict.writeEntry('n', churnKey(), new Uint8Array(1 + Math.floor(rand() * 600)).fill(round & 0xff), 0.001, 0)
    dict.get('sweep')
    dict.deleteEntry('n', churnKey())
  }
} else {
  while (Atomics.load(data.stop, 0) === 0) {
    reads++
    if (!dict.readEntryInto('n', (reads & 1) === 0 ? 'hot' : churnKey(), view)) continue
    found++
    const { bytes, start, end } = view
    for (let i = start + 1; i < end; i++) {
      if (bytes[i] !== bytes[start]) {
        mixed++
        break
      }
    }
  }
}
// The stats call also applies the uses this thread recorded.
dict.stats()
parentPort!.postMessage({ reads, found, mixed } satisfies SeqlockReport)
