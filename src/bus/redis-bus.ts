/**
 * The bus across processes and hosts: lua-resty-events' semantics over one
 * Redis pub/sub channel, with every way pub/sub loses messages turned into
 * the resync event. See {@link RedisBus}.
 */
import { randomInt } from 'node:crypto'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from './event-bus.js'
import type { EventBus, EventBusTarget, EventHandler } from './event-bus.js'
import { EVENTS_PER_TURN, assertPublishable, type ResolvedBusOptions } from './bus-options.js'
import { DrainWaiters } from './drain-waiters.js'
import { decodeEvent, encodeEvent, type EncodedEvent } from './payload.js'
import { RedisBusMembers } from './redis-bus-members.js'
import { resolveRedisBusOptions, type RedisBusOptions } from './redis-bus-options.js'
import { FrameSender } from './redis-bus-sender.js'
import { ChannelSubscription } from './redis-bus-subscription.js'
import { decodeFrame, type Frame, FRAME_ALL, FRAME_GOODBYE, FRAME_HEARTBEAT, FRAME_MARKER, FRAME_UNIQUE } from './redis-bus-wire.js'
import { Subscriptions } from './subscriptions.js'
import { BusError } from '../errors.js'
import { assertTimerDuration } from '../internal/validate.js'
import { RedisLink, type RedisConnection } from '../redis/redis-link.js'
import { answerPageEvents } from '../pages/page-events.js'
import { DeliveryTurns } from './delivery-turns.js'

export type { RedisBusOptions } from './redis-bus-options.js'

/**
 * How long a member's claim on a unique event lives (ms): far longer than
 * any member takes to read the event, so a slow member never finds the
 * claim gone and handles it a second time.
 */
const UNIQUE_CLAIM_TTL = 10 * 60_000

/** Why a resync event is delivered; its data is `{ reason }`. */
type ResyncReason = 'reconnect' | 'gap' | 'overflow' | 'silence' | 'unreadable'

/** One thing for the dispatch loop, in arrival order. */
interface Delivery {
  /** The event to dispatch; `undefined` for a frame of this member that only marks progress. */
  readonly event: (EncodedEvent & { readonly workerId: number | undefined }) | undefined
  /** A unique event's claim key: dispatched only by the member that sets it. */
  readonly claim: string | undefined
  /** This member's sequence number of the frame, 0 for others' frames and local events. */
  readonly own: number
  /** The number of a `'current'` event, 0 otherwise. */
  readonly local: number
}

/** What a `drain()` waits for: its marker frame (its sequence number once sent) and the `'current'` events before it. */
interface DrainMark {
  seq: number
  readonly local: number
}

/**
 * An {@link EventBus} over Redis pub/sub: every member with the same
 * `prefix` on one server, in any process or host, is on the bus.
 *
 * - **Members.** Each member's `workerId` is a random integer below 2^53,
 *   drawn in the constructor (so it is known at once and never reused, even
 *   after Redis restarts without persistence). Every member publishes a
 *   heartbeat each `heartbeatInterval` on the channel `${prefix}bus`;
 *   `workers()` lists this member and those heard within three intervals.
 *   Source `'worker'` events `'start'` and `'exit'` (`data: { workerId,
 *   crashed }`) are delivered to this member's handlers when another member
 *   is first heard (those already running when this one joins included, as
 *   their first heartbeat arrives), says goodbye (its `close()`: `crashed: false`) or falls
 *   silent for three intervals while this member's own heartbeats kept
 *   coming back (`crashed: true`; a member whose event loop is blocked that
 *   long counts as dead too, and starts again when heard).
 * - **Delivery.** Frames carry the publisher's `workerId` and a sequence
 *   number (redis-bus-wire.ts). Redis delivers the PUBLISHes of one channel
 *   in the order it ran them, so each publisher's events arrive in publish
 *   order; they are dispatched one at a time, handlers awaited, errors to
 *   `onError`. `'all'` events come back to the publisher through Redis like
 *   to everyone. `'current'` events never leave the process: uncopied,
 *   `workerId` undefined, delivered in order among themselves but not
 *   ordered against `'all'` events still travelling (as in lua-resty-events).
 * - **Starting.** The constructor returns at once; the bus is usable once
 *   its subscriber connection has subscribed. Publishes (and `drain()`)
 *   made before that wait for it, in order, at most `commandTimeout` each,
 *   then reject with `BusError`. Events published on the bus before the
 *   first subscription are not seen (and no resync is delivered for them):
 *   create the bus before the caches on it serve anything.
 * - **Unique targets.** The publisher runs one script that opens the hash's
 *   window (`SET ${prefix}bus:u:<hash> NX PX uniqueTimeout`) and publishes
 *   the event only if it opened it: the dedup runs on Redis's clock, across
 *   hosts (the `clock` option is accepted and not read). Each member that
 *   has a handler matching the event claims it (`SET ${prefix}bus:c:<publisher>:<seq> NX`)
 *   and only the winner handles it, so exactly one subscribing member does
 *   (none if the claim cannot reach Redis: that is reported to `onError`).
 * - **Losing events.** Pub/sub drops what is published while a subscriber
 *   is disconnected, and Redis kicks a subscriber over its output buffer
 *   limit. The resync event (`BUS_SOURCE`, `BUS_RESYNC_EVENT`, `{ reason }`)
 *   is delivered to this member's handlers, so every MLCache on it clears
 *   its L1, whenever events may have been lost: on every subscription after
 *   the first (`'reconnect'`), on a gap in a publisher's sequence numbers
 *   (`'gap'`), when the dispatch queue holds `maxQueueLen` events and one
 *   more arrives (dropped, `'overflow'`), when no frame of this member (not
 *   even a heartbeat) came back for three intervals (`'silence'`, delivered
 *   again once frames flow), and on a frame it cannot read (`'unreadable'`).
 * - **Limits.** `maxPayloadLen` applies to the encoded event (payload.ts).
 *   `publish` rejects with `BusError` when `maxQueueLen` events of this
 *   member wait (publishes not answered by Redis yet, `'current'` events not
 *   handled yet).
 * - **Outage.** Every Redis call is bounded by `commandTimeout` and fails at
 *   once while the link's circuit breaker is open: `publish` then rejects
 *   with `BusError` (`cause` says why) and nothing hangs. ioredis reconnects
 *   and re-subscribes by itself, and the bus then delivers the resync event.
 *   Connections made from a `url` get error listeners, so no `'error'`
 *   event goes unheard.
 */
