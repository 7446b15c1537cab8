/**
 * A WorkerBus relaying to an upstream bus (`WorkerBusOptions.upstream`): the
 * threads of a process share the upstream member of the end made by
 * `create` (one Redis connection pair per process, not per thread). That
 * end sends the members' `'all'` events upstream and brings the upstream's
 * events of other members in as records of their own kind
 * (`KIND_RELAYED`), which every member handles and nobody sends back: the
 * kind, not the publisher, tells an event that came from upstream from one
 * published here, so there is no echo loop. Drains and what every member
 * must know about the relay (its reach, whether it still runs, how far it
 * got) travel through the bus's shared memory and `KIND_CONTROL` records.
 */
import { threadId } from 'node:worker_threads'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from './event-bus.js'
import type { BusReach, EventBus, EventHandler } from './event-bus.js'
import type { HandlerErrorReporter } from './bus-options.js'
import { BusError } from '../errors.js'
import { B_RELAYED, type BusViews, H_REACH, H_RELAYING, KIND_CONTROL, KIND_RELAYED } from './worker-bus-layout.js'

/** The reaches, coded in {@link H_REACH} as their index + 1 (0: no upstream). */
const REACHES: readonly BusReach[] = ['thread', 'process', 'host', 'network']

/** Control record events (source `BUS_SOURCE`): a member asks the relaying end to drain upstream, ... */
const RELAY_DRAIN = 'relay-drain'
/** ... the relaying end answers that drain (data: its token) ... */
const RELAY_DRAINED = 'relay-drained'
/** ... or stops relaying: every drain still waiting is answered by it. */
const RELAY_STOPPED = 'relay-stopped'

/**
 * Upstream publishes the relaying end keeps in flight before it waits for
 * the oldest: a burst is pipelined, and a slow upstream holds the relaying
 * end's reading back (then the ring's backpressure holds the publishers).
 */
const RELAY_WINDOW = 256
/** Fallback poll of a publisher waiting for its event to be relayed, ms (only if a notify is lost). */
const POLL_MS = 500

/** Whether an `'all'` event of this source crosses to upstream: resyncs and lifecycle events are the bus's own. */
export function relayable(source: string): boolean {
  return source !== BUS_SOURCE && source !== WORKER_SOURCE
}

/** The reach every member of the bus reports: the upstream's, `'process'` without one. */
export function busReach(views: BusViews): BusReach {
  return REACHES[Atomics.load(views.i32, H_REACH) - 1] ?? 'process'
}

/** Whether the bus was created with an upstream (its members wait for relaying and drain through it). */
export function hasUpstream(views: BusViews): boolean {
  return Atomics.load(views.i32, H_REACH) !== 0
}

/** Whether the created end still relays. */
function relaying(views: BusViews): boolean {
  return Atomics.load(views.i32, H_RELAYING) === 1
}

/**
 * Resolves once the relaying end has handed record `seq` (a member's
 * relayable `'all'` event) to upstream, or has stopped relaying: a member's
 * `publish` resolves then, so an event published in a thread has reached
 * upstream, as a publish on the upstream bus itself would have, and a drain
 * on another host that starts afterwards covers it.
 */
export async function relayed(views: BusViews, seq: number): Promise<void> {
  const { i64 } = views
  for (;;) {
    const seen = Atomics.load(i64, B_RELAYED)
    if (Number(seen) >= seq || !relaying(views)) return
    const wait = Atomics.waitAsync(i64, B_RELAYED, seen, POLL_MS)
    if (wait.async) await wait.value
  }
}

/** What the relaying end needs of its WorkerBus member. */
export interface RelayHost {
  readonly views: BusViews
  /** Appends a record of `kind` after this member's earlier publishes; resolves once it is in the log. */
  append(kind: number, source: string, event: string, data: unknown): Promise<unknown>
  readonly onError: HandlerErrorReporter
}

/**
 * The relaying end's side (the end made by `create` with an `upstream`).
 * See `WorkerBusOptions.upstream` for what is relayed and what stays local.
 */
