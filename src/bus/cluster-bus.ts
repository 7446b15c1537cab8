/**
 * The node:cluster bus: lua-resty-events' model (a broker relaying every
 * worker's events) with the primary as the broker, over cluster's own IPC
 * channels: no server, no port, no shared memory. See {@link ClusterBus}.
 */
import cluster from 'node:cluster'
import { BUS_RESYNC_EVENT, BUS_SOURCE } from './event-bus.js'
import type { EventBus, EventHandler, EventBusTarget } from './event-bus.js'
import { assertPublishable, type ResolvedBusOptions } from './bus-options.js'
import { ClusterBroker, PRIMARY_WORKER_ID } from './cluster-bus-broker.js'
import { type ChannelEvents, type ClusterChannel, directChannel, openWorkerChannel } from './cluster-bus-channel.js'
import { Inbox, type InboxItem } from './cluster-bus-inbox.js'
import { resolveAttachOptions, resolveCreateOptions } from './cluster-bus-options.js'
import type { ClusterBusAttachOptions, ClusterBusOptions } from './cluster-bus-options.js'
import { fromWire, toWire, type ToMember } from './cluster-bus-wire.js'
import { DrainWaiters } from './drain-waiters.js'
import { decodeEvent, encodeEvent } from './payload.js'
import { Subscriptions } from './subscriptions.js'
import { BusError } from '../errors.js'
import { assertTimerDuration } from '../internal/validate.js'
import { answerPageEvents } from '../pages/page-events.js'

export type { ClusterBusAttachOptions, ClusterBusOptions } from './cluster-bus-options.js'
export { isClusterBusMessage } from './cluster-bus-wire.js'

/** What a member's constructor is given to reach the broker. */
interface Connection {
  readonly channel: ClusterChannel
  /** Run by `close()` after the `bye`: the primary's member closes its broker. */
  readonly close: () => void
}

/** The member open in this worker process, if any: its `workerId` is the process's. */
let attachedHere: ClusterBus | undefined

/**
 * An {@link EventBus} across the processes of one node:cluster:
 * `ClusterBus.create(options)` in the primary (its broker, and a member
 * with `workerId` 0), `ClusterBus.attach(options)` in each worker process
 * (a member whose `workerId` is `cluster.worker.id`). Both are synchronous;
 * nothing is passed by hand, cluster's IPC channel carries everything.
 *
 * - **Delivery.** A member sends its `'all'` and unique events to the
 *   broker, which relays them in the order it receives them: `'all'` to
 *   every member (the publisher included, which receives its own events
 *   back as copies), a unique hash to one member (the publisher, or the
 *   lowest live `workerId` if it has left), dropped if the same hash was
 *   routed within `uniqueTimeout` (measured by the broker's `clock`). Each
 *   member handles its events one at a time, serially, awaiting handlers,
 *   errors to `onError`. Order is per publisher (each IPC channel is FIFO),
 *   and consistent across members for events relayed by the broker.
 *   `'current'` events stay in the publisher's process, uncopied, queued
 *   behind what it has received. Delivery is never inside `publish`.
 * - **Bounded queues and missed events.** The broker counts, per member,
 *   the events it sent that the member has not yet acknowledged as handled
 *   (members acknowledge after every turn of their queue). At `maxQueueLen`
 *   (the primary's) the member is behind, its event loop stalled or its
 *   handlers slow: further events for it are dropped, and as soon as it
 *   acknowledges again the broker sends it a resync first (`BUS_SOURCE`,
 *   `BUS_RESYNC_EVENT`, `{ reason: 'overflow' }`), so every MLCache on it
 *   clears its L1. Never a silent drop; other members are not held up.
 *   `publish` rejects with `BusError` when `maxQueueLen` events of this
 *   member are waiting (not yet written to the channel, or not yet handled
 *   here), or when an event is over `maxPayloadLen`.
 * - **Lifecycle.** `workers()` lists the live members, as the broker last
 *   announced them. A worker's `attach` publishes `('worker', 'start',
 *   { workerId, crashed: false })` to the other members; its `close()`
 *   `('worker', 'exit', { workerId, crashed: false })`. A worker process
 *   that goes away without closing its member (killed, crashed, exited, or
 *   disconnected) is announced by the broker when cluster reports it, with
 *   `crashed: true` (cluster's `'disconnect'` before a `close()`, or
 *   `'exit'` with a signal or a non-zero code), under the primary's
 *   `workerId`; events the broker had sent it are lost with it. A respawned
 *   worker process is a new member: cluster gives it a new `worker.id`,
 *   never reused, so ids never alias a dead member. A member joins with no
 *   replay of earlier events.
 * - **Closing.** A worker's `close()` ends that member. The primary's
 *   `close()` also closes the broker: every worker member receives the
 *   primary's `'exit'`, then its `'all'` and unique publishes reject with
 *   `BusError`, and `workers()` answers only itself. If the channel to the
 *   primary closes, a worker member delivers a resync (`{ reason:
 *   'disconnected' }`) and behaves the same.
 * - **The channel.** Messages carry a tag (see {@link isClusterBusMessage})
 *   and only plain strings and numbers (events are encoded first), so they
 *   work with either `serialization` of `cluster.setupPrimary`, and the
 *   application's own IPC messages are left alone. The application's
 *   `process.on('message')` and `cluster.on('message')` listeners do see
 *   ours: skip them with {@link isClusterBusMessage}.
 */
