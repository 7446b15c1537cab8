/**
 * A scripted worker for the MLCache cross-thread tests: attaches to the
 * SharedDict (and the WorkerBus when one is given), makes an MLCache of the
 * given name whose L1 is an lru-cache this worker can inspect, and runs the
 * commands the test posts, answering each with `{ id, result }` or
 * `{ id, error }`.
 */
import { threadId, workerData } from 'node:worker_threads'
import { LRUCache } from 'lru-cache'
import { MLCache, SharedDict, WorkerBus } from '../../../src/index.js'
import type { HitLevel, WorkerBusHandle } from '../../../src/index.js'
import { StallSignal } from '../../helpers/stall-signal.js'
import { answerCommands } from '../../helpers/worker-commands.js'

/** What `peekL1` answers: whether this worker's L1 holds the key, and what it holds. */
export interface L1Content {
  present: boolean
  value: unknown
}

interface Command {
  id: number
  op: 'stampede' | 'revalidate' | 'get' | 'lookup' | 'set' | 'delete' | 'purge' | 'update' | 'peekL1' | 'holdLock' | 'stall' | 'close'
  key?: string
  value?: unknown
  /** set: the TTL of the value (the cache's own by default). */
  ttl?: number
  callers?: number
  /** stampede: how many workers run it; the load ends only once all of them have started their callers. */
  parties?: number
}

const { dictHandle, busHandle, name, startFlag, stall } = workerData as {
  dictHandle: Parameters<typeof SharedDict.attach>[0]
  busHandle?: WorkerBusHandle
  name: string
  startFlag?: SharedArrayBuffer
  stall?: SharedArrayBuffer
}
const dict = SharedDict.attach(dictHandle)
const bus = busHandle === undefined ? undefined : WorkerBus.attach(busHandle)
// The cache stores each L1 entry in it under the plain key: `peekL1` reads it without touching L2.
// lru-cache refuses null and undefined values, hence `{}`.
const l1 = new LRUCache<string, {}>({ max: 100 })
const cache = new MLCache(name, { store: dict, lru: l1, ...(bus === undefined ? {} : { bus }) })

/** Waits until the test flips the shared start flag, so every worker fires at once. */
async function barrier(): Promise<void> {
  if (startFlag === undefined) return
  const flag = new Int32Array(startFlag)
  while (Atomics.load(flag, 0) === 0) {
    const waited = Atomics.waitAsync(flag, 0, 0, 50)
    if (waited.async) await waited.value
  }
}

/** Resolves once `count` workers have counted themselves in `counter` of the shared dict. */
async function allCounted(counter: string, count: number): Promise<void> {
  while (Number(dict.get(counter)?.value ?? 0) < count) await new Promise((resolve) => setTimeout(resolve, 1))
}

async function run(command: Command): Promise<unknown> {
  const key = command.key ?? 'k'
  switch (command.op) {
    case 'stampede': {
      await barrier()
      const loader = async () => {
        // Counted in the shared dict: the total across every thread.
        dict.incr('loader-calls', 1, 0)
        // Hold the load until every worker has started all its callers: each of them finds
        // the key missing and the lock taken, however slowly the threads run.
        await allCounted('started', command.parties ?? 1)
        return { loadedBy: threadId }
      }
      const pending = Array.from({ length: command.callers ?? 1_000 }, () => cache.lookup(key, loader))
      dict.incr('started', 1, 0)
      const lookups = await Promise.all(pending)
      const levels: Partial<Record<HitLevel, number>> = {}
      for (const { hitLevel } of lookups) levels[hitLevel] = (levels[hitLevel] ?? 0) + 1
      return { levels, values: new Set(lookups.map((l) => JSON.stringify(l.value))).size }
    }
    case 'revalidate': {
      // `callers` lookups of a key whose value is stale, with stale-while-revalidate: each is answered at
      // once. The reload, in whichever worker takes the loader lock, answers only once every worker has
      // counted itself in 'answered', so every caller of every worker has read the stale value by then.
      await barrier()
      const loader = async () => {
        dict.incr('loader-calls', 1, 0)
        await allCounted('answered', command.parties ?? 1)
        return command.value
      }
      const options = { staleWhileRevalidate: 60_000 }
      const lookups = await Promise.all(Array.from({ length: command.callers ?? 1_000 }, () => cache.lookup(key, loader, options)))
      dict.incr('answered', 1, 0)
      const levels: Partial<Record<HitLevel, number>> = {}
      for (const { hitLevel } of lookups) levels[hitLevel] = (levels[hitLevel] ?? 0) + 1
      // The reload of this worker, if it ran it, has published its change once this resolves.
      await cache.update()
      return { levels, values: [...new Set(lookups.map((l) => JSON.stringify(l.value)))], backgroundReloads: cache.stats().backgroundReloads }
    }
    case 'get':
      return cache.lookup(key, () => command.value)
    case 'lookup':
      // No loader: what this worker serves from L1 or L2.
      return cache.lookup(key)
    case 'set':
      return cache.set(key, command.value, command.ttl === undefined ? undefined : { ttl: command.ttl })
    case 'delete':
      return cache.delete(key)
    case 'purge':
      return cache.purge()
    case 'update':
      return cache.update()
    case 'peekL1':
      // This worker's L1 only: never L2, and without counting as a use.
      return { present: l1.has(key), value: l1.peek(key) } satisfies L1Content
    case 'holdLock':
      // Takes the loader lock of `key` the way MLCache does, and never releases it.
      return dict.tryLock(name, key, `${threadId}:held`, 60_000)
    case 'stall':
      // Blocks this thread's event loop, as a long synchronous task would, until the test
      // releases it: no bus event is handled meanwhile.
      if (stall === undefined) throw new Error('stall needs workerData.stall')
      new StallSignal(stall).block()
      return undefined
    case 'close':
      await cache.close()
      await bus?.close()
      return undefined
  }
}

answerCommands(run)
