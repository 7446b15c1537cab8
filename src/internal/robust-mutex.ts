/**
 * The robust mutex of every shared structure (the SharedDict and the
 * WorkerBus ring): a 3-state futex-style barging mutex with the owner in the
 * lock word. The word is `0` when free, else
 * `(ownerId + 1) << 2 | supervised << 1 | contended`, as nginx's `ngx_shmtx`
 * keeps the owner pid in its lock word so a dead owner can be found.
 *
 * - Acquire: one CAS `0 → own word` (about 22 ns with the release); on
 *   failure a short spin on multi-core machines, then set the contended bit
 *   and `Atomics.wait` in slices. A thread that waited takes the lock *with*
 *   the contended bit, since it cannot know whether others still wait
 *   (Drepper's "mutex2").
 * - Release: one CAS from the word it took the lock with back to `0`, and
 *   `notify` only when the contended bit was set: a notify costs ~37 ns even
 *   with no waiter. A CAS, not an exchange: an owner that was taken over
 *   (below) must never release the mutex of the thread that now holds it.
 * - Dead owner: `worker.terminate()` skips `finally` blocks, so a worker
 *   killed inside a critical section leaves its word for good. Its
 *   supervisor (the thread that created it, `thread-reaper.ts`) sees it exit
 *   and takes the word over at once with {@link stealFromDead} (nginx's
 *   `ngx_shmtx_force_unlock`, called by `ngx_unlock_mutexes` when the master
 *   reaps a worker). A supervised owner announces itself in its word (the
 *   supervised bit, `supervised-threads.ts`), and waiters never take such an
 *   owner over on their own: however long it stays (a GC pause, a debugger),
 *   it is either alive or about to be reaped. Only an owner without a
 *   supervisor is presumed dead, by a waiter that sees the same word and no
 *   progress for `ownerDeadAfter` ms (default {@link OWNER_DEAD_AFTER_MS},
 *   far above any GC pause). Both then repair the structure (`DictCore`; the
 *   bus ring's readers check every record).
 *
 * Barging, not FIFO: a fair ticket lock collapses when threads outnumber
 * cores (measured 0.6M vs 34M ops/s with 4 threads on 2 vCPUs). Not
 * re-entrant; the dict never nests it and never runs user code under it.
 * `Atomics.wait` is allowed on Node's main thread; hold times are a few
 * microseconds.
 */

import { availableParallelism } from 'node:os'
import { threadId } from 'node:worker_threads'
import { isThisThreadSupervised } from './supervised-threads.js'
import { assertNumberAtLeast } from './validate.js'

/** CAS attempts before sleeping; spinning is useless on a single CPU (nginx spins only when `ngx_ncpu > 1`). */
const SPIN_LIMIT = availableParallelism() > 1 ? 64 : 0

/**
 * Longest single `Atomics.wait`, in ms. Waiting in slices bounds how late a
 * waiter notices that an unsupervised owner is presumed dead.
 */
const WAIT_SLICE_MS = 50

/** Bit 1 of a lock word: its owner has a supervisor that reaps it when it dies. */
const SUPERVISED = 2

/**
 * The default of `ownerDeadAfter`: how long, in real ms, a waiter watches
 * the lock word of an owner *without a supervisor* keep one value, with no
 * release waking it and no progress reported, before it presumes the owner
 * dead and takes the mutex over. Such deaths are rare (a worker created by
 * a thread that never used mlcache): a supervised owner is never presumed
 * dead. Thirty seconds is far above the longest GC pauses seen under
 * memory pressure (under 2 s); a stalled unsupervised owner costs its
 * waiters this long once. Operations that walk every entry bump a progress
 * word as they go, so a long walk never looks dead.
 */
const OWNER_DEAD_AFTER_MS = 30_000

/**
 * Validates an `ownerDeadAfter` option: `undefined` for the default
 * ({@link OWNER_DEAD_AFTER_MS}), a number of ms >= 1, or `Infinity` (never).
 *
 * @throws {TypeError | RangeError} naming `options.ownerDeadAfter`
 */
export function resolveOwnerDeadAfter(ownerDeadAfter: unknown): number {
  if (ownerDeadAfter === undefined) return OWNER_DEAD_AFTER_MS
  if (ownerDeadAfter !== Number.POSITIVE_INFINITY) assertNumberAtLeast(ownerDeadAfter, 'options.ownerDeadAfter', 1)
  return ownerDeadAfter as number
}

/** Milliseconds between two checks of an unsupervised thread's registration (see {@link ownLockWord}). */
const RECHECK_SUPERVISION_MS = 1000

let ownWord = 0
let supervisionCheckedAt = Number.NEGATIVE_INFINITY

/**
 * This thread's lock word, contended bit clear, with the supervised bit
 * once `supervised-threads.ts` knows a supervisor will reap this thread.
 * Asked on first use, then again at most once a second from the contended
 * path while the answer is no (a creator registers its worker a moment after
 * constructing it).
 */