export class ClusterBus implements EventBus {
  /** 0 for the primary's member, `cluster.worker.id` in a worker process. */
  readonly workerId: number
  /** {@link EventBus.reach}: the processes of this host. */
  readonly reach = 'host'
  readonly #options: ResolvedBusOptions
  readonly #subscriptions = new Subscriptions()
  readonly #stop = new AbortController()
  readonly #inbox: Inbox
  readonly #drains = new DrainWaiters<number>()
  readonly #connection: Connection
  /** The live members as the broker last said; empty until its welcome. */
  #ids: readonly number[] = []
  #welcomed = false
  /** Why the broker can no longer be reached, once it cannot. */
  #brokerGone: string | undefined
  /** Publishes handed to the channel and not yet written. */
  #sending = 0
  #lastMark = 0
  #markHandled = 0
  readonly #isMarked = (id: number): boolean => id <= this.#markHandled

  /**
   * Creates the broker and the primary's member. Create it before forking
   * workers; workers attached earlier are asked to say hello again.
   * @param options - see {@link ClusterBusOptions}
   * @throws {Error} this process is a cluster worker, or a ClusterBus is already open here
   * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
   */
  static create(options?: ClusterBusOptions): ClusterBus {
    if (!cluster.isPrimary) {
      throw new Error(`ClusterBus.create() must be called in the cluster primary, not in cluster worker ${cluster.worker?.id ?? '?'}; call ClusterBus.attach() there`)
    }
    const resolved = resolveCreateOptions(options)
    return new ClusterBus(PRIMARY_WORKER_ID, resolved, (events) => {
      const broker = new ClusterBroker(resolved, (message) => events.message(message))
      return { channel: directChannel((message) => broker.receive(PRIMARY_WORKER_ID, message)), close: () => broker.close() }
    })
  }

  /**
   * Joins this worker process to the bus of its primary.
   * @param options - see {@link ClusterBusAttachOptions}
   * @throws {Error} this process is not a cluster worker, its channel is closed, or it already has an open member
   * @throws {TypeError | RangeError} an option is invalid or unknown (`uniqueTimeout` and `clock` are the primary's); the message names it
   */
  static attach(options?: ClusterBusAttachOptions): ClusterBus {
    const resolved = resolveAttachOptions(options)
    const worker = cluster.isWorker ? cluster.worker : undefined
    if (worker === undefined) {
      throw new Error('ClusterBus.attach() must be called in a cluster worker process (cluster.isWorker is false here); call ClusterBus.create() in the primary')
    }
    if (attachedHere !== undefined) throw new Error(`ClusterBus.attach(): this worker process (cluster worker ${worker.id}) already has an open ClusterBus; close it first`)
    const bus = new ClusterBus(worker.id, resolved, (events) => ({ channel: openWorkerChannel(events), close: () => undefined }))
    attachedHere = bus
    return bus
  }

  private constructor(workerId: number, options: ResolvedBusOptions, connect: (events: ChannelEvents) => Connection) {
    this.workerId = workerId
    this.#options = options
    this.#inbox = new Inbox(this.#handle, this.#acknowledge, this.#stop.signal)
    this.#connection = connect({ message: this.#receive, disconnect: this.#disconnected })
    answerPageEvents(this)
  }

