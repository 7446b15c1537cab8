/**
 * Worker of the swap scenario: a member of the main thread's WorkerBus with
 * its own MLCache over the shared SharedDict, reading the hot keys in a
 * loop until the main thread raises `stop`, and counting its reads in a
 * shared counter the main thread samples around its windows. It yields to
 * the event loop every few hundred reads: a swap waits for every member of
 * the bus to switch, so a reader must handle the flip as a server would.
 */
import { MLCache, SharedDict, type SharedDictHandle, WorkerBus, type WorkerBusHandle } from '../../src/index.js'
import { data, serve } from './threads.js'

export interface SwapReaderData {
  dict: SharedDictHandle
  bus: WorkerBusHandle
  /** The MLCache name the main thread swaps. */
  name: string
  /** Keys every reader reads in order, all written by every swap. */
  hot: string[]
  /** `BigInt64Array` words: [0] reads done by every reader together, [1] stop flag (1: stop). */
  counters: SharedArrayBuffer
}

/** Reads between two turns of the event loop (and two updates of the shared counter). */
const BATCH = 256

const { dict: dictHandle, bus: busHandle, name, hot, counters } = data<SwapReaderData>()
const bus = WorkerBus.attach(busHandle)
const cache = new MLCache(name, { store: SharedDict.attach(dictHandle), bus, lruSize: hot.length, ttl: 0 })
const shared = new BigInt64Array(counters)

/** Reads until the stop flag is raised; answers how many reads missed (must be 0). */
async function read(): Promise<number> {
  let next = 0
  let missing = 0
  while (Atomics.load(shared, 1) === 0n) {
    for (let i = 0; i < BATCH; i++) {
      if ((await cache.get(hot[next] as string)) === undefined) missing++
      if (++next === hot.length) next = 0
    }
    Atomics.add(shared, 0, BigInt(BATCH))
    await new Promise((resolve) => setImmediate(resolve))
  }
  return missing
}

serve({
  read: () => read(),
  close: async () => {
    await cache.close()
    await bus.close()
  },
})
