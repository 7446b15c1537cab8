/**
 * Worker of the "across worker_threads" scenarios: attaches the SharedDict
 * the main thread filled and, for a fixed window after the start barrier,
 * reads through its own MLCache (L1 of 1k) either its 10k keys in order
 * (`'l2'`: every read misses L1 and hits L2) or one hot key (`'l1'`: every
 * read an L1 hit), and answers how many reads it did.
 */
import { MLCache, SharedDict, type SharedDictHandle } from '../../src/index.js'
import { KEY, L2_LRU_SIZE, l2Keys } from '../fixtures.js'
import { StartBarrier, data, serve } from './threads.js'

/** What every read is: an L1 hit of one hot key, or an L2 hit of the next of 10k keys. */
export type ReadMode = 'l1' | 'l2'

export interface ReaderData {
  dict: SharedDictHandle
  barrier: SharedArrayBuffer
  /** The MLCache name the main thread filled. */
  name: string
  mode: ReadMode
  /** Where this worker starts in the key list, so workers do not read in lockstep. */
  offset: number
}

/** The answer of `window`: reads done in `elapsed` ms. */
export interface WindowResult {
  ops: number
  elapsed: number
}

const { dict: handle, barrier: barrierBuffer, name, mode, offset } = data<ReaderData>()
const barrier = new StartBarrier(barrierBuffer)
const cache = new MLCache(name, { lruSize: L2_LRU_SIZE, store: SharedDict.attach(handle), ttl: 0 })
const keys = mode === 'l2' ? l2Keys() : [KEY]
let next = offset % keys.length

/** Reads keys in order for `ms` milliseconds; the clock is read every 256 reads. */
async function read(ms: number): Promise<WindowResult> {
  const start = performance.now()
  const end = start + ms
  let ops = 0
  let now = start
  while (now < end) {
    for (let i = 0; i < 256; i++) {
      const value = await cache.get(keys[next] as string)
      if (value === undefined) throw new Error(`key ${keys[next]} is missing from L2`)
      if (++next === keys.length) next = 0
    }
    ops += 256
    now = performance.now()
  }
  return { ops, elapsed: now - start }
}

serve({
  /** Unmeasured reads, so the measured windows run optimized code. */
  warmup: ({ ms }) => read(ms as number),
  /** One measured window, started by the barrier. */
  window: ({ generation, ms }) => {
    barrier.arriveAndWait(generation as number)
    return read(ms as number)
  },
  /** Answers where the next read is served from (1: L1, 2: L2), as a check of the setup. */
  hitLevel: async () => (await cache.lookup(keys[next] as string)).hitLevel,
  close: () => cache.close(),
})
