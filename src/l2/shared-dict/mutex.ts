/**
 * The dict mutex: a 3-state futex-style barging mutex with the owner in the
 * lock word (shared-dict.md §2 "Contention", §3.6). The word is `0` when
 * free, else `(ownerId << 1) | contended`, as nginx's `ngx_shmtx` keeps the
 * owner pid in its lock word so a dead owner can be found.
 *
 * - Acquire: one CAS `0 → self` (about 22 ns with the release); on failure a
 *   short spin on multi-core machines, then set the contended bit and
 *   `Atomics.wait` in slices. A thread that waited takes the lock *with* the
 *   contended bit, since it cannot know whether others still wait (Drepper's
 *   "mutex2").
 * - Release: `Atomics.exchange(word, 0)`, and `notify` only when the old
 *   value had the contended bit: a notify costs ~37 ns even with no waiter.
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
 * waiter notices a lock word it must act on (the owner-death check of
 * crash recovery runs between slices).
 */
export const WAIT_SLICE_MS = 50

/** Takes the mutex at `i32[index]` for `self` (`ownerId << 1`). */
export function acquireMutex(i32: Int32Array, index: number, self: number): void {
  if (Atomics.compareExchange(i32, index, 0, self) !== 0) acquireContended(i32, index, self)
}

function acquireContended(i32: Int32Array, index: number, self: number): void {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    if (Atomics.load(i32, index) === 0 && Atomics.compareExchange(i32, index, 0, self) === 0) return
  }
  for (;;) {
    let word = Atomics.load(i32, index)
    if (word === 0) {
      if (Atomics.compareExchange(i32, index, 0, self | 1) === 0) return
      continue
    }
    if ((word & 1) === 0) {
      if (Atomics.compareExchange(i32, index, word, word | 1) !== word) continue
      word |= 1
    }
    Atomics.wait(i32, index, word, WAIT_SLICE_MS)
  }
}

/** Releases the mutex at `i32[index]`, waking one waiter if any may sleep. */
export function releaseMutex(i32: Int32Array, index: number): void {
  if ((Atomics.exchange(i32, index, 0) & 1) !== 0) Atomics.notify(i32, index, 1)
}