export class RedisBus implements EventBus {
  /** This member's id: a random integer below 2^53, unique on the bus. */
  readonly workerId: number
  /** {@link EventBus.reach}: any process on any host. */
  readonly reach = 'network'
  readonly #options: ResolvedBusOptions
  readonly #prefix: string
  readonly #heartbeatInterval: number
  readonly #link: RedisLink
  readonly #sender: FrameSender
  readonly #subscription: ChannelSubscription
  readonly #subscriptions = new Subscriptions()
  readonly #stop = new AbortController()
  readonly #members: RedisBusMembers
  #ticker: NodeJS.Timeout | undefined
  #queue: Delivery[] = []
  /** The resync in the queue, not dispatched yet: later losses are covered by it. */
  #queuedResync: Delivery | undefined
  /** The resync for this member's silence was delivered; frames flowing again deliver another. */
  #silent = false
  #localPublished = 0
  #localHandled = 0
  /** `'current'` events in the queue. */
  #localQueued = 0
  /** The highest sequence number of this member's own frames handled here. */
  #ownHandled = 0
  readonly #drains = new DrainWaiters<DrainMark>()
  readonly #settled = (mark: DrainMark): boolean => mark.seq <= this.#ownHandled && mark.local <= this.#localHandled
  readonly #turns = new DeliveryTurns(() => this.#pump())

