/**
 * A scripted worker for the MLCache cross-thread tests: attaches to the
 * SharedDict (and the WorkerBus when one is given), makes an MLCache of the
 * given name, and runs the commands the test posts, answering each with
 * `{ id, result }` or `{ id, error }`.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { MLCache, SharedDict, WorkerBus } from '../../../src/index.js'
import type { HitLevel, WorkerBusHandle } from '../../../src/index.js'

interface Command {
  id: number
  op: 'stampede' | 'get' | 'set' | 'delete' | 'purge' | 'update' | 'peekL1' | 'holdLock' | 'stall' | 'close'
  key?: string
  value?: unknown
  callers?: number
  loaderMs?: number
  ms?: number
}

const { dictHandle, busHandle, name, startFlag } = workerData as {
  dictHandle: Parameters<typeof SharedDict.attach>[0]
  busHandle?: WorkerBusHandle
  name: string
  startFlag?: SharedArrayBuffer
}
const dict = SharedDict.attach(dictHandle)
const bus = busHandle === undefined ? undefined : WorkerBus.attach(busHandle)
const cache = new MLCache(name, { store: dict, ...(bus === undefined ? {} : { bus }) })
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Waits until the test flips the shared start flag, so every worker fires at once. */
async function barrier(): Promise<void> {
  if (startFlag === undefined) return
  const flag = new Int32Array(startFlag)
  while (Atomics.load(flag, 0) === 0) {
    const waited = Atomics.waitAsync(flag, 0, 0, 50)
    if (waited.async) await waited.value
  }
}

async function run(command: Command): Promise<unknown> {
  const key = command.key ?? 'k'
  switch (command.op) {
    case 'stampede': {
      await barrier()
      const loader = async () => {
        // Counted in the shared dict: the total across every thread.
        dict.incr('loader-calls', 1, 0)
        await sleep(command.loaderMs ?? 50)
        return { loadedBy: threadId }
      }
      const lookups = await Promise.all(Array.from({ length: command.callers ?? 1_000 }, () => cache.lookup(key, loader)))
      const levels: Partial<Record<HitLevel, number>> = {}
      for (const { hitLevel } of lookups) levels[hitLevel] = (levels[hitLevel] ?? 0) + 1
      return { levels, values: new Set(lookups.map((l) => JSON.stringify(l.value))).size }
    }
    case 'get':
      return cache.lookup(key, () => command.value)
    case 'set':
      return cache.set(key, command.value)
    case 'delete':
      return cache.delete(key)
    case 'purge':
      return cache.purge()
    case 'update':
      return cache.update()
    case 'peekL1': {
      // What this worker's L1 would serve without touching L2: a lookup with no loader.
      return cache.lookup(key)
    }
    case 'holdLock':
      // Takes the loader lock of `key` the way MLCache does, and never releases it.
      return dict.tryLock(name, key, `${threadId}:held`, 60_000)
    case 'stall':
      // Blocks this thread's event loop, as a long synchronous task would: no bus event is handled meanwhile.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, command.ms ?? 100)
      return undefined
    case 'close':
      await cache.close()
      await bus?.close()
      return undefined
  }
}

parentPort?.on('message', (command: Command) => {
  run(command).then(
    (result) => parentPort?.postMessage({ id: command.id, result }),
    (error: unknown) => parentPort?.postMessage({ id: command.id, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
  )
})
parentPort?.postMessage({ ready: true })
