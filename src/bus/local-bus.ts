/**
 * The default bus: one member, in-process. lua-resty-events with a single
 * worker, minus the sockets: events still go through a queue and are
 * delivered asynchronously, so code written against it behaves the same on
 * the cross-thread buses.
 */
import type { EventBus, EventBusOptions, EventHandler, EventBusTarget } from './event-bus.js'
import { EVENTS_PER_TURN, assertPublishable, readBusClock, resolveBusOptions, type ResolvedBusOptions } from './bus-options.js'
import { DrainWaiters } from './drain-waiters.js'
import { decodeEvent, encodeEvent } from './payload.js'
import { Subscriptions } from './subscriptions.js'
import { UniqueDedup } from './unique-dedup.js'
import { assertTimerDuration } from '../internal/validate.js'
import { DeliveryTurns } from './delivery-turns.js'

interface QueuedEvent {
  readonly seq: number
  readonly source: string
  readonly event: string
  readonly data: unknown
  readonly workerId: number | undefined
}

/**
 * A single-thread {@link EventBus}: the only member (`workerId` 0) receives
 * `'all'`, `'current'` and every unique target.
 *
 * - One FIFO queue, drained from a microtask (then `setImmediate` for floods),
 *   so delivery is never inside
 *   `publish` and follows publish order across all targets (tighter than
 *   lua-resty-events, where `'current'` may overtake an earlier `'all'`).
 *   Handlers run one at a time, a returned promise awaited before the next.
 * - `'all'` and unique payloads are structured-cloned at publish time and
 *   limited by `maxPayloadLen`, exactly as the cross-thread buses do.
 *   `'current'` payloads are delivered as is, uncopied and not size-checked:
 *   lua-resty-events pushes them straight into the local queue, and
 *   measuring them would cost the copy that `'current'` exists to avoid.
 *   They count against `maxQueueLen` like any event.
 * - A unique hash published again within `uniqueTimeout` (as the `clock`
 *   option measures it) is dropped at publish time (the publish still
 *   resolves).
 * - {@link LocalBus.close} stops delivery: handlers of queued events are not
 *   called, nor are the remaining handlers of the event in flight. Later
 *   `subscribe` calls are accepted (and answer ids) but nothing is delivered
 *   any more.
 */
export class LocalBus implements EventBus {
  /** Always 0: the only member. */
  readonly workerId = 0
  /** {@link EventBus.reach}: this thread. */
  readonly reach = 'thread'
  readonly #options: ResolvedBusOptions
  readonly #subscriptions = new Subscriptions()
  readonly #dedup: UniqueDedup
  readonly #stop = new AbortController()
  #queue: QueuedEvent[] = []
  #published = 0 // seq of the last queued event
  #handled = 0 // seq of the last handled event
  readonly #drains = new DrainWaiters<number>()
  readonly #isHandled = (seq: number): boolean => seq <= this.#handled
  readonly #turns = new DeliveryTurns(() => this.#pump())

  /**
   * @param options - see {@link EventBusOptions}
   * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
   */
  constructor(options?: EventBusOptions) {
    this.#options = resolveBusOptions(options)
    this.#dedup = new UniqueDedup(this.#options.uniqueTimeout)
  }

  /**
   * Queues an event for this member.
   * @throws {TypeError} (rejects) `target`, `source` or `event` is not a non-empty string, or
   *   the `clock` option answered something other than a finite number (unique targets)
   * @throws {BusError} (rejects) bus closed, queue full, payload too large or not cloneable
   */
  async publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void> {
    const { maxQueueLen, maxPayloadLen } = this.#options
    assertPublishable(target, source, event, this.#stop.signal.aborted, this.#queue.length, maxQueueLen)
    const current = target === 'current'
    // Encode before claiming a unique hash: a refused event must not use up its window.
    const payload = current ? data : decodeEvent(encodeEvent(source, event, data, maxPayloadLen)).data
    if (!current && target !== 'all' && !this.#dedup.claim(target, readBusClock(this.#options.clock))) return
    const workerId = current ? undefined : this.workerId
    this.#queue.push({ seq: ++this.#published, source, event, data: payload, workerId })
    this.#turns.schedule()
    // Backpressure: a loop of awaited publishes runs on microtasks only and
    // would fill the queue before the pump's next setImmediate turn. Half
    // full, the publisher yields one turn (only one: a handler publishing
    // into its own bus must not wait for itself), as WorkerBus does.
    if (this.#queue.length * 2 >= maxQueueLen) await new Promise((resolve) => setImmediate(resolve))
  }

  /**
   * Subscribes a handler; `'*'` matches any source or event. Dispatch order
   * is described on {@link Subscriptions}.
   * @throws {TypeError} `source`/`event` is not a non-empty string, or `handler` is not a function
   */
  subscribe(source: string, event: string, handler: EventHandler): number {
    return this.#subscriptions.add(source, event, handler)
  }

  /**
   * Removes a subscription; answers whether it existed.
   * @throws {TypeError} `id` is not a number
   */
  unsubscribe(id: number): boolean {
    return this.#subscriptions.delete(id)
  }

  /** `[0]`, or `[]` once closed (the only member has left). */
  workers(): number[] {
    return this.#stop.signal.aborted ? [] : [this.workerId]
  }

  /**
   * Resolves once every event published before the call has been handled,
   * or after `timeout` ms, or when the bus closes. Awaiting it inside a
   * handler without a timeout never resolves: that handler's event counts.
   * @param timeout - the most milliseconds to wait
   * @defaultValue timeout no limit
   * @throws {TypeError | RangeError} (rejects) `timeout` is not a duration
   */
  async drain(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertTimerDuration(timeout, 'timeout')
    const seq = this.#published
    if (this.#handled >= seq || this.#stop.signal.aborted) return
    return this.#drains.wait(seq, timeout)
  }

  /**
   * Closes the bus; idempotent. Queued events are dropped, pending `drain()`
   * calls resolve and no timer or immediate is left behind. A handler in
   * flight is not awaited (a handler may itself close the bus).
   */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return
    this.#stop.abort()
    this.#turns.stop()
    this.#queue = []
    this.#dedup.clear()
    this.#drains.releaseAll()
  }

  /** Handles up to {@link EVENTS_PER_TURN} events, then yields. Never rejects. */
  async #pump(): Promise<void> {
    for (let count = 0; count < EVENTS_PER_TURN; count++) {
      const next = this.#queue.shift()
      if (next === undefined) return this.#turns.idle()
      const { source, event, data, workerId } = next
      await this.#subscriptions.dispatch(source, event, data, workerId, this.#options.onError, this.#stop.signal)
      if (this.#stop.signal.aborted) return
      this.#handled = next.seq
      this.#drains.releaseSettled(this.#isHandled)
    }
    this.#turns.later()
  }
}
