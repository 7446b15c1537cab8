/**
 * When a bus member handles what it received (lua-resty-events' event
 * thread, as turns of the event loop). The first turn starts from a
 * microtask: still after `publish` returns, but before the publisher's next
 * `await` resumes, so a tight loop of awaited publishes (a warm-up writing
 * thousands of keys) cannot pile up `maxQueueLen` events behind it. A pump
 * handles up to `EVENTS_PER_TURN` events per turn, and floods continue
 * from `setImmediate`, so I/O is never starved.
 */
export class DeliveryTurns {
  readonly #pump: () => Promise<void>
  #pumping = false
  #immediate: NodeJS.Immediate | undefined

  /** @param pump - one turn: ends with {@link DeliveryTurns.idle} or {@link DeliveryTurns.later}, or stops (closed); never rejects */
  constructor(pump: () => Promise<void>) {
    this.#pump = pump
  }

  /** Starts a turn from a microtask, unless one is running or due. */
  schedule(): void {
    if (this.#pumping) return
    this.#pumping = true
    queueMicrotask(this.#turn)
  }

  /**
   * The pump found nothing left: the next {@link DeliveryTurns.schedule}
   * starts a turn. Call it synchronously after the check that found the
   * queue empty, so that no event queued in between is left waiting.
   */
  idle(): void {
    this.#pumping = false
  }

  /** The pump handled a turn's worth: the next turn runs from `setImmediate`. */
  later(): void {
    this.#immediate = setImmediate(this.#turn)
  }

  /** Cancels a turn due from `setImmediate` and schedules none again (the member closed). */
  stop(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate)
    this.#immediate = undefined
    this.#pumping = true
  }

  readonly #turn = (): void => {
    this.#immediate = undefined
    void this.#pump()
  }
}