export function ownLockWord(): number {
  return ownWord !== 0 ? ownWord : (ownWord = lockWordOf(threadId, isThisThreadSupervised()))
}

function recheckSupervision(): void {
  if ((ownWord & SUPERVISED) !== 0) return
  const now = performance.now()
  if (now - supervisionCheckedAt < RECHECK_SUPERVISION_MS) return
  supervisionCheckedAt = now
  ownWord = 0
}

/**
 * Takes the mutex at `i32[index]` with this thread's word
 * ({@link ownLockWord}, read again after it returns to know the word it
 * holds); owners bump `i32[progress]` during long critical sections. A
 * waiter presumes an unsupervised owner dead after `ownerDeadAfter` ms
 * without progress (`Infinity`: never). Answers 0, or the lock word of the
 * owner it presumed dead and took the mutex from: the caller then owns the
 * mutex and must repair what that owner left.
 */
export function acquireMutex(i32: Int32Array, index: number, progress: number, ownerDeadAfter: number): number {
  return Atomics.compareExchange(i32, index, 0, ownLockWord()) === 0
    ? 0
    : acquireContended(i32, index, progress, ownerDeadAfter)
}

function acquireContended(i32: Int32Array, index: number, progress: number, ownerDeadAfter: number): number {
  recheckSupervision()
  const self = ownLockWord()
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (Atomics.load(i32, index) === 0 && Atomics.compareExchange(i32, index, 0, self) === 0) return 0
  }
  // The word being timed (always with the contended bit), the progress
  // word seen with it, and since when, in real time.
  let watched = 0
  let watchedProgress = 0
  let since = 0
  for (;;) {
    let word = Atomics.load(i32, index)
    if (word === 0) {
      if (Atomics.compareExchange(i32, index, 0, self | 1) === 0) return 0
      continue
    }
    if ((word & 1) === 0) {
      if (Atomics.compareExchange(i32, index, word, word | 1) !== word) continue
      word |= 1
    }
    const seenProgress = Atomics.load(i32, progress)
    if (word !== watched || seenProgress !== watchedProgress) {
      watched = word
      watchedProgress = seenProgress
      since = performance.now()
    } else if ((word & SUPERVISED) === 0 && performance.now() - since >= ownerDeadAfter) {
      if (stealMutex(i32, index, word, self)) return word
      continue
    }
    // 'ok' means a release notified this waiter: the owner of the moment is
    // alive, even if it (or another) took the lock again with the same word.
    if (Atomics.wait(i32, index, word, WAIT_SLICE_MS) === 'ok') watched = 0
  }
}

/**
 * Takes over the mutex at `i32[index]` from the owner whose lock word is
 * `observed`, for `self`, keeping the contended bit (others may sleep on
 * it): one CAS, so of several threads stealing at once exactly one wins.
 * Answers whether it did. Only for an owner known or presumed dead.
 */
function stealMutex(i32: Int32Array, index: number, observed: number, self: number): boolean {
  return Atomics.compareExchange(i32, index, observed, self | (observed & 1)) === observed
}

/** The lock word of thread `threadId`, contended bit clear: `(threadId + 1) << 2 | supervised << 1` (0 stays "free"). */
export function lockWordOf(threadId: number, supervised: boolean): number {
  return ((threadId + 1) << 2) | (supervised ? SUPERVISED : 0)
}

/** The thread id a lock word names as owner. */
export function ownerOf(word: number): number {
  return (word >>> 2) - 1
}

/**
 * nginx's `ngx_shmtx_force_unlock(mtx, pid)`, for a supervisor that saw
 * thread `deadThreadId` die: if that thread owns the mutex at `i32[index]`,
 * takes it over for this thread. Retries while the word still names the
 * dead owner, since a waiter may set the contended bit between the read and
 * the CAS. Answers the word taken over (the caller owns the mutex with
 * {@link ownLockWord}, repairs and releases it), or 0 when the dead thread
 * did not own it.
 */
export function stealFromDead(i32: Int32Array, index: number, deadThreadId: number): number {
  const self = ownLockWord()
  for (;;) {
    const word = Atomics.load(i32, index)
    if (word === 0 || ownerOf(word) !== deadThreadId) return 0
    if (stealMutex(i32, index, word, self)) return word
  }
}

/**
 * Releases the mutex at `i32[index]` that this thread took with the word
 * `held` (contended bit clear), waking one waiter if any may sleep. Answers
 * false, releasing nothing, when the word is no longer its own: a waiter
 * presumed this owner dead and took the mutex over meanwhile.
 */
export function releaseMutex(i32: Int32Array, index: number, held: number): boolean {
  const word = Atomics.compareExchange(i32, index, held, 0)
  if (word === held) return true
  // Only a waiter can have changed the word since: by setting the contended
  // bit (then it is ours to clear, once) or by taking the mutex over.
  if (word !== (held | 1) || Atomics.compareExchange(i32, index, word, 0) !== word) return false
  Atomics.notify(i32, index, 1)
  return true
}
