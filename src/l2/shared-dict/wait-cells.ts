/**
 * Asynchronous waiting on the loader-lock wait cells.
 * A lock key maps to one of the header's 256 Int32 cells; `unlock` bumps
 * the cell with `Atomics.add` and notifies it, waiters use
 * `Atomics.waitAsync`, never `Atomics.wait`: the holder may be another
 * async task of the same thread.
 */

import { H_WAIT_CELLS, WAIT_CELL_COUNT } from './layout.js'

/** The wait cell (an index into the header's Int32 view) of a lock key with hash `hash`. */
export function waitCellOf(hash: number): number {
  return H_WAIT_CELLS + (hash & (WAIT_CELL_COUNT - 1))
}

/** Largest `setTimeout` delay; longer waits are cut to it (an early wake-up is allowed). */
export const MAX_WAIT_MS = 0x7fff_ffff

/** Bumps the wait cell `i32[index]` and wakes everyone waiting on it. */
export function wakeCell(i32: Int32Array, index: number): void {
  Atomics.add(i32, index, 1)
  Atomics.notify(i32, index)
}

/**
 * Resolves once `i32[index]` no longer holds `seen` (it was bumped, or a
 * notify came), or after `ms` milliseconds. Never rejects.
 *
 * A pending `waitAsync` does not keep Node's event loop alive
 * (verified on Node 20), so it is raced with a
 * ref'd `setTimeout` of the same length, cleared by whichever wins.
 */
export function waitOnCell(i32: Int32Array, index: number, seen: number, ms: number): Promise<void> {
  const result = Atomics.waitAsync(i32, index, seen, ms)
  if (!result.async) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    void result.value.then(done)
    function done(): void {
      clearTimeout(timer)
      resolve()
    }
  })
}
