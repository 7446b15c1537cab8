/**
 * Worker supervision for WorkerBus, one per thread (module state is never
 * shared between threads): lua-resty-worker-manager's job, with Node's own
 * signal instead of heartbeats. Only the thread that created a `Worker` sees
 * its `'exit'` event, so every open member of a thread registers here; the
 * first one installs a `process.on('worker')` listener, which hooks
 * `'exit'` of every worker this thread creates from then on.
 *
 * When such a worker exits: {@link reapThread} first (SharedDicts release
 * its mutex and loader locks, nginx's `ngx_unlock_mutexes(pid)`, so handlers
 * of the `'exit'` event already find them free), then every member here
 * frees the bus slots that thread still held and publishes their `'exit'`
 * with `crashed: true`. No timer, no handle: the listeners keep nothing alive.
 *
 * Not seen: workers created before the first member of this thread, and
 * workers created by a thread that has no open member. Their slots stay
 * ALIVE after they die (see `WorkerBus` "Supervision").
 */
import { type Worker } from 'node:worker_threads'
import { reapThread } from '../internal/thread-reaper.js'

/** What a supervising member does when a worker of this thread exits. */
export interface SupervisingMember {
  /** Frees the slots `threadId` held on this bus and announces them; never throws. */
  workerExited(threadId: number): void
  /** Reports a failure of the reaper (the member's `onError`). */
  reportError(error: unknown): void
}

const members = new Set<SupervisingMember>()

function onWorker(worker: Worker): void {
  // `worker.threadId` is already -1 in the 'exit' handler: read it now.
  const threadId = worker.threadId
  worker.once('exit', () => workerExited(threadId))
}

function workerExited(threadId: number): void {
  try {
    reapThread(threadId)
  } catch (error) {
    const [first] = members
    if (first !== undefined) first.reportError(error)
    else process.emitWarning(`failed to reap thread ${threadId}: ${String(error)}`, { type: 'MLCacheBusWarning' })
  }
  for (const member of [...members]) member.workerExited(threadId)
}

/** Starts supervising the workers this thread creates from now on, on behalf of `member`. */
export function supervise(member: SupervisingMember): void {
  if (members.size === 0) process.on('worker', onWorker)
  members.add(member)
}

/** Stops supervising on behalf of `member`; the last one removes the listener. */
export function unsupervise(member: SupervisingMember): void {
  if (!members.delete(member)) return
  if (members.size === 0) process.off('worker', onWorker)
}
