/**
 * Worker supervision for WorkerBus, one per thread (module state is never
 * shared between threads): lua-resty-worker-manager's job, with Node's own
 * signal instead of heartbeats. The thread reaper (`internal/thread-reaper`)
 * watches every worker this thread creates once supervision has started
 * (the first SharedDict or bus member of the thread starts it); when one
 * exits it reaps it first (SharedDicts release its mutex and loader locks,
 * nginx's `ngx_unlock_mutexes(pid)`, so handlers of the `'exit'` event
 * already find them free), then every open member here frees the bus slots
 * that thread still held and publishes their `'exit'` with `crashed: true`.
 * No timer, no handle: the listeners keep nothing alive.
 *
 * Not seen: workers created before supervision started in this thread, and
 * workers created by a thread that never used mlcache. Their slots are
 * reclaimed by the roll call of an `attach` that finds the registry full
 * (see WorkerBus, "Reclaiming").
 */
import { onWorkerExit } from '../internal/thread-reaper.js'

/** What a supervising member does when a worker of this thread exits. */
export interface SupervisingMember {
  /** Frees the slots `threadId` held on this bus and announces them; never throws. */
  workerExited(threadId: number): void
  /** Reports a failure of the reaper (the member's `onError`). */
  reportError(error: unknown): void
}

const members = new Set<SupervisingMember>()
let stopListening: (() => void) | undefined

function workerExited(threadId: number, reapError: unknown): void {
  if (reapError !== undefined) [...members][0]?.reportError(reapError)
  for (const member of [...members]) member.workerExited(threadId)
}

/** Supervises the workers this thread creates from now on, on behalf of `member`. */
export function supervise(member: SupervisingMember): void {
  stopListening ??= onWorkerExit(workerExited)
  members.add(member)
}

/** Stops supervising on behalf of `member`; the last one removes the listener. */
export function unsupervise(member: SupervisingMember): void {
  if (!members.delete(member) || members.size > 0) return
  stopListening?.()
  stopListening = undefined
}
