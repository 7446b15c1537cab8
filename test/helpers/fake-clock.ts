/** A clock tests move by hand, for every TTL of a cache or a dict. */
export interface FakeClock {
  readonly now: () => number
  advance(ms: number): void
}

/** A clock at `start` (a realistic epoch by default) that only `advance` moves. */
export function fakeClock(start = 1_700_000_000_000): FakeClock {
  let time = start
  return {
    now: () => time,
    advance(ms: number) {
      time += ms
    },
  }
}

/**
 * A {@link FakeClock} whose time lives in shared memory, so that threads read
 * one time that only `advance` (from any thread, by whole milliseconds)
 * moves: pass `buffer` to a worker and rebuild the clock there with
 * `sharedFakeClock(0, buffer)`.
 */
export interface SharedFakeClock extends FakeClock {
  /** The shared time: send it to workers (structured-cloneable, shared). */
  readonly buffer: SharedArrayBuffer
}

/**
 * A shared clock at `start` (a realistic epoch by default), or the clock of
 * an existing `buffer` (then `start` is ignored).
 */
export function sharedFakeClock(start = 1_700_000_000_000, buffer?: SharedArrayBuffer): SharedFakeClock {
  const time = new BigInt64Array(buffer ?? new SharedArrayBuffer(8))
  if (buffer === undefined) Atomics.store(time, 0, BigInt(start))
  return {
    buffer: time.buffer as SharedArrayBuffer,
    now: () => Number(Atomics.load(time, 0)),
    advance(ms: number) {
      Atomics.add(time, 0, BigInt(ms))
    },
  }
}
