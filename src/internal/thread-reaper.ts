/**
 * The per-thread registry of objects that hold cross-thread state a dead
 * thread may leave behind (a mutex it owned, loader locks it took), so that a
 * supervisor can clean up after a worker with one call: nginx's master
 * calling `ngx_unlock_mutexes(pid)` on every shared memory zone when it reaps
 * a crashed worker (`ngx_process.c`).
 *
 * `worker.terminate()`, `process.exit()` in a worker and memory-limit kills
 * skip `finally` blocks (the thread's JavaScript is stopped wherever it is),
 * and only the thread that created a worker sees its `'exit'` event, so the
 * creating thread (the WorkerBus) calls {@link reapThread} from that event.
 *
 * The registry is per thread (module state is never shared between
 * threads) and weak: a registered object that nothing else references is
 * collected as usual and leaves the registry.
 */

import { assertIntegerAtLeast } from './validate.js'

/** An object that can release what a dead thread left behind (e.g. `SharedDict`). */
export interface Reapable {
  /** Frees whatever thread `threadId`, now dead, still holds in this object. */
  reapThread(threadId: number): void
}

const targets = new Set<WeakRef<Reapable>>()

/** Drops the reference of a collected target, so the registry never grows with dead entries. */
const cleanup = new FinalizationRegistry<WeakRef<Reapable>>((ref) => targets.delete(ref))

/**
 * Registers `target` in this thread's registry, held through a `WeakRef`:
 * the registry never keeps it alive. `SharedDict.create` and
 * `SharedDict.attach` register every dict instance they return.
 */
export function registerReapable(target: Reapable): void {
  const ref = new WeakRef(target)
  targets.add(ref)
  cleanup.register(target, ref)
}

/**
 * Tells every live target registered in this thread that thread `threadId`
 * has died, so each frees what it held (`ngx_unlock_mutexes(pid)`). Call it
 * from the `'exit'` event of a worker this thread created, with the id read
 * **before** the worker exited: `worker.threadId` is already `-1` in the
 * `'exit'` handler (verified on Node 20). Never call it for a live thread.
 *
 * Every target is called even when one throws; the first error is then
 * rethrown.
 *
 * @throws {TypeError | RangeError} unless `threadId` is an integer >= 0.
 */
export function reapThread(threadId: number): void {
  assertIntegerAtLeast(threadId, 'threadId', 0)
  let failure: { error: unknown } | undefined
  for (const ref of targets) {
    try {
      ref.deref()?.reapThread(threadId)
    } catch (error) {
      failure ??= { error }
    }
  }
  if (failure !== undefined) throw failure.error
}
