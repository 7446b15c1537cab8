/**
 * The broker's bounded queue toward one member of a ClusterBus
 * (lua-resty-events keeps a queue of `max_queue_len` per worker connection
 * and drops on overflow; here the overflow is announced instead).
 */
import type { ToMember } from './cluster-bus-wire.js'

/** The reason carried by the resync event of an overflow. */
export const OVERFLOW_REASON = 'overflow'

/**
 * Counts the events sent to a member and not yet acknowledged as handled
 * (they sit in the IPC channel, in Node's write buffer, or in the member's
 * inbox: the broker itself holds none). At `limit` in flight the member is
 * behind: further events for it are dropped, and once it acknowledges
 * some, a resync message goes first, then events again. So the memory
 * spent on a stalled member stays bounded, and it never misses an event
 * without being told. Drain marks are never dropped: held behind a pending
 * resync, so that a `drain()` never resolves before the resync has been
 * handled.
 */
export class MemberQueue {
  readonly #send: (message: ToMember) => void
  readonly #limit: number
  #inFlight = 0
  #lost = false
  #heldMarks: number[] = []

  /**
   * @param send - writes a message to the member (never throws)
   * @param limit - the most events in flight (`maxQueueLen`)
   */
  constructor(send: (message: ToMember) => void, limit: number) {
    this.#send = send
    this.#limit = limit
  }

  /** Sends an event, or drops it if the member is `limit` behind. */
  event(message: ToMember & { k: 'ev' }): void {
    if (this.#lost || this.#inFlight >= this.#limit) {
      this.#lost = true
      return
    }
    this.#inFlight++
    this.#send(message)
  }

  /** Sends a message that is not counted (membership, welcome): it is never dropped. */
  control(message: ToMember): void {
    this.#send(message)
  }

  /** Sends a drain mark behind everything sent so far (behind a pending resync). */
  mark(id: number): void {
    if (this.#lost) this.#heldMarks.push(id)
    else this.#send({ k: 'mark', id })
  }

  /** The member handled `count` more events; a pending resync goes out first. */
  acknowledge(count: number): void {
    this.#inFlight = Math.max(0, this.#inFlight - count)
    if (!this.#lost || this.#inFlight >= this.#limit) return
    this.#lost = false
    this.#inFlight++
    this.#send({ k: 'resync', reason: OVERFLOW_REASON })
    for (const id of this.#heldMarks.splice(0)) this.#send({ k: 'mark', id })
  }
}