export class UpstreamRelay {
  readonly #upstream: EventBus
  readonly #host: RelayHost
  readonly #subscription: number
  /** Settles once every upstream publish issued so far has settled, and {@link B_RELAYED} shows it. */
  #tail: Promise<void> = Promise.resolve()
  #inFlight = 0
  #closed = false

  constructor(upstream: EventBus, host: RelayHost) {
    this.#upstream = upstream
    this.#host = host
    const { i32 } = host.views
    Atomics.store(i32, H_REACH, REACHES.indexOf(upstream.reach ?? 'network') + 1)
    Atomics.store(i32, H_RELAYING, 1)
    this.#subscription = upstream.subscribe('*', '*', this.#inbound)
  }

  /**
   * Record `seq`, an `'all'` event another member published, was read by
   * the relaying end: send it upstream, in ring order (each member's
   * publish order). Answers a promise to await before reading on when
   * {@link RELAY_WINDOW} publishes are in flight, else `undefined`.
   */
  outbound(seq: number, source: string, event: string, data: unknown): Promise<void> | undefined {
    if (!relayable(source)) return undefined
    const sent = this.#publishUp(source, event, data).catch((cause: unknown) => {
      this.#host.onError(new BusError('failed to relay an event upstream: other processes may keep stale data', { cause }), { source, event })
    })
    this.#inFlight++
    this.#tail = Promise.all([this.#tail, sent]).then(() => {
      this.#inFlight--
      this.#markRelayed(seq)
    })
    return this.#inFlight >= RELAY_WINDOW ? this.#tail : undefined
  }

  /**
   * The relaying end's own `'all'` publish, already in the ring: straight
   * upstream (it need not wait for its own reading, which a handler that
   * awaits its publish would block), rejecting as the upstream's does.
   */
  async publish(source: string, event: string, data: unknown): Promise<void> {
    if (relayable(source)) await this.#publishUp(source, event, data)
  }

  /** The upstream's publish; one that throws instead of rejecting (a bus of the caller's) rejects too. */
  async #publishUp(source: string, event: string, data: unknown): Promise<void> {
    await this.#upstream.publish('all', source, event, data)
  }

  /**
   * The relaying end skipped the records up to `seq` (an overflow): they
   * never reach upstream. Publishers waiting for them are let go, and the
   * loss is reported: other processes may keep stale data.
   */
  skipped(seq: number): void {
    const error = new BusError('records were overwritten before the relaying end read them: events among them never reached upstream')
    this.#host.onError(error, { source: BUS_SOURCE, event: BUS_RESYNC_EVENT })
    this.#tail = this.#tail.then(() => this.#markRelayed(seq))
  }

  /**
   * Drains upstream (relaying what it delivers meanwhile), bounded by
   * `timeout` ms even if the upstream's own drain is not (a bus of the
   * caller's). A drain that rejects counts as done, as a RedisBus's does
   * when Redis cannot take its marker: nothing more can be waited for.
   */
  async drain(timeout: number | undefined): Promise<void> {
    const drained = this.#upstream.drain?.(timeout).catch(() => undefined)
    if (drained === undefined || timeout === undefined) return drained
    let timer: NodeJS.Timeout | undefined
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))
    await Promise.race([drained, expired])
    clearTimeout(timer)
  }

  /** A control record another member appended. */
  control(event: string, data: unknown): void {
    if (event !== RELAY_DRAIN) return
    const { token, timeout } = data as { token: string; timeout: number | undefined }
    // Not awaited: the relaying end reads on (the events upstream delivers go through the ring).
    void this.drain(timeout)
      .then(() => this.#host.append(KIND_CONTROL, BUS_SOURCE, RELAY_DRAINED, token))
      .catch(() => undefined) // closed meanwhile: RELAY_STOPPED answers it
  }

  /**
   * Stops relaying; leaves the upstream bus open (it is the caller's).
   * Answers the drains still waiting with a control record, so append it
   * before this member leaves the bus.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#upstream.unsubscribe(this.#subscription)
    const { i32, i64 } = this.#host.views
    // Cleared before RELAY_STOPPED is appended: a drain request appended after it sees it cleared (RelayedDrains.request).
    Atomics.store(i32, H_RELAYING, 0)
    Atomics.notify(i64, B_RELAYED)
    await this.#host.append(KIND_CONTROL, BUS_SOURCE, RELAY_STOPPED, undefined).catch(() => undefined)
  }

  /**
   * An event upstream delivered: bring it in when another member of the
   * upstream published it (a RedisBus delivers this member's own publishes
   * back to it, and a ClusterBus its copies: those went up from here). An
   * upstream resync becomes a resync of every member. Awaiting the append
   * holds the upstream's delivery while the ring is full, so the upstream's
   * own limits apply (it resyncs on overflow), and an upstream drain that
   * resolves has every event it delivered in the ring.
   */
  readonly #inbound: EventHandler = async (data, event, source, workerId) => {
    if (source === BUS_SOURCE) {
      if (event === BUS_RESYNC_EVENT) await this.#bringIn(source, event, data)
      return
    }
    if (source === WORKER_SOURCE || workerId === undefined || workerId === this.#upstream.workerId) return
    await this.#bringIn(source, event, data)
  }

  async #bringIn(source: string, event: string, data: unknown): Promise<void> {
    try {
      await this.#host.append(KIND_RELAYED, source, event, data)
    } catch (error) {
      if (this.#closed) return
      // Too large for this ring (or not cloneable): the members miss it, so they resync.
      this.#host.onError(error, { source, event })
      await this.#host.append(KIND_RELAYED, BUS_SOURCE, BUS_RESYNC_EVENT, { reason: 'relay' }).catch(() => undefined)
    }
  }

  #markRelayed(seq: number): void {
    const { i64 } = this.#host.views
    if (Number(Atomics.load(i64, B_RELAYED)) >= seq) return
    Atomics.store(i64, B_RELAYED, BigInt(seq))
    Atomics.notify(i64, B_RELAYED)
  }
}

