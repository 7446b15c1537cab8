/**
 * Which threads of this process have a supervisor: a thread that will see
 * them exit and reap what they leave behind (`thread-reaper.ts`). It is the
 * liveness signal of the robust mutex that does not depend on the owner
 * running JavaScript: a supervised thread's death is reported by its
 * creator's `'exit'` event, so a waiter never has to guess from time that a
 * supervised owner is dead, however long a GC pause or a copy keeps it
 * inside a critical section.
 *
 * The registry is one SharedArrayBuffer of thread ids for the whole tree of
 * threads below the first thread that loaded this module: it travels in
 * Node's environment data, which every `Worker` inherits from its creator
 * (a SharedArrayBuffer in it is shared, not copied). A supervising thread
 * writes each worker it creates into it (from `process.on('worker')`) and
 * removes it after reaping it. A thread asks whether its own id is there: a
 * worker created by a thread that does not supervise (one that never used
 * mlcache, even if its own creator did) is not, so it is never wrongly
 * trusted to be reaped.
 */
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads'

/** The environment-data key; the suffix is the registry's layout version. */
const REGISTRY_KEY = 'mlcache:supervised-threads:1'

/**
 * Slots for live supervised threads (`threadId + 1`, 0 = free). A thread
 * that finds no free slot is simply not trusted to be reaped: waiters fall
 * back to the time-based takeover for it.
 */
const REGISTRY_SLOTS = 4096

let registry: Int32Array | undefined

/** Whether this thread is known to be supervised; `true` never changes back while the thread lives. */
let selfSupervised = isMainThread

/**
 * Opens the registry this thread inherited, or creates one and puts it in
 * this thread's environment data. A supervising thread calls it before it
 * creates any worker: environment data is copied into a worker when it is
 * constructed.
 */
export function openRegistry(): Int32Array {
  if (registry !== undefined) return registry
  const inherited: unknown = getEnvironmentData(REGISTRY_KEY)
  if (inherited instanceof SharedArrayBuffer && inherited.byteLength === REGISTRY_SLOTS * 4) {
    registry = new Int32Array(inherited)
  } else {
    const buffer = new SharedArrayBuffer(REGISTRY_SLOTS * 4)
    // Workers this thread creates from now on inherit it.
    setEnvironmentData(REGISTRY_KEY, buffer)
    registry = new Int32Array(buffer)
  }
  return registry
}

/** Records that thread `id`, just created by this thread, will be reaped by it. */
export function markSupervised(id: number): void {
  const slots = openRegistry()
  for (let i = 0; i < REGISTRY_SLOTS; i++) {
    if (Atomics.compareExchange(slots, i, 0, id + 1) === 0) return
  }
}

/** Forgets thread `id`, which has exited and been reaped. */
export function unmarkSupervised(id: number): void {
  const slots = openRegistry()
  for (let i = 0; i < REGISTRY_SLOTS; i++) {
    if (Atomics.compareExchange(slots, i, id + 1, 0) === id + 1) return
  }
}

/**
 * Whether this thread has a supervisor that will reap it when it exits.
 * The main thread always counts as supervised: it cannot die while any
 * other thread of the process lives. A worker is registered by its creator
 * right after its construction, usually long before its own code runs; a
 * `false` is therefore asked again later (see `ownLockWord`).
 */
export function isThisThreadSupervised(): boolean {
  if (selfSupervised) return true
  const slots = openRegistry()
  const own = threadId + 1
  for (let i = 0; i < REGISTRY_SLOTS; i++) {
    if (Atomics.load(slots, i) === own) return (selfSupervised = true)
  }
  return false
}
