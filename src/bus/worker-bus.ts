/**
 * The worker_threads bus: every member reads one ring log in shared memory
 * (lua-resty-worker-events' shared-memory event list, with overruns detected
 * instead of silent), no broker hop, no MessagePort. See {@link WorkerBus}.
 */
import { threadId } from 'node:worker_threads'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from './event-bus.js'
import type { EventBus, EventHandler, EventBusTarget } from './event-bus.js'
import { EVENTS_PER_TURN, assertPublishable, readBusClock, type ResolvedBusOptions } from './bus-options.js'
import { DrainWaiters } from './drain-waiters.js'
import { decodeEvent, encodeEvent } from './payload.js'
import { Subscriptions } from './subscriptions.js'
import { BusError } from '../errors.js'
import { assertDuration } from '../internal/validate.js'
import {
  type BusViews,
  createBusBuffer,
  KIND_ALL,
  KIND_UNIQUE,
  MAX_MEMBERS,
  openBusBuffer,
  type WorkerBusHandle,
} from './worker-bus-layout.js'
import { aliveMembers, claimMember, type MemberSlot, releaseMember, releaseThreadMembers } from './worker-bus-members.js'
import { stealFromThread } from './worker-bus-mutex.js'
import { resolveAttachOptions, resolveCreateOptions } from './worker-bus-options.js'
import type { WorkerBusAttachOptions, WorkerBusOptions } from './worker-bus-options.js'
import { RingLog } from './worker-bus-ring.js'
import { supervise, type SupervisingMember, unsupervise } from './worker-bus-supervisor.js'
import { claimUniqueHash } from './worker-bus-unique.js'

export type { WorkerBusHandle } from './worker-bus-layout.js'
export type { WorkerBusAttachOptions, WorkerBusOptions } from './worker-bus-options.js'

/** Fallback poll of an idle member (its `waitAsync` timeout), ms: only if a writer died between commit and notify. */
const POLL_MS = 500

interface LocalEvent {
  /** The head when it was published: it is delivered after every record up to there. */
  readonly after: number
  readonly local: number
  readonly source: string
  readonly event: string
  readonly data: unknown
}

/** What a `drain()` waits for: the head of the log and the `'current'` events published when it was called. */
interface DrainMark {
  readonly seq: number
  readonly local: number
}

/**
 * An {@link EventBus} across the worker_threads of one process:
 * `WorkerBus.create(options)` in the main thread, its {@link WorkerBus.handle}
 * sent to each worker (`workerData` or `postMessage`, no transfer list),
 * `WorkerBus.attach(handle)` there. Every end is a member with its own
 * `workerId` (its registry slot; the created end is 0).
 *
 * - **Delivery.** `'all'` and unique events are appended to a ring log in a
 *   SharedArrayBuffer under a mutex that stamps them with one global
 *   sequence; each member reads the log from its own cursor, woken by
 *   `Atomics.waitAsync` on the head (no libuv handle: a bus never keeps a
 *   thread alive; its timeout is a fallback poll), and dispatches in
 *   sequence order, serially, awaiting handlers, errors to `onError`, as
 *   lua-resty-events' event thread does. Order is total across publishers;
 *   `'current'` events stay in the publisher's thread, uncopied, and are
 *   delivered after the records that preceded them. Delivery is never
 *   inside `publish`: the publisher reads its own records like everyone.
 * - **Joining.** A member starts at the head when it attaches: no replay of
 *   older events (upstream mlcache's ipc once replayed an evicted history and its
 *   workers never caught up; here the cursor is explicit from the start).
 * - **Losing events.** The ring keeps `maxQueueLen` records and `ringBytes`
 *   of payload; publishers never wait for readers. A member that fell
 *   further behind (a long synchronous task) finds its next record
 *   overwritten, jumps to the oldest record still there and first delivers
 *   the local event (`BUS_SOURCE`, `BUS_RESYNC_EVENT`, `{ reason: 'overflow' }`):
 *   every MLCache on it clears its L1, and no overwritten event is delivered.
 *   `publish` rejects with `BusError` when `maxQueueLen` events published
 *   here are waiting (its records not read back yet, and `'current'`
 *   events), as lua-resty-events refuses when its publish queue is full:
 *   more would overwrite its own unread records. Being behind on other
 *   members' records never refuses a publish (it would lose an
 *   invalidation for everyone); that member just resyncs.
 * - **Unique targets.** The publisher drops a hash published within
 *   `uniqueTimeout` (shared table, checked under the mutex; each member
 *   measures the window with its own `clock` option, so every member's
 *   clock must agree, see {@link WorkerBusOptions.clock}); every member
 *   that reaches a unique record and has a handler matching its source and
 *   event races a compare-and-swap on it, and the winner alone handles it
 *   (often the publisher). Members without a matching handler never take
 *   one, so it is handled by exactly one subscribing member (by none if no
 *   member subscribes). If the winner dies before handling it, nobody does.
 * - **Lifecycle.** Attaching publishes `('worker', 'start')`, `close()`
 *   `('worker', 'exit')` with `crashed: false` (a member never receives its
 *   own `'start'`). Supervision: each open member hooks the workers its
 *   thread creates afterwards; when one exits while still a member, its slot
 *   is freed, `'exit'` with `crashed: true` is published (by the supervisor,
 *   whose `workerId` handlers see) and `reapThread` releases its SharedDict
 *   locks. Gap: a worker created before any member of its creating thread,
 *   or by a thread with no open member, is not supervised; if it dies
 *   without closing, it stays listed by `workers()` (a page swap then waits
 *   for it until its timeout) and no `'exit'` is published: Node offers no
 *   way to probe another thread's liveness, and heartbeats would declare a
 *   busy thread dead. Attach from workers the supervising thread creates.
 * - **Closing.** `close()` ends this member only: the others keep working
 *   with each other, the created end included; closing it stops the main
 *   thread's membership and supervision.
 */
