/**
 * The local queue of a ClusterBus member (lua-resty-events' per-worker
 * event queue and event thread): what the broker delivered and this
 * member's `'current'` events, handled one at a time in arrival order, with
 * the count of handled broker deliveries reported back so that the broker's
 * queue toward this member drains.
 */
import { EVENTS_PER_TURN } from './bus-options.js'
import { DeliveryTurns } from './delivery-turns.js'

/** One entry: an event to dispatch, or a drain mark. */
export interface InboxItem {
  readonly source: string
  readonly event: string
  readonly data: unknown
  readonly workerId: number | undefined
  /** Delivered by the broker under its per-member bound: acknowledged once handled. */
  readonly counted: boolean
  /** Published by this member (its own `'all'`/unique events read back, its `'current'` events): counts against its `maxQueueLen`. */
  readonly own: boolean
  /** A `drain()` mark's id: nothing is dispatched. */
  readonly mark?: number
}

/**
 * A FIFO queue pumped from a microtask, then `setImmediate` every
 * {@link EVENTS_PER_TURN} events (as LocalBus), so that delivery is never
 * inside `publish` and a flood does not starve the IPC channel.
 */
export class Inbox {
  readonly #handle: (item: InboxItem) => Promise<void>
  readonly #acknowledge: (count: number) => void
  readonly #signal: AbortSignal
  #queue: InboxItem[] = []
  #own = 0
  readonly #turns = new DeliveryTurns(() => this.#pump())

  /**
   * @param handle - dispatches one item (never rejects)
   * @param acknowledge - told, after each turn, how many counted items it handled
   * @param signal - aborted when the member closes: the queue stops
   */
  constructor(handle: (item: InboxItem) => Promise<void>, acknowledge: (count: number) => void, signal: AbortSignal) {
    this.#handle = handle
    this.#acknowledge = acknowledge
    this.#signal = signal
  }

  /** This member's own events still waiting to be handled. */
  get own(): number {
    return this.#own
  }

  /** The items waiting. */
  get length(): number {
    return this.#queue.length
  }

  push(item: InboxItem): void {
    if (this.#signal.aborted) return
    this.#queue.push(item)
    if (item.own) this.#own++
    this.#turns.schedule()
  }

  /** Drops what is waiting (the member closed). */
  stop(): void {
    this.#turns.stop()
    this.#queue = []
    this.#own = 0
  }

  async #pump(): Promise<void> {
    let counted = 0
    try {
      for (let count = 0; count < EVENTS_PER_TURN; count++) {
        const next = this.#queue.shift()
        if (next === undefined) return this.#turns.idle()
        await this.#handle(next)
        if (this.#signal.aborted) return
        if (next.own) this.#own--
        if (next.counted) counted++
      }
      this.#turns.later()
    } finally {
      if (counted > 0 && !this.#signal.aborted) this.#acknowledge(counted)
    }
  }
}
