/**
 * Worker of the invalidation-latency scenario: one MLCache of the shared
 * name over the shared SharedDict and WorkerBus. Worker B `hold`s a key
 * (loads it into its L1) and watches for the moment its L1 stops serving
 * it; worker A `delete`s it and answers when it called `delete`.
 *
 * "B misses" is checked with `cache.lookup(key)`, whose L1 probe runs
 * synchronously when it is called: the time of a probe answering anything
 * but `hitLevel: 1` is the time B's L1 no longer had the key. B probes on
 * every bus delivery, through a `('*', '*')` subscription: at once, and
 * again on the next `setImmediate`, since a `'*'` handler runs before
 * MLCache's own (exact-match) handler of the same event. B is otherwise
 * idle, waiting for the bus to wake it, as a worker between requests.
 */
import { MLCache, SharedDict, type SharedDictHandle, WorkerBus, type WorkerBusHandle } from '../../src/index.js'
import { USER, type User } from '../fixtures.js'
import { data, serve } from './threads.js'

export interface InvalidationData {
  dict: SharedDictHandle
  bus: WorkerBusHandle
  name: string
}

/** How long B waits for the invalidation at most. */
const GIVE_UP_MS = 5_000

const { dict, bus: busHandle, name } = data<InvalidationData>()
const bus = WorkerBus.attach(busHandle)
const cache = new MLCache<User>(name, { store: SharedDict.attach(dict), bus, lruSize: 1_000, ttl: 0 })

let onDelivery: (() => void) | undefined
const subscription = bus.subscribe('*', '*', () => onDelivery?.())
let watch: Promise<number> | undefined

/** Resolves with the time (`performance.now()`) of the first probe of `key` that misses L1. */
function watchL1(key: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let done = false
    const finish = (outcome: number | Error) => {
      done = true
      onDelivery = undefined
      clearTimeout(giveUp)
      if (outcome instanceof Error) reject(outcome)
      else resolve(outcome)
    }
    const probe = () => {
      if (done) return
      const at = performance.now()
      // lookup() probes L1 synchronously, before it answers.
      cache.lookup(key).then(
        ({ hitLevel }) => {
          if (hitLevel !== 1 && !done) finish(at)
        },
        (error: unknown) => finish(error instanceof Error ? error : new Error(String(error))),
      )
    }
    onDelivery = () => {
      probe()
      setImmediate(probe)
    }
    const giveUp = setTimeout(() => finish(new Error(`B still served ${key} from L1 ${GIVE_UP_MS} ms later`)), GIVE_UP_MS)
  })
}

serve({
  /** B: loads `key` into this L1 (loader, then an L1 hit to check) and starts watching it. */
  hold: async ({ key }) => {
    await cache.get(key as string, () => USER)
    const { hitLevel } = await cache.lookup(key as string)
    if (hitLevel !== 1) throw new Error(`expected ${key} in L1, got hit level ${hitLevel}`)
    watch = watchL1(key as string)
  },
  /** B: answers when its L1 missed the key held last. */
  missed: () => {
    if (watch === undefined) throw new Error('nothing held')
    return watch
  },
  /** A: deletes `key`, answering when it called `delete`. */
  delete: async ({ key }) => {
    const at = performance.now()
    await cache.delete(key as string)
    return at
  },
  close: async () => {
    bus.unsubscribe(subscription)
    await cache.close()
    await bus.close()
  },
})