export class WorkerBus implements EventBus {
  /** This member's id: its slot in the registry, 0 for the end made by `create`. */
  readonly workerId: number
  /** Send it to workers; structured-cloneable, shares the bus's memory. */
  readonly handle: WorkerBusHandle
  readonly #views: BusViews
  readonly #ring: RingLog
  readonly #slot: MemberSlot
  readonly #options: ResolvedBusOptions
  readonly #subscriptions = new Subscriptions()
  readonly #stop = new AbortController()
  #cursor: number // seq of the last record handled (or skipped)
  /** Seqs of the records this member published and has not read back yet (its outgoing queue). */
  readonly #own: number[] = []
  #local: LocalEvent[] = []
  #localPublished = 0
  #localHandled = 0
  readonly #drains = new DrainWaiters<DrainMark>()
  #pumping = false
  #waiting = false
  #immediate: NodeJS.Immediate | undefined
  readonly #supervisor: SupervisingMember = {
    workerExited: (deadThreadId) => this.#reap(deadThreadId),
    reportError: (error) => this.#options.onError(error, { source: WORKER_SOURCE, event: 'exit' }),
  }

  private constructor(views: BusViews, slot: MemberSlot, cursor: number, options: ResolvedBusOptions) {
    this.#views = views
    this.#ring = new RingLog(views)
    this.#slot = slot
    this.workerId = slot.workerId
    this.handle = { buffer: views.buffer }
    this.#cursor = cursor
    this.#options = options
    supervise(this.#supervisor)
    this.#schedule()
  }

  /**
   * Creates a bus and its first member (`workerId` 0), normally in the main
   * thread.
   * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
   */
  static create(options?: WorkerBusOptions): WorkerBus {
    const { resolved, geometry } = resolveCreateOptions(options)
    const views = createBusBuffer(geometry)
    const slot = new RingLog(views).locked(() => claimMember(views, threadId, 0, 0))
    if (slot === undefined) throw new BusError('failed to create the bus') // a fresh registry is empty
    return new WorkerBus(views, slot, 0, resolved)
  }

  /**
   * Joins the bus of `handle` as a new member, synchronously, and publishes
   * its `('worker', 'start')` event. The member reads only events published
   * from now on. Call it once per thread, usually at a worker's start.
   * `options` are this member's own (`onError`, `clock`); the bus's limits
   * and `uniqueTimeout` are those given to `create`.
   * @throws {TypeError} `handle` is not a WorkerBus handle, or an option is invalid or unknown
   * @throws {BusError} the bus already has 64 members, or was made by another layout version
   */
  static attach(handle: WorkerBusHandle, options?: WorkerBusAttachOptions): WorkerBus {
    const views = openBusBuffer(handle)
    const resolved = resolveAttachOptions(options, views.geometry)
    const ring = new RingLog(views)
    const joined = ring.locked(() => {
      const slot = claimMember(views, threadId, 1, MAX_MEMBERS - 1)
      if (slot === undefined) return undefined
      const cursor = ring.appendLocked(lifecycle('start', slot.workerId, false), KIND_ALL, slot.workerId)
      return { slot, cursor }
    })
    if (joined === undefined) throw new BusError(`failed to attach: the bus already has ${MAX_MEMBERS} members`)
    return new WorkerBus(views, joined.slot, joined.cursor, resolved)
  }

  /**
   * Publishes an event; see {@link WorkerBus} for what each target does.
   * Resolves once the event is in the log (or queued, for `'current'`).
   * @throws {TypeError} (rejects) `target`, `source` or `event` is not a non-empty string, or
   *   this member's `clock` answered something other than a finite number (unique targets)
   * @throws {BusError} (rejects) member closed, `maxQueueLen` events of this member waiting, payload too large or not cloneable
   */
  async publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void> {
    const { maxQueueLen, maxPayloadLen, uniqueTimeout, clock } = this.#options
    assertPublishable(target, source, event, this.#stop.signal.aborted, this.#waitingHere(), maxQueueLen)
    if (target === 'current') {
      this.#local.push({ after: this.#ring.head(), local: ++this.#localPublished, source, event, data })
    } else {
      // Serialise and read the clock outside the mutex: the critical section only copies bytes.
      const bytes = encodeEvent(source, event, data, maxPayloadLen)
      const kind = target === 'all' ? KIND_ALL : KIND_UNIQUE
      const now = kind === KIND_UNIQUE ? readBusClock(clock) : 0
      const seq = this.#ring.locked(() => {
        if (kind === KIND_UNIQUE && !claimUniqueHash(this.#views, target, uniqueTimeout, now)) return 0
        return this.#ring.appendLocked(bytes, kind, this.workerId)
      })
      if (seq === 0) return // a duplicate unique hash, dropped
      this.#own.push(seq)
    }
    this.#schedule() // from a microtask: we read our own events soon, never inside publish()
    // Backpressure: awaited publishes in a loop run on microtasks alone and would fill the queue
    // before the reader's setImmediate turn. Half full, yield it one turn (only one: a handler
    // that publishes must not wait for its own dispatch).
    if (this.#waitingHere() * 2 >= maxQueueLen) await new Promise((resolve) => setImmediate(resolve))
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

  /** The `workerId`s of the members on the bus (this one, until it closes), ascending. */
  workers(): number[] {
    return aliveMembers(this.#views)
  }

  /**
   * Resolves once this member has handled every event in the log at the
   * time of the call (those it lost to an overflow count as handled, after
   * the resync event) and every `'current'` event published here before it,
   * or after `timeout` ms, or when the member closes. MLCache's `update()`
   * relies on it as a barrier. Awaiting it inside a handler without a
   * timeout never resolves.
   * @param timeout - the most milliseconds to wait
   * @defaultValue timeout no limit
   * @throws {TypeError | RangeError} (rejects) `timeout` is not a duration
   */
  async drain(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertDuration(timeout, 'timeout')
    const seq = this.#ring.head()
    const local = this.#localPublished
    if (this.#stop.signal.aborted || (this.#cursor >= seq && this.#localHandled >= local)) return
    this.#schedule() // do not wait for the notify to reach this thread
    return this.#drains.wait({ seq, local }, timeout)
  }

  /**
   * Leaves the bus; idempotent. Publishes `('worker', 'exit')` with
   * `crashed: false`, frees the slot, stops supervising, drops the
   * `'current'` events not yet handled and resolves pending `drain()`s. No
   * timer, immediate or pending wait is left behind. A handler in flight is
   * not awaited; the other members keep working.
   */
  async close(): Promise<void> {
    if (this.#stop.signal.aborted) return
    this.#stop.abort()
    unsupervise(this.#supervisor)
    this.#ring.locked(() => {
      if (releaseMember(this.#views, this.#slot)) {
        this.#ring.appendLocked(lifecycle('exit', this.workerId, false), KIND_ALL, this.workerId)
      }
    })
    if (this.#immediate !== undefined) clearImmediate(this.#immediate)
    this.#immediate = undefined
    this.#local = []
    this.#drains.releaseAll()
    this.#ring.wakeAll() // settles our pending waitAsync now
  }

  /** A worker of this thread exited: free what it held on the bus and announce it. */
  #reap(deadThreadId: number): void {
    stealFromThread(this.#views.i32, deadThreadId)
    this.#ring.locked(() => {
      for (const workerId of releaseThreadMembers(this.#views, deadThreadId)) {
        this.#ring.appendLocked(lifecycle('exit', workerId, true), KIND_ALL, this.workerId)
      }
    })
  }

  #schedule(): void {
    if (this.#pumping || this.#stop.signal.aborted) return
    this.#pumping = true
    queueMicrotask(this.#turn)
  }

  readonly #turn = (): void => {
    this.#immediate = undefined
    void this.#pump()
  }

  readonly #woken = (): void => {
    this.#waiting = false
    this.#schedule()
  }

  /** Handles up to {@link EVENTS_PER_TURN} events, then yields; when idle, waits on the head. Never rejects. */
  async #pump(): Promise<void> {
    const signal = this.#stop.signal
    for (let count = 0; count < EVENTS_PER_TURN; count++) {
      if (signal.aborted) return
      const local = this.#local[0]
      if (local !== undefined && local.after <= this.#cursor) {
        this.#local.shift()
        await this.#dispatch(local.source, local.event, local.data, undefined)
        this.#localHandled = local.local
      } else {
        const head = this.#ring.head()
        if (this.#cursor >= head) {
          this.#pumping = false
          this.#idle(head)
          return
        }
        await this.#handleRecord(this.#cursor + 1)
      }
      if (signal.aborted) return
      this.#drains.releaseSettled(this.#settled)
    }
    this.#immediate = setImmediate(this.#turn)
  }

  /** Events published here and not handled here yet: its records not read back, its `'current'` events. */
  #waitingHere(): number {
    while (this.#own[0] !== undefined && this.#own[0] <= this.#cursor) this.#own.shift()
    return this.#own.length + this.#local.length
  }

  /** Reads, claims (unique) and dispatches record `seq`, or resyncs if it was lost. */
  async #handleRecord(seq: number): Promise<void> {
    const record = this.#ring.read(seq)
    if (record === undefined) return this.#resync(seq)
    let decoded
    try {
      decoded = decodeEvent(record.bytes)
    } catch {
      return this.#resync(seq) // torn beyond what the checks catch: count it as lost
    }
    if (record.kind === KIND_UNIQUE) {
      // Only a member with a handler for it may take a unique event: one that
      // takes it to do nothing would leave it handled by nobody (the
      // broker of lua-resty-events picks among the workers, which all run the
      // same handlers; members of a WorkerBus need not). Handlers are matched
      // now, as dispatch matches them, so the member that wins runs at least one.
      const won = this.#subscriptions.has(decoded.source, decoded.event) ? this.#ring.claim(seq) : false
      if (won === undefined) return this.#resync(seq)
      if (!won) {
        this.#cursor = seq
        return
      }
    }
    await this.#dispatch(decoded.source, decoded.event, decoded.data, record.publisher)
    this.#cursor = seq
  }

  /**
   * Record `lost` was overwritten before this member read it: tell the
   * handlers (every MLCache clears its L1), then resume at the oldest record
   * still in the ring. Never delivers a record older than the loss.
   */
  async #resync(lost: number): Promise<void> {
    const resume = Math.max(lost, this.#ring.resumeAfterLoss(lost))
    await this.#dispatch(BUS_SOURCE, BUS_RESYNC_EVENT, { reason: 'overflow' }, undefined)
    this.#cursor = Math.max(this.#cursor, resume)
  }

  #dispatch(source: string, event: string, data: unknown, workerId: number | undefined): Promise<void> {
    return this.#subscriptions.dispatch(source, event, data, workerId, this.#options.onError, this.#stop.signal)
  }

  /** Caught up with `head`: sleep until a writer notifies it (or the fallback poll). */
  #idle(head: number): void {
    if (this.#waiting) return
    const wait = this.#ring.waitForHead(head, POLL_MS)
    if (wait === undefined) return this.#schedule() // the head moved meanwhile
    this.#waiting = true
    void wait.then(this.#woken)
  }

  readonly #settled = (mark: DrainMark): boolean => this.#cursor >= mark.seq && this.#localHandled >= mark.local
}

/** A lifecycle record's payload; tiny, so it bypasses `maxPayloadLen`. */
function lifecycle(event: 'start' | 'exit', workerId: number, crashed: boolean): Buffer {
  return encodeEvent(WORKER_SOURCE, event, { workerId, crashed }, Number.MAX_SAFE_INTEGER)
}
