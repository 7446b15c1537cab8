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
