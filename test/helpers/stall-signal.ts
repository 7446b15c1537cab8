/**
 * A stall a test controls: a worker blocks its own thread (as a long
 * synchronous task would) until the test releases it, so that whatever the
 * test does meanwhile (a flood of events, say) is certain to happen while the
 * worker is blocked, however slow the machine. No fixed duration is involved.
 *
 * The test makes a {@link StallSignal}, sends its `buffer` to the worker, has
 * the worker call {@link StallSignal.block}, awaits {@link StallSignal.stalled},
 * does its work, then calls {@link StallSignal.release} and awaits the
 * worker's answer. Safe to import from
 * worker entries: it needs nothing but Atomics.
 */

/** Int32 word the worker raises when it blocks. */
const STALLED = 0
/** Int32 word the test raises to end the stall. */
const RELEASED = 1

/** The most a worker stays blocked without a release: far beyond any test's timeout, so only a failed test ends a stall this way. */
const GUARD_MS = 60_000

/** One stall, shared between a test and a worker through its {@link StallSignal.buffer}. */
export class StallSignal {
  /** Send it to the worker (structured-cloneable, shared). */
  readonly buffer: SharedArrayBuffer
  readonly #flags: Int32Array

  /** A fresh signal, or the worker's view of the test's `buffer`. */
  constructor(buffer = new SharedArrayBuffer(8)) {
    this.buffer = buffer
    this.#flags = new Int32Array(buffer)
  }

  /**
   * Worker side: tells the test this thread is blocked, then blocks it
   * (`Atomics.wait`: no event, message or timer of this thread runs) until
   * the test releases it.
   * @throws {Error} no release came within a minute (the test failed first)
   */
  block(): void {
    Atomics.store(this.#flags, STALLED, 1)
    Atomics.notify(this.#flags, STALLED)
    const deadline = performance.now() + GUARD_MS
    while (Atomics.load(this.#flags, RELEASED) === 0) {
      const left = deadline - performance.now()
      if (left <= 0) throw new Error('the stall was never released')
      Atomics.wait(this.#flags, RELEASED, 0, left)
    }
  }

  /**
   * Test side: resolves once the worker is blocked, without blocking this
   * thread. `call` is the worker's pending answer to the command that blocks
   * it: if it settles first (the command failed, or the worker died), this
   * rejects instead of waiting for ever.
   */
  async stalled(call: Promise<unknown>): Promise<void> {
    let settled = false
    const failed = call.then(
      () => {
        throw new Error('the worker answered before it stalled')
      },
      (error: unknown) => {
        throw error
      },
    )
    const blocked = (async () => {
      while (!settled && Atomics.load(this.#flags, STALLED) === 0) {
        const waited = Atomics.waitAsync(this.#flags, STALLED, 0, 50)
        if (waited.async) await waited.value
      }
    })()
    try {
      await Promise.race([blocked, failed])
    } finally {
      settled = true
      failed.catch(() => {}) // the call's outcome is the test's to await
    }
  }

  /** Test side: ends the stall. */
  release(): void {
    Atomics.store(this.#flags, RELEASED, 1)
    Atomics.notify(this.#flags, RELEASED)
  }
}
