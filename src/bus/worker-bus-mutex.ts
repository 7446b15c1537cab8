/**
 * The append mutex of a WorkerBus: the shared robust mutex
 * (`internal/robust-mutex.ts`, the SharedDict's too) on one header word,
 * `(threadId + 1) << 1 | contended`, the owner kept in the word as nginx's
 * `ngx_shmtx` keeps the owner pid, so a dead owner can be recognised.
 *
 * Critical sections are a few microseconds and never run user code (copy a
 * serialised payload, write a slot, bump the head). A thread can die inside
 * one: `worker.terminate()` interrupts JavaScript anywhere. The supervising
 * member then frees the word at once ({@link stealFromThread}); anyone else
 * takes it over after the same owner held it through the same acquisition
 * for `OWNER_DEAD_AFTER_MS` (a thread created by an unsupervised thread). A
 * stolen section is harmless: the head is bumped last, so a half-written
 * record is never visible.
 */
import { threadId } from 'node:worker_threads'
import { acquireMutex, lockWordOf, releaseMutex, stealFromDead } from '../internal/robust-mutex.js'
import { H_MUTEX, H_MUTEX_TICKET } from './worker-bus-layout.js'

/** The lock word of this thread (bit 0 is the contended flag). */
const SELF = lockWordOf(threadId)

/** Takes the append mutex of the bus whose header is `i32`. */
export function acquireBusMutex(i32: Int32Array): void {
  // The ticket is the progress word: it moves at every acquisition, so a
  // waiter never takes a live, busy lock over.
  acquireMutex(i32, H_MUTEX, H_MUTEX_TICKET, SELF)
  Atomics.add(i32, H_MUTEX_TICKET, 1)
}

/** Releases the append mutex. */
export function releaseBusMutex(i32: Int32Array): void {
  releaseMutex(i32, H_MUTEX)
}

/**
 * Frees the mutex if the thread `deadThreadId` holds it. Only for a thread
 * known to be dead (its `Worker` emitted `'exit'`): it can never touch the
 * bus again, so its section will not resume.
 */
export function stealFromThread(i32: Int32Array, deadThreadId: number): void {
  if (stealFromDead(i32, H_MUTEX, deadThreadId, SELF) !== 0) releaseMutex(i32, H_MUTEX)
}