  /**
   * Connects (from `url`) or uses `client` (never closed by the bus; the
   * subscriber connection is its `duplicate()`), and starts subscribing.
   * @param options - see {@link RedisBusOptions}
   * @throws {TypeError | RangeError} an option is invalid or unknown, or not exactly one of `url` and `client` is given
   */
  constructor(options: RedisConnection & RedisBusOptions) {
    const resolved = resolveRedisBusOptions(options)
    this.#options = resolved.bus
    this.#prefix = resolved.prefix
    this.#heartbeatInterval = resolved.heartbeatInterval
    this.workerId = randomWorkerId()
    const channel = `${resolved.prefix}bus`
    this.#members = new RedisBusMembers(this.workerId, this.#heartbeatInterval, performance.now())
    this.#link = new RedisLink(resolved.connection, resolved.commandTimeout)
    this.#sender = new FrameSender(this.#link, channel, this.workerId, this.#options.uniqueTimeout)
    this.#subscription = new ChannelSubscription(this.#link.subscriber(), channel, {
      subscribed: (again) => this.#subscribed(again),
      message: (bytes) => this.#received(bytes),
    })
    // A member answers page swaps even in a process without caches.
    answerPageEvents(this)
  }

  /**
   * Publishes an event; see {@link RedisBus} for each target. Resolves once
   * Redis has run the PUBLISH (at once for `'current'`).
   * @throws {TypeError} (rejects) `target`, `source` or `event` is not a non-empty string
   * @throws {BusError} (rejects) bus closed, `maxQueueLen` events of this member waiting, payload too large
   *   or not cloneable, Redis unavailable or not subscribed in time (`cause` set)
   */
  async publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void> {
    const { maxQueueLen, maxPayloadLen } = this.#options
    assertPublishable(target, source, event, this.#stop.signal.aborted, this.#sender.waiting + this.#localQueued, maxQueueLen)
    if (target === 'current') {
      this.#localQueued++
      this.#enqueue({ event: { source, event, data, workerId: undefined }, claim: undefined, own: 0, local: ++this.#localPublished })
      return
    }
    const body = encodeEvent(source, event, data, maxPayloadLen)
    if (target === 'all') await this.#sender.send(FRAME_ALL, body)
    else await this.#sender.send(FRAME_UNIQUE, body, `${this.#prefix}bus:u:${target}`)
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

  /** This member and the members heard within three heartbeat intervals, ascending; `[]` once closed. */
  workers(): number[] {
    return this.#stop.signal.aborted ? [] : this.#members.live()
  }

  /**
   * Resolves once every event that reached Redis before the call (from any
   * member) has been handled here, and every `'current'` event published
   * before it; or after `timeout` ms; or when the bus closes. It publishes a
   * marker and waits for it to come back: Redis orders all PUBLISHes of the
   * channel, so everything before the marker has arrived by then. If the
   * marker cannot be published (Redis unavailable) nothing more can arrive
   * and it waits for the `'current'` events only; if it is lost on the way
   * back, the next frame of this member settles it (and the gap resyncs).
   * Awaiting it inside a handler without a timeout never resolves.
   * @param timeout - the most milliseconds to wait
   * @defaultValue timeout no limit
   * @throws {TypeError | RangeError} (rejects) `timeout` is not a duration
   */
  async drain(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertTimerDuration(timeout, 'timeout')
    if (this.#stop.signal.aborted) return
    const mark: DrainMark = { seq: Number.POSITIVE_INFINITY, local: this.#localPublished }
    const drained = this.#drains.wait(mark, timeout)
    this.#sender.send(FRAME_MARKER).then(
      (seq) => this.#markSent(mark, seq),
      () => this.#markSent(mark, 0),
    )
    return drained
  }

  /**
   * Leaves the bus; idempotent. Stops the heartbeats, publishes a goodbye
   * (the others deliver `'exit'` with `crashed: false`), rejects publishes
   * still waiting for the first subscription, drops undelivered events,
   * resolves pending `drain()`s and closes the connections the bus made (a
   * caller's client stays open). Nothing runs after it resolves. A handler
   * in flight is not awaited.
   */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return
    this.#stop.abort()
    clearInterval(this.#ticker)
    this.#turns.stop()
    this.#subscription.close()
    this.#queue = []
    this.#drains.releaseAll()
    const goodbye = this.#sender.opened ? this.#sender.send(FRAME_GOODBYE).catch(() => undefined) : undefined
    this.#sender.close()
    await goodbye
    await this.#link.close()
  }

  /** The subscription is in force: the first time, start; after a lost connection, resync. */
  #subscribed(again: boolean): void {
    if (this.#stop.signal.aborted) return
    if (again) {
      // The resync of the reconnect covers the silence and whatever was lost before it.
      this.#silent = false
      this.#members.resynced()
      this.#members.subscribed(performance.now())
      return this.#resync('reconnect')
    }
    this.#members.subscribed(performance.now())
    this.#sender.open()
    this.#heartbeat() // announces this member at once
    this.#ticker = setInterval(this.#tick, this.#heartbeatInterval)
  }

  /** Every heartbeat interval: send one, declare the silent members dead, check that this member still hears itself. */
  readonly #tick = (): void => {
    const members = this.#members
    this.#heartbeat()
    for (const workerId of members.reap()) this.#lifecycle('exit', workerId, true)
    if (!this.#silent && members.ownSilent(performance.now())) {
      this.#silent = true
      this.#resync('silence')
    }
  }

  #heartbeat(): void {
    // A failed heartbeat is its own report: the others stop hearing this member.
    this.#sender.send(FRAME_HEARTBEAT).catch(() => undefined)
  }

  /**
   * A frame arrived on the channel. Frames can arrive before the first
   * subscription is reported: ioredis emits the messages read with the
   * SUBSCRIBE reply before the reply's promise callbacks run.
   */
  #received(bytes: Buffer): void {
    const members = this.#members
    if (this.#stop.signal.aborted) return
    const frame = decodeFrame(bytes)
    if (frame === undefined) return this.#resync('unreadable')
    // Only this member's own frames end its silence: others' frames may arrive while its own publishes still fail.
    if (this.#silent && frame.publisher === this.workerId) {
      this.#silent = false
      this.#resync('silence')
    }
    const { gap, joined } = members.heard(frame.publisher, frame.seq, performance.now())
    if (gap) this.#resync('gap')
    if (joined) this.#lifecycle('start', frame.publisher, false)
    const own = frame.publisher === this.workerId ? frame.seq : 0
    if (frame.kind === FRAME_ALL || frame.kind === FRAME_UNIQUE) this.#receivedEvent(frame, own)
    else if (frame.kind === FRAME_GOODBYE && members.left(frame.publisher)) this.#lifecycle('exit', frame.publisher, false)
    else if (own !== 0) this.#enqueue({ event: undefined, claim: undefined, own, local: 0 })
  }

  #receivedEvent(frame: Frame, own: number): void {
    let event: EncodedEvent
    try {
      event = decodeEvent(frame.body)
    } catch {
      return this.#resync('unreadable')
    }
    if (this.#queue.length >= this.#options.maxQueueLen) {
      // Dropped; the handlers hear of it (lua-resty-events drops silently). Its own
      // progress still counts for drain(): a later frame of this member marks it.
      return this.#resync('overflow')
    }
    const claim = frame.kind === FRAME_UNIQUE ? `${this.#prefix}bus:c:${frame.publisher}:${frame.seq}` : undefined
    this.#enqueue({ event: { ...event, workerId: frame.publisher }, claim, own, local: 0 })
  }

  #lifecycle(event: 'start' | 'exit', workerId: number, crashed: boolean): void {
    this.#enqueue({ event: { source: WORKER_SOURCE, event, data: { workerId, crashed }, workerId }, claim: undefined, own: 0, local: 0 })
  }

  /** Queues the resync event, unless one is queued already (it is delivered after this loss too). */
  #resync(reason: ResyncReason): void {
    if (this.#queuedResync !== undefined) return
    this.#queuedResync = { event: { source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason }, workerId: undefined }, claim: undefined, own: 0, local: 0 }
    this.#enqueue(this.#queuedResync)
  }

  #markSent(mark: DrainMark, seq: number): void {
    mark.seq = seq
    this.#drains.releaseSettled(this.#settled)
  }

  #enqueue(delivery: Delivery): void {
    this.#queue.push(delivery)
    if (!this.#stop.signal.aborted) this.#turns.schedule()
  }

  /** Handles up to {@link EVENTS_PER_TURN} deliveries, then yields. Never rejects. */
  async #pump(): Promise<void> {
    const signal = this.#stop.signal
    for (let count = 0; count < EVENTS_PER_TURN; count++) {
      const next = this.#queue.shift()
      if (next === undefined || signal.aborted) return this.#turns.idle()
      const { event } = next
      if (next === this.#queuedResync) this.#queuedResync = undefined
      if (event !== undefined && (next.claim === undefined || (await this.#won(event, next.claim)))) {
        await this.#subscriptions.dispatch(event.source, event.event, event.data, event.workerId, this.#options.onError, signal)
      }
      if (signal.aborted) return
      if (next.own !== 0) this.#ownHandled = next.own
      if (next.local !== 0) {
        this.#localHandled = next.local
        this.#localQueued--
      }
      this.#drains.releaseSettled(this.#settled)
    }
    this.#turns.later()
  }

  /**
   * Claims a unique event for this member. Only a member with a handler for
   * it claims it (one that would do nothing with it must not take it from
   * the others); handlers are matched now, as dispatch matches them.
   */
  async #won(event: EncodedEvent, claim: string): Promise<boolean> {
    if (!this.#subscriptions.has(event.source, event.event)) return false
    try {
      const set = await this.#link.run((client) => client.set(claim, '1', 'PX', UNIQUE_CLAIM_TTL, 'NX'))
      return set === 'OK'
    } catch (cause) {
      const error = new BusError('failed to claim a unique event: nobody may handle it', { cause })
      this.#options.onError(error, { source: event.source, event: event.event })
      return false
    }
  }
}

/**
 * A random `workerId` below 2^53 (a safe integer): members of one bus share
 * an id with a probability of about n²/2^54 (under 10^-8 for 10,000).
 */
function randomWorkerId(): number {
  return randomInt(2 ** 47) * 64 + randomInt(64)
}