  /**
   * Publishes an event; resolves once it is handed to the broker (written
   * to the IPC channel, in a worker).
   * @throws {TypeError} (rejects) `target`, `source` or `event` is not a non-empty string
   * @throws {BusError} (rejects) bus closed, broker unreachable, queue full, payload too large or not cloneable
   */
  async publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void> {
    const { maxQueueLen, maxPayloadLen } = this.#options
    assertPublishable(target, source, event, this.#stop.signal.aborted, this.#sending + this.#inbox.own, maxQueueLen)
    if (target === 'current') {
      this.#inbox.push({ source, event, data, workerId: undefined, counted: false, own: true })
    } else {
      const payload = toWire(encodeEvent(source, event, data, maxPayloadLen))
      if (this.#brokerGone !== undefined) throw new BusError(`failed to publish event: ${this.#brokerGone}`)
      const { channel } = this.#connection
      if (channel.direct) await channel.send({ k: 'pub', t: target, b: payload })
      else {
        this.#sending++
        try {
          await channel.send({ k: 'pub', t: target, b: payload })
        } finally {
          this.#sending--
        }
      }
    }
    // Backpressure, as LocalBus: half full, the publisher yields one turn so that a loop of awaited publishes lets the queue drain.
    if ((this.#sending + this.#inbox.own) * 2 >= maxQueueLen) await new Promise((resolve) => setImmediate(resolve))
  }

  /**
   * Subscribes a handler; `'*'` matches any source or event (dispatch order: see `Subscriptions`).
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

  /** The live members' ids, ascending, as the broker last announced them (this member alone before its welcome, or once the broker is gone; `[]` once closed). */
  workers(): number[] {
    if (this.#stop.signal.aborted) return []
    if (!this.#welcomed || this.#brokerGone !== undefined) return [this.workerId]
    return [...this.#ids]
  }

  /**
   * Resolves once every event the broker sent this member before it
   * received the request, and every `'current'` event published here before
   * the call, has been handled; or after `timeout` ms, or when the member
   * closes. Awaiting it inside a handler without a timeout never resolves.
   * @param timeout - the most milliseconds to wait
   * @defaultValue timeout no limit
   * @throws {TypeError | RangeError} (rejects) `timeout` is not a duration
   */
  async drain(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertTimerDuration(timeout, 'timeout')
    if (this.#stop.signal.aborted) return
    const id = ++this.#lastMark
    const waiting = this.#drains.wait(id, timeout)
    if (this.#brokerGone !== undefined) this.#pushMark(id)
    else void this.#connection.channel.send({ k: 'drain', id }).catch(() => this.#pushMark(id))
    return waiting
  }

  /**
   * Closes this member; idempotent. A worker's member says `bye` (the
   * others receive its `'exit'`, `crashed: false`); the primary's closes
   * the broker too. Queued events are dropped, pending `drain()`s resolve;
   * a handler in flight is not awaited.
   */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return
    this.#stop.abort()
    this.#inbox.stop()
    this.#drains.releaseAll()
    if (attachedHere === this) attachedHere = undefined
    const { channel, close } = this.#connection
    if (this.#brokerGone === undefined && !channel.direct) await channel.send({ k: 'bye' }).catch(() => undefined)
    channel.close()
    close()
  }

  readonly #receive = (message: ToMember): void => {
    if (this.#stop.signal.aborted) return
    switch (message.k) {
      case 'welcome':
        this.#welcomed = true
        this.#ids = message.ids
        return
      case 'members':
        this.#ids = message.ids
        return
      case 'ev':
        return this.#event(message.w, message.b)
      case 'resync':
        return this.#inbox.push({ ...resync(message.reason), counted: true, own: false })
      case 'mark':
        return this.#pushMark(message.id)
      case 'ready':
        if (!this.#welcomed) this.#connection.channel.hello()
        return
      case 'closed':
        return this.#lostBroker("the primary's ClusterBus is closed")
    }
  }

  #event(workerId: number, payload: string): void {
    let decoded
    try {
      decoded = decodeEvent(fromWire(payload))
    } catch (error) {
      this.#options.onError(new BusError('an event from the broker could not be decoded', { cause: error }), { source: BUS_SOURCE, event: 'decode' })
      this.#acknowledge(1)
      return
    }
    const { source, event, data } = decoded
    this.#inbox.push({ source, event, data, workerId, counted: true, own: workerId === this.workerId })
  }

  #pushMark(id: number): void {
    this.#inbox.push({ source: BUS_SOURCE, event: 'drain', data: undefined, workerId: undefined, counted: false, own: false, mark: id })
  }

  /** The primary's channel closed under this worker: events may have been lost on the way. */
  readonly #disconnected = (): void => {
    if (this.#stop.signal.aborted || this.#brokerGone !== undefined) return
    this.#lostBroker('the IPC channel to the primary is closed')
    this.#inbox.push({ ...resync('disconnected'), counted: false, own: false })
  }

  #lostBroker(reason: string): void {
    this.#brokerGone = reason
    this.#ids = []
    // Marks the broker will never send back: settle those drains on what is queued here.
    for (let id = this.#markHandled + 1; id <= this.#lastMark; id++) this.#pushMark(id)
  }

  readonly #handle = async (item: InboxItem): Promise<void> => {
    if (item.mark !== undefined) {
      this.#markHandled = Math.max(this.#markHandled, item.mark)
      this.#drains.releaseSettled(this.#isMarked)
      return
    }
    await this.#subscriptions.dispatch(item.source, item.event, item.data, item.workerId, this.#options.onError, this.#stop.signal)
  }

  readonly #acknowledge = (count: number): void => {
    if (this.#brokerGone === undefined) void this.#connection.channel.send({ k: 'ack', n: count }).catch(() => undefined)
  }
}

function resync(reason: string): Pick<InboxItem, 'source' | 'event' | 'data' | 'workerId'> {
  return { source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason }, workerId: undefined }
}
