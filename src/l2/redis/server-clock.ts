/**
 * Redis's clock, read from this process without a round trip per read.
 *
 * Freshness is decided on the server's clock, never the host's (hosts whose
 * clocks disagree must agree on what is fresh). Asking Redis for the time
 * in every read would need a script, which costs the server about ten
 * times a plain `MGET`; instead the store asks for `TIME` at most once per
 * {@link SYNC_INTERVAL} and reads it in between from this process's
 * monotonic clock plus the measured offset. The estimate is off by at most
 * half the round trip of its `TIME` (the server answered somewhere between
 * sending and receiving), plus the drift of two clocks over a second:
 * a fraction of a millisecond on a local network.
 */
/** How long an offset is trusted before the next read asks for `TIME` again (ms). */
const SYNC_INTERVAL = 1_000

/** The offset between Redis's clock and this process's monotonic clock. */
export class ServerClock {
  /** Server ms minus `performance.now()`, once measured. */
  #offset = 0
  /** When the offset was measured (`performance.now()`), `-Infinity` before. */
  #measuredAt = Number.NEGATIVE_INFINITY
  #syncing: Promise<void> | undefined

  /** The server's time now (ms), or `undefined` when the offset needs measuring again. */
  now(): number | undefined {
    const local = performance.now()
    return local - this.#measuredAt < SYNC_INTERVAL ? Math.floor(local + this.#offset) : undefined
  }

  /**
   * Measures the offset with one `TIME` (`time` sends it); concurrent
   * callers share one measurement.
   * @throws what `time` rejects with
   */
  sync(time: () => Promise<(string | number)[]>): Promise<void> {
    this.#syncing ??= (async () => {
      try {
        const sent = performance.now()
        const [seconds, micros] = await time()
        const received = performance.now()
        this.#offset = Number(seconds) * 1000 + Number(micros) / 1000 - (sent + received) / 2
        this.#measuredAt = received
      } finally {
        this.#syncing = undefined
      }
    })()
    return this.#syncing
  }
}
