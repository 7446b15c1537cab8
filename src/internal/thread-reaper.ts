/**
 * The per-thread supervisor of the workers this thread creates, and the
 * registry of objects that hold cross-thread state a dead thread may leave
 * behind (a mutex it owned, loader locks it took): nginx's master calling
 * `ngx_unlock_mutexes(pid)` on every shared memory zone when it reaps a
 * crashed worker (`ngx_process.c`).
 *
 * `worker.terminate()`, `process.exit()` in a worker and memory-limit kills
 * skip `finally` blocks (the thread's JavaScript is stopped wherever it is),
 * and only the thread that created a worker sees its `'exit'` event. So the
 * first SharedDict or WorkerBus member of a thread starts supervising
 * ({@link superviseWorkers}): every worker this thread creates from then on
 * is marked supervised (`supervised-threads.ts`, which robust mutexes trust
 * instead of a timeout) and reaped from its `'exit'` event.
 *
 * The registry is per thread (module state is never shared between
 * threads). It holds its objects strongly while this thread has a live
 * supervised worker, and weakly otherwise: a dict whose only reference in
 * this thread was dropped right after its handle was sent to the workers
 * (`{ dict: SharedDict.create(...).handle }`) must still be reachable when
 * one of them dies. A newly registered object is also held until the next
 * turn of the event loop, so that workers created right after it pin it.
 */
import { type Worker } from 'node:worker_threads'
import { assertIntegerAtLeast } from './validate.js'
import { markSupervised, openRegistry, unmarkSupervised } from './supervised-threads.js'

/** An object that can release what a dead thread left behind (e.g. `SharedDict`). */
export interface Reapable {
  /** Frees whatever thread `threadId`, now dead, still holds in this object. */
  reapThread(threadId: number): void
}

/**
 * Told after a supervised worker exited and was reaped (a WorkerBus member
 * frees the bus slots it held), with the reaper's error if reaping failed.
 */
export type WorkerExitListener = (threadId: number, reapError: unknown) => void

const targets = new Set<WeakRef<Reapable>>()

/** Drops the reference of a collected target, so the registry never grows with dead entries. */
const cleanup = new FinalizationRegistry<WeakRef<Reapable>>((ref) => targets.delete(ref))

/** Strong references to every live target, while this thread has live supervised workers (or just registered one). */
let pinned: Set<Reapable> | undefined
let unpinScheduled = false

let liveWorkers = 0
let supervising = false
const exitListeners = new Set<WorkerExitListener>()

/**
 * Registers `target` in this thread's registry and starts supervising the
 * workers this thread creates from now on. `SharedDict.create` and
 * `SharedDict.attach` register every dict instance they return.
 */
export function registerReapable(target: Reapable): void {
  const ref = new WeakRef(target)
  targets.add(ref)
  cleanup.register(target, ref)
  pin(target)
  if (liveWorkers === 0 && !unpinScheduled) {
    unpinScheduled = true
    // After this turn, unless a worker was created meanwhile (its
    // 'worker' event comes on the next tick, before any immediate).
    setImmediate(unpinIfIdle).unref()
  }
  superviseWorkers()
}

function pin(target: Reapable): void {
  ;(pinned ??= new Set()).add(target)
}

function unpinIfIdle(): void {
  unpinScheduled = false
  if (liveWorkers === 0) pinned = undefined
}

/**
 * Starts supervising, once per thread: a `process.on('worker')` listener
 * marks every worker this thread creates from now on as supervised and
 * reaps it from its `'exit'` event. No timer, no handle: nothing is kept
 * alive by it.
 */
function superviseWorkers(): void {
  if (supervising) return
  supervising = true
  openRegistry()
  process.on('worker', onWorker)
}

/** Adds a listener told after each supervised worker's exit; answers how to remove it. */
export function onWorkerExit(listener: WorkerExitListener): () => void {
  superviseWorkers()
  exitListeners.add(listener)
  return () => exitListeners.delete(listener)
}

function onWorker(worker: Worker): void {
  // `worker.threadId` is already -1 in the 'exit' handler: read it now.
  const id = worker.threadId
  markSupervised(id)
  liveWorkers++
  for (const target of liveTargets()) pin(target)
  worker.once('exit', () => workerExited(id))
}

function workerExited(id: number): void {
  let reapError: unknown
  try {
    reapThread(id)
  } catch (error) {
    reapError = error ?? new Error(`failed to reap thread ${id}`)
  }
  unmarkSupervised(id)
  if (--liveWorkers === 0) pinned = undefined
  if (exitListeners.size === 0 && reapError !== undefined) {
    process.emitWarning(`failed to reap thread ${id}: ${String(reapError)}`, { type: 'MLCacheWarning' })
  }
  for (const listener of [...exitListeners]) listener(id, reapError)
}

function* liveTargets(): Generator<Reapable> {
  for (const ref of targets) {
    const target = ref.deref()
    if (target !== undefined) yield target
  }
}

/**
 * Tells every live target registered in this thread that thread `threadId`
 * has died, so each frees what it held (`ngx_unlock_mutexes(pid)`). The
 * supervisor calls it from the `'exit'` event of each worker this thread
 * created, with the id read **before** the worker exited: `worker.threadId`
 * is already `-1` in the `'exit'` handler (verified on Node 20). Never call
 * it for a live thread.
 *
 * Every target is called even when one throws; the first error is then
 * rethrown.
 *
 * @throws {TypeError | RangeError} unless `threadId` is an integer >= 0.
 */
export function reapThread(threadId: number): void {
  assertIntegerAtLeast(threadId, 'threadId', 0)
  let failure: { error: unknown } | undefined
  for (const target of liveTargets()) {
    try {
      target.reapThread(threadId)
    } catch (error) {
      failure ??= { error }
    }
  }
  if (failure !== undefined) throw failure.error
}
