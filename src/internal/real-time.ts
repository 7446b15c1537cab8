/**
 * Real time, in epoch milliseconds: for loader-lock leases and waits, which
 * must never follow an injected clock (a fake clock that stands still would
 * keep a dead holder's lease forever; one that jumps would end a live
 * holder's lease early), and the default clock of the buses' `uniqueTimeout`
 * windows.
 * `performance.timeOrigin + performance.now()` is monotonic within a thread
 * (unlike `Date.now()`, which NTP may step) and agrees across the threads
 * of a process to within a millisecond, since each thread's origin is taken
 * from the wall clock when it starts.
 */
export function realTime(): number {
  return performance.timeOrigin + performance.now()
}