/** What a member's drain through the relay waits for: the seq of the answer, once read. */
interface RelayDrainMark {
  seq: number
}

/** Drain tokens are unique across the members of the process: this thread's id and a counter of this thread. */
let nextToken = 0

/**
 * A member's drains waiting for the relaying end (every member but that
 * end, on a bus with an upstream).
 */
export class RelayedDrains {
  readonly #open = new Map<string, RelayDrainMark>()
  readonly #views: BusViews
  readonly #append: RelayHost['append']
  readonly #head: () => number

  /**
   * @param append - appends a record after the member's publishes
   * @param head - the ring's head
   */
  constructor(views: BusViews, append: RelayHost['append'], head: () => number) {
    this.#views = views
    this.#append = append
    this.#head = head
  }

  /**
   * Asks the relaying end to drain upstream (a request in the ring);
   * `mark.seq` is set once the answer is read (see
   * {@link RelayedDrains.control}), or at once to the head when the relay
   * has stopped (nothing will answer, nothing more comes from upstream).
   */
  async request(mark: RelayDrainMark, timeout: number | undefined): Promise<void> {
    const token = `${threadId}:${++nextToken}`
    this.#open.set(token, mark)
    try {
      await this.#append(KIND_CONTROL, BUS_SOURCE, RELAY_DRAIN, { token, timeout })
    } catch {
      this.#settle(token, this.#head()) // closed: the drain resolves anyway
      return
    }
    // Relaying after the request was appended: the relay's RELAY_STOPPED, if any, comes after it.
    if (!relaying(this.#views)) this.#settle(token, this.#head())
  }

  /** A control record read at `seq`: settles the drains it answers. */
  control(event: string, data: unknown, seq: number): void {
    if (this.#open.size === 0) return
    if (event === RELAY_DRAINED) this.#settle(data as string, seq)
    else if (event === RELAY_STOPPED) for (const token of [...this.#open.keys()]) this.#settle(token, seq)
  }

  #settle(token: string, seq: number): void {
    const mark = this.#open.get(token)
    if (mark === undefined) return
    this.#open.delete(token)
    mark.seq = seq
  }
}
