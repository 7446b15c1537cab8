/**
 * The append mutex of a WorkerBus: the shared robust mutex
 * (`internal/robust-mutex.ts`, the SharedDict's too) on one header word,
 * the owner kept in the word as nginx's `ngx_shmtx` keeps the owner pid, so
 * a dead owner can be recognised.
 *
 * Critical sections are a few microseconds and never run user code (copy a
 * serialised payload, write a slot, bump the head). A thread can die inside
 * one: `worker.terminate()` interrupts JavaScript anywhere. Its supervisor
 * then frees the word at once ({@link stealFromThread}); a waiter takes an
 * unsupervised owner over after the same owner held it through the same
 * acquisition for its member's `ownerDeadAfter`. A stolen section is harmless: the
 * head is bumped last, so a half-written record is never visible, and the
 * owner, if it was only paused, finds the word changed and releases nothing.
 */
import { acquireMutex, ownLockWord, releaseMutex, stealFromDead } from '../internal/robust-mutex.js'
import { H_MUTEX, H_MUTEX_TICKET } from './worker-bus-layout.js'

/**
 * Takes the append mutex of the bus whose header is `i32`, presuming an
 * unsupervised owner dead after `ownerDeadAfter` ms without progress;
 * answers the word it holds it with.
 */
export function acquireBusMutex(i32: Int32Array, ownerDeadAfter: number): number {
  // The ticket is the progress word: it moves at every acquisition, so a
  // waiter never takes a live, busy lock over.
  acquireMutex(i32, H_MUTEX, H_MUTEX_TICKET, ownerDeadAfter)
  Atomics.add(i32, H_MUTEX_TICKET, 1)
  return ownLockWord()
}

/** Releases the append mutex taken with the word `held`. */
export function releaseBusMutex(i32: Int32Array, held: number): void {
  releaseMutex(i32, H_MUTEX, held)
}

/**
 * Frees the mutex if the thread `deadThreadId` holds it. Only for a thread
 * known to be dead (its `Worker` emitted `'exit'`): it can never touch the
 * bus again, so its section will not resume.
 */
export function stealFromThread(i32: Int32Array, deadThreadId: number): void {
  if (stealFromDead(i32, H_MUTEX, deadThreadId) !== 0) releaseMutex(i32, H_MUTEX, ownLockWord())
}
