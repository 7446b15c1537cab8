/**
 * The robust mutex of every shared structure (the SharedDict and the
 * WorkerBus ring): a 3-state futex-style barging mutex with the owner in the
 * lock word. The word is `0` when free, else `(ownerId << 1) | contended`,
 * as nginx's `ngx_shmtx` keeps the owner pid in its lock word so a dead
 * owner can be found.
 *
 * - Acquire: one CAS `0 → self` (about 22 ns with the release); on failure a
 *   short spin on multi-core machines, then set the contended bit and
 *   `Atomics.wait` in slices. A thread that waited takes the lock *with* the
 *   contended bit, since it cannot know whether others still wait (Drepper's
 *   "mutex2").
 * - Release: `Atomics.exchange(word, 0)`, and `notify` only when the old
 *   value had the contended bit: a notify costs ~37 ns even with no waiter.
 * - Dead owner: `worker.terminate()` skips `finally` blocks, so a worker
 *   killed inside a critical section leaves its id in the word for good. A
 *   supervisor that sees the worker exit takes the word over at once with
 *   {@link stealFromDead} (nginx's `ngx_shmtx_force_unlock`, called by
 *   `ngx_unlock_mutexes` when the master reaps a worker); a waiter that finds
 *   the same word, and no sign of progress, for {@link OWNER_DEAD_AFTER_MS}
 *   steals it too, for deaths nobody supervises. Both then repair the
 *   structure (`DictCore`; the bus ring's readers check every record).
 *
 * Barging, not FIFO: a fair ticket lock collapses when threads outnumber
 * cores (measured 0.6M vs 34M ops/s with 4 threads on 2 vCPUs). Not
 * re-entrant; the dict never nests it and never runs user code under it.
 * `Atomics.wait` is allowed on Node's main thread; hold times are a few
 * microseconds.
 */

import { availableParallelism } from 'node:os'

/** CAS attempts before sleeping; spinning is useless on a single CPU (nginx spins only when `ngx_ncpu > 1`). */
const SPIN_LIMIT = availableParallelism() > 1 ? 64 : 0

/**
 * Longest single `Atomics.wait`, in ms. Waiting in slices bounds how late a
 * waiter notices that the owner is presumed dead.
 */
const WAIT_SLICE_MS = 50

/**
 * How long, in real ms, a waiter watches the lock word keep one value, with
 * no release waking it and no progress reported by the owner, before it
 * presumes the owner dead and steals the mutex: a fallback for deaths that
 * no supervisor reports (a worker created by another worker, which only its
 * creator sees exit).
 *
 * The trade-off: critical sections last microseconds and never run user
 * code, so a second is ~10^5 times the normal hold time, but a live owner
 * paused that long inside one (a debugger breakpoint, a stopped process, a
 * multi-second GC pause, a single copy of a value of gigabytes) would be
 * treated as dead and the dict reset under it. Operations that walk every
 * entry, the only long ones, bump a progress word as they go. With a
 * supervisor (WorkerBus calling `reapThread`) deaths are reaped as soon as
 * the worker exits and this timeout is never reached. Worst-case wait behind
 * a dead, unreaped owner: this plus one {@link WAIT_SLICE_MS}.
 */
export const OWNER_DEAD_AFTER_MS = 1000

/**
 * Takes the mutex at `i32[index]` for `self` (`ownerId << 1`); owners bump
 * `i32[progress]` during long critical sections. Answers 0, or the lock word
 * of the owner it presumed dead and stole the mutex from: the caller then
 * owns the mutex and must repair what that owner left.
 */
export function acquireMutex(i32: Int32Array, index: number, progress: number, self: number): number {
  return Atomics.compareExchange(i32, index, 0, self) === 0 ? 0 : acquireContended(i32, index, progress, self)
}

function acquireContended(i32: Int32Array, index: number, progress: number, self: number): number {
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
    } else if (performance.now() - since >= OWNER_DEAD_AFTER_MS) {
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
export function stealMutex(i32: Int32Array, index: number, observed: number, self: number): boolean {
  return Atomics.compareExchange(i32, index, observed, self | (observed & 1)) === observed
}

/** The lock word of thread `threadId`, contended bit clear: `(threadId + 1) << 1` (0 stays "free"). */
export function lockWordOf(threadId: number): number {
  return (threadId + 1) << 1
}

/** The thread id a lock word names as owner. */
export function ownerOf(word: number): number {
  return (word >>> 1) - 1
}

/**
 * nginx's `ngx_shmtx_force_unlock(mtx, pid)`, for a supervisor that saw
 * thread `deadThreadId` die: if that thread owns the mutex at `i32[index]`,
 * takes it over for `self`. Retries while the word still names the dead
 * owner, since a waiter may set the contended bit between the read and the
 * CAS. Answers the word taken over (the caller owns the mutex, repairs and
 * releases it), or 0 when the dead thread did not own it.
 */
export function stealFromDead(i32: Int32Array, index: number, deadThreadId: number, self: number): number {
  const dead = lockWordOf(deadThreadId)
  for (;;) {
    const word = Atomics.load(i32, index)
    if ((word & ~1) !== dead) return 0
    if (stealMutex(i32, index, word, self)) return word
  }
}

/** Releases the mutex at `i32[index]`, waking one waiter if any may sleep. */
export function releaseMutex(i32: Int32Array, index: number): void {
  if ((Atomics.exchange(i32, index, 0) & 1) !== 0) Atomics.notify(i32, index, 1)
}
