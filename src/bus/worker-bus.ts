/**
 * The worker_threads bus: every member reads one ring log in shared memory
 * (lua-resty-worker-events' shared-memory event list, with overruns detected
 * instead of silent), no broker hop, no MessagePort. See {@link WorkerBus}.
 */
import { threadId } from 'node:worker_threads'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from './event-bus.js'
import type { BusReach, EventBus, EventHandler, EventBusTarget } from './event-bus.js'
import { EVENTS_PER_TURN, assertPublishable, readBusClock, type ResolvedBusOptions } from './bus-options.js'
import { DrainWaiters } from './drain-waiters.js'
import { decodeEvent, encodeEvent } from './payload.js'
import { Subscriptions } from './subscriptions.js'
import { BusError } from '../errors.js'
import { assertTimerDuration } from '../internal/validate.js'
import {
  type BusViews,
  createBusBuffer,
  H_PROGRESS,
  H_ROOM_WAITERS,
  KIND_ALL,
  KIND_CONTROL,
  KIND_RELAYED,
  KIND_UNIQUE,
  MAX_MEMBERS,
  openBusBuffer,
  type WorkerBusHandle,
} from './worker-bus-layout.js'
import {
  aliveMembers,
  claimMember,
  holds,
  M_ANSWERED,
  M_CURSOR,
  type MemberSlot,
  releaseMember,
  releaseThreadMembers,
  wordOf,
} from './worker-bus-members.js'
import { stealFromThread } from './worker-bus-mutex.js'
import { resolveAttachOptions, resolveCreateOptions } from './worker-bus-options.js'
import type { WorkerBusAttachOptions, WorkerBusOptions } from './worker-bus-options.js'
import { busReach, hasUpstream, RelayedDrains, relayable, relayed, UpstreamRelay } from './worker-bus-relay.js'
import { RingLog } from './worker-bus-ring.js'
import { UniqueTakeover } from './worker-bus-takeover.js'
import { type RollCall, RollCallAnswerer, rollCall, stillSilent } from './worker-bus-roll-call.js'
import { type Blocker, RingRoom, sameBlocker, signalProgress, storeCursor, waitForProgress } from './worker-bus-room.js'
import { supervise, type SupervisingMember, unsupervise } from './worker-bus-supervisor.js'
import { claimUniqueHash } from './worker-bus-unique.js'
import { answerPageEvents } from '../pages/page-events.js'
import { DeliveryTurns } from './delivery-turns.js'

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

/** A publish waiting for room in the ring (or behind one that is), in publish order. */
interface PendingPublish {
  /** The serialised event, or `undefined` for a `'current'` event (then `local` holds it). */
  readonly bytes: Buffer | undefined
  readonly kind: number
  readonly target: string
  /** This member's clock when it was published (unique targets). */
  readonly now: number
  readonly local: Omit<LocalEvent, 'after'> | undefined
  /** Its unique hash was already checked (and its window opened) by an earlier attempt. */
  deduped: boolean
  /** Set by a failed attempt: the member the record would have overwritten. */
  blocker: Blocker | undefined
  /** The record's seq once appended (0: a duplicate unique hash, dropped; or a `'current'` event). */
  seq: number
  readonly resolve: (seq: number) => void
  readonly reject: (error: unknown) => void
}

/** What a `drain()` waits for: the head of the log and the `'current'` events published when it was called. */
interface DrainMark {
  /** `Infinity` while a drain through the relay waits for its answer (worker-bus-relay.ts). */
  seq: number
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
 *   `Atomics.waitAsync` on the head (no libuv handle: an idle bus never
 *   keeps a thread alive, only a publish waiting for room holds a timer;
 *   the wait's timeout is a fallback poll), and dispatches in
 *   sequence order, serially, awaiting handlers, errors to `onError`, as
 *   lua-resty-events' event thread does. Order is total across publishers;
 *   `'current'` events stay in the publisher's thread, uncopied, and are
 *   delivered after the records that preceded them. Delivery is never
 *   inside `publish`: the publisher reads its own records like everyone.
 * - **Joining.** A member starts at the head when it attaches: no replay of
 *   older events (upstream mlcache's ipc once replayed an evicted history and its
 *   workers never caught up; here the cursor is explicit from the start).
 * - **Backpressure and losing events.** The ring keeps `maxQueueLen`
 *   records and `ringBytes` of payload. Every member shows its cursor in
 *   shared memory as it reads; a publish whose record would overwrite a
 *   record (or payload bytes) a member has not read yet waits (`publish`
 *   resolves later; later publishes of this member queue behind it, in
 *   order) until that member reads on. So a member whose event loop runs is
 *   never overtaken, however large the burst. Only a member that has read
 *   nothing for `stallTimeout` while behind (a thread stuck in a long
 *   synchronous task, or dead) is declared stalled: publishers stop waiting
 *   for it and overwrite. When it runs again it finds its next record
 *   overwritten, jumps to the oldest record still there and first delivers
 *   the local event (`BUS_SOURCE`, `BUS_RESYNC_EVENT`, `{ reason: 'overflow' }`):
 *   every MLCache on it clears its L1, and no overwritten event is delivered.
 *   A member that died unsupervised (see "Reclaiming") is such a member:
 *   it holds publishers up once, for `stallTimeout`, when the ring first
 *   fills. With `stallTimeout: 0` publishers never wait: they overwrite at once.
 *   Lifecycle records (`'start'`, `'exit'`) are written at once, never
 *   waiting. `publish` rejects with `BusError` when `maxQueueLen` events of
 *   this member are waiting (its records not read back yet, its publishes
 *   waiting for room, and `'current'` events), as lua-resty-events refuses
 *   when its publish queue is full. A handler that awaits a publish while
 *   its own member is the one furthest behind waits `stallTimeout`, then its
 *   member is overwritten and resyncs.
 * - **Unique targets.** The publisher drops a hash published within
 *   `uniqueTimeout` (shared table, checked under the mutex; each member
 *   measures the window with its own `clock` option, so every member's
 *   clock must agree, see {@link WorkerBusOptions.clock}); every member
 *   that reaches a unique record and has a handler matching its source and
 *   event races a compare-and-swap on it, and the winner alone handles it
 *   (often the publisher). Members without a matching handler never take
 *   one, so it is handled by exactly one subscribing member (by none if no
 *   member subscribes). If the winner dies before it has handled it (a
 *   crash announced by `'exit'` with `crashed: true`), the other members
 *   that could handle it race to take it over when they read that `'exit'`,
 *   and one handles it then; a winner that died inside its handler may have
 *   done part of the work, so that event can be handled twice, never lost
 *   (unless the ring wrapped past it meanwhile). A winner whose unsupervised
 *   death is never announced (see "Reclaiming") keeps it.
 * - **Lifecycle.** Attaching publishes `('worker', 'start')`, `close()`
 *   `('worker', 'exit')` with `crashed: false` (a member never receives its
 *   own `'start'`). Supervision: a thread supervises the workers it creates
 *   once it has a SharedDict or a bus member (`internal/thread-reaper`);
 *   when one exits, `reapThread` first releases its SharedDict mutex and
 *   locks, then each open member of this thread frees the slots it still
 *   held and publishes their `'exit'` with `crashed: true` (under the
 *   supervising member's `workerId`, which handlers see).
 * - **Reclaiming.** A worker created before its creating thread used
 *   mlcache, or by a thread that never did, is not supervised: if it
 *   dies without closing, its slot stays taken and `workers()` lists it
 *   (page swapping, once it lands, would wait for it until its timeout; Node offers no way
 *   to probe another thread's liveness, and heartbeats would declare a busy
 *   thread dead). When an `attach` finds all 64 slots taken, it holds a
 *   roll call: every member of another thread answers
 *   from its event loop (not from its handlers, so a slow handler does not
 *   matter), and the slots of those that do not answer within
 *   `stallTimeout` are freed and announced with `'exit'`, `crashed: true`
 *   (published under the dead member's `workerId`); `attach` blocks its
 *   thread for that long at most, and only then. A live member evicted this
 *   way (its thread was stuck through the whole roll call) joins again when
 *   it runs: a new `workerId`, a `'start'`, and the resync event (`{ reason:
 *   'reclaimed' }`) first; if the registry is full by then, it closes and
 *   reports a `BusError` to `onError`. Its SharedDict locks are not
 *   released by a roll call (only supervision knows a thread is dead):
 *   their leases expire.
 * - **Closing.** `close()` ends this member only: the others keep working
 *   with each other, the created end included; closing it stops the main
 *   thread's membership and supervision.
 * - **Upstream.** Created with `upstream` (a RedisBus or ClusterBus member
 *   of this process), the created end relays between the bus and that one
 *   upstream member, so the threads of a process share it: see
 *   {@link WorkerBusOptions.upstream} and worker-bus-relay.ts. Without it
 *   the relay costs a few comparisons per record and nothing else.
 */
export class WorkerBus implements EventBus {
  /**
   * This member's id: its slot in the registry, 0 for the end made by
   * `create`. It changes only if the member was reclaimed while its thread
   * was stuck and joined again (see {@link WorkerBus} "Reclaiming").
   */
  get workerId(): number {
    return this.#slot.workerId
  }
  /**
   * {@link EventBus.reach}: the threads of this process (`'process'`), or,
   * on a bus created with an `upstream`, the upstream's reach in every
   * member (`'network'` if it has none).
   */
  readonly reach: BusReach
  /** Send it to workers; structured-cloneable, shares the bus's memory. */
  readonly handle: WorkerBusHandle
  readonly #views: BusViews
  readonly #ring: RingLog
  readonly #room: RingRoom
  #slot: MemberSlot
  /** Int32 index of this member's cursor word in the registry. */
  #cursorWord: number
  readonly #rollCalls: RollCallAnswerer
  readonly #options: ResolvedBusOptions
  readonly #subscriptions = new Subscriptions()
  readonly #stop = new AbortController()
  #cursor: number // seq of the last record handled (or skipped)
  readonly #takeover: UniqueTakeover
  /** Seqs of the records this member published and has not read back yet (its outgoing queue). */
  readonly #own: number[] = []
  #local: LocalEvent[] = []
  /** Publishes waiting for room, oldest first; later publishes queue behind them to keep publish order. */
  #pending: PendingPublish[] = []
  #flushing = false
  #localPublished = 0
  #localHandled = 0
  readonly #drains = new DrainWaiters<DrainMark>()
  readonly #turns = new DeliveryTurns(() => this.#pump())
  #waiting = false
  /** The relay to the upstream bus: the end made by `create` with an `upstream` only. */
  readonly #relay: UpstreamRelay | undefined
  /** Every other member of a bus with an upstream: its publishes wait for the relay, its drains go through it. */
  readonly #relayedDrains: RelayedDrains | undefined
  readonly #supervisor: SupervisingMember = {
    workerExited: (deadThreadId) => this.#reap(deadThreadId),
    reportError: (error) => this.#options.onError(error, { source: WORKER_SOURCE, event: 'exit' }),
  }

  private constructor(ring: RingLog, views: BusViews, slot: MemberSlot, cursor: number, options: ResolvedBusOptions, upstream?: EventBus) {
    this.#views = views
    this.#ring = ring
    this.#room = new RingRoom(views)
    this.#takeover = new UniqueTakeover(this.#ring)
    this.#slot = slot
    this.#cursorWord = wordOf(views, slot.workerId) + M_CURSOR
    this.handle = { buffer: views.buffer }
    this.#cursor = cursor
    this.#options = options
    const append = this.#append
    this.#relay = upstream === undefined ? undefined : new UpstreamRelay(upstream, { views, append, onError: options.onError })
    this.#relayedDrains = upstream === undefined && hasUpstream(views) ? new RelayedDrains(views, append, () => this.#ring.head()) : undefined
    this.reach = busReach(views)
    this.#rollCalls = new RollCallAnswerer(views, () => wordOf(views, this.#slot.workerId) + M_ANSWERED, this.#schedule)
    supervise(this.#supervisor)
    this.#rollCalls.start()
    this.#schedule()
    // A member answers page swaps even in a thread without caches (the main thread, often).
    answerPageEvents(this)
  }

  /**
   * Creates a bus and its first member (`workerId` 0), normally in the main
   * thread.
   * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
   */
  static create(options?: WorkerBusOptions): WorkerBus {
    const { resolved, geometry, ownerDeadAfter, upstream } = resolveCreateOptions(options)
    const views = createBusBuffer(geometry)
    const ring = new RingLog(views, ownerDeadAfter)
    const slot = ring.locked(() => claimMember(views, threadId, 0, 0, 0))
    if (slot === undefined) throw new BusError('failed to create the bus') // a fresh registry is empty
    return new WorkerBus(ring, views, slot, 0, resolved, upstream)
  }

  /**
   * Joins the bus of `handle` as a new member, synchronously, and publishes
   * its `('worker', 'start')` event. The member reads only events published
   * from now on. Call it once per thread, usually at a worker's start.
   * `options` are this member's own (`onError`, `clock`); the bus's limits
   * and `uniqueTimeout` are those given to `create`.
   * @throws {TypeError} `handle` is not a WorkerBus handle, or an option is invalid or unknown
   * @throws {BusError} the bus has 64 members that all answer a roll call (see "Reclaiming"), or was made by another layout version
   */
  static attach(handle: WorkerBusHandle, options?: WorkerBusAttachOptions): WorkerBus {
    const views = openBusBuffer(handle)
    const { resolved, ownerDeadAfter } = resolveAttachOptions(options, views.geometry)
    const ring = new RingLog(views, ownerDeadAfter)
    let joined = join(views, ring, 1)
    const { stallTimeout } = views.geometry
    // Full: reclaim the slots of members that died unsupervised (worker-bus-roll-call.ts).
    if (joined === undefined && stallTimeout > 0) joined = join(views, ring, 1, rollCall(views, threadId, stallTimeout))
    if (joined === undefined) throw new BusError(`failed to attach: the bus already has ${MAX_MEMBERS} members`)
    return new WorkerBus(ring, views, joined.slot, joined.cursor, resolved)
  }

  /**
   * Publishes an event; see {@link WorkerBus} for what each target does.
   * Resolves once the event is in the log (or queued, for `'current'`):
   * at once, unless the ring is full of records a live member has not read
   * yet; then once it has read on, or once it is declared stalled (after
   * `stallTimeout` without reading).
   * @throws {TypeError} (rejects) `target`, `source` or `event` is not a non-empty string, or
   *   this member's `clock` answered something other than a finite number (unique targets)
   * @throws {BusError} (rejects) member closed (also while waiting for room), `maxQueueLen`
   *   events of this member waiting, payload too large or not cloneable
   */
  async publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void> {
    const { maxQueueLen, maxPayloadLen, clock } = this.#options
    assertPublishable(target, source, event, this.#stop.signal.aborted, this.#waitingHere(), maxQueueLen)
    if (target === 'current') {
      const local = { local: ++this.#localPublished, source, event, data }
      if (this.#pending.length === 0) this.#local.push({ after: this.#ring.head(), ...local })
      else await this.#enqueue(undefined, KIND_ALL, target, 0, local) // after the waiting publishes
    } else {
      // Serialise and read the clock outside the mutex: the critical section only copies bytes.
      const bytes = encodeEvent(source, event, data, maxPayloadLen)
      const kind = target === 'all' ? KIND_ALL : KIND_UNIQUE
      const now = kind === KIND_UNIQUE ? readBusClock(clock) : 0
      const appended = this.#appendEncoded(bytes, kind, target, now)
      const seq = typeof appended === 'number' ? appended : await appended // no extra tick when there was room
      // With an upstream, an 'all' event has left the process when publish resolves (worker-bus-relay.ts).
      if (this.#relay !== undefined && kind === KIND_ALL) await this.#relay.publish(source, event, data)
      else if (this.#relayedDrains !== undefined && kind === KIND_ALL && relayable(source)) await relayed(this.#views, seq)
    }
    this.#schedule() // from a microtask: we read our own events soon, never inside publish()
    // Backpressure: awaited publishes in a loop run on microtasks alone and would fill the queue
    // before the reader's setImmediate turn. Half full, yield it one turn (only one: a handler
    // that publishes must not wait for its own dispatch).
    if (this.#waitingHere() * 2 >= maxQueueLen) await new Promise((resolve) => setImmediate(resolve))
  }

  #pendingOf(bytes: Buffer | undefined, kind: number, target: string, now: number, local: PendingPublish['local']): PendingPublish {
    return { bytes, kind, target, now, local, deduped: false, blocker: undefined, seq: 0, resolve: noop, reject: noop }
  }

  /** Appends an encoded record after this member's waiting publishes; resolves with its seq once it is in the log. */
  #appendEncoded(bytes: Buffer, kind: number, target: string, now: number): Promise<number> | number {
    const pending = this.#pending.length === 0 ? this.#pendingOf(bytes, kind, target, now, undefined) : undefined
    if (pending !== undefined && this.#tryAppend(pending)) return pending.seq
    return this.#enqueue(bytes, kind, target, now, undefined, pending)
  }

  /** Appends a relayed or control record (worker-bus-relay.ts), in order with this member's publishes. */
  readonly #append = async (kind: number, source: string, event: string, data: unknown): Promise<number> => {
    if (this.#stop.signal.aborted) throw new BusError('bus is closed')
    const seq = await this.#appendEncoded(encodeEvent(source, event, data, this.#options.maxPayloadLen), kind, 'all', 0)
    this.#schedule()
    return seq
  }

  /**
   * Appends `pending` if the ring has room for it (or drops it, a duplicate
   * unique hash); answers `false`, with `pending.blocker` set, when that
   * would overwrite records a live member has not read.
   */
  #tryAppend(pending: PendingPublish): boolean {
    const { uniqueTimeout, stallTimeout } = this.#views.geometry
    const bytes = pending.bytes as Buffer
    const seq = this.#ring.locked(() => {
      if (pending.kind === KIND_UNIQUE && !pending.deduped) {
        if (!claimUniqueHash(this.#views, pending.target, uniqueTimeout, pending.now)) return 0
        pending.deduped = true
      }
      if (stallTimeout > 0) {
        pending.blocker = this.#room.blockerLocked(bytes.length)
        if (pending.blocker !== undefined) return -1
      }
      return this.#ring.appendLocked(bytes, pending.kind, this.workerId)
    })
    if (seq === -1) return false
    if (seq !== 0) this.#own.push(seq) // 0: a duplicate unique hash, dropped
    pending.seq = seq
    return true
  }

  /** Queues a publish behind those waiting for room; resolves once it is in the log. */
  #enqueue(
    bytes: Buffer | undefined,
    kind: number,
    target: string,
    now: number,
    local: PendingPublish['local'],
    tried?: PendingPublish,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const pending = { ...this.#pendingOf(bytes, kind, target, now, local), resolve, reject }
      if (tried !== undefined) pending.deduped = tried.deduped
      this.#pending.push(pending)
      if (!this.#flushing) void this.#flush()
    })
  }

  /**
   * Appends the waiting publishes in order as room appears. The member
   * furthest behind is waited for while its cursor moves; once it has not
   * moved for `stallTimeout` it is declared stalled and overwritten. The
   * wait holds a timer (a pending publish keeps its thread alive, as any
   * unfinished work does) and is woken by readers through the progress
   * word. Never rejects: `close()` rejects what is still waiting.
   */
  async #flush(): Promise<void> {
    const { i32 } = this.#views
    const { stallTimeout } = this.#views.geometry
    this.#flushing = true
    Atomics.add(i32, H_ROOM_WAITERS, 1)
    let waitedFor: Blocker | undefined
    let since = 0
    try {
      while (!this.#stop.signal.aborted) {
        const pending = this.#pending[0]
        if (pending === undefined) break
        const progress = Atomics.load(i32, H_PROGRESS) // before the check: a wake-up after it is not lost
        if (pending.local !== undefined) {
          this.#local.push({ after: this.#ring.head(), ...pending.local })
        } else if (!this.#tryAppend(pending)) {
          const blocker = pending.blocker as Blocker
          const now = performance.now()
          if (!sameBlocker(blocker, waitedFor)) {
            waitedFor = blocker
            since = now
          } else if (now - since >= stallTimeout) {
            this.#ring.locked(() => this.#room.markStalledLocked(blocker))
            waitedFor = undefined
            continue
          }
          await waitForProgress(i32, progress, since + stallTimeout - now)
          continue
        }
        this.#pending.shift()
        pending.resolve(pending.seq)
        this.#schedule()
      }
    } finally {
      Atomics.sub(i32, H_ROOM_WAITERS, 1)
      this.#flushing = false
    }
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
   * relies on it as a barrier. A `'current'` event queued behind publishes
   * waiting for room counts too, so it waits for that room. Awaiting it
   * inside a handler without a timeout never resolves.
   *
   * On a bus with an upstream it also covers the upstream: the created end
   * drains the upstream first (what it delivers meanwhile enters the log),
   * and any other member asks it to, through the log, then reads up to its
   * answer. So every event published on the upstream (from any process or
   * host) before the call has been handled here once it resolves.
   * @param timeout - the most milliseconds to wait, upstream included
   * @defaultValue timeout no limit
   * @throws {TypeError | RangeError} (rejects) `timeout` is not a duration
   */
  async drain(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertTimerDuration(timeout, 'timeout')
    if (this.#stop.signal.aborted) return
    if (this.#relayedDrains !== undefined) return this.#drainThroughRelay(timeout)
    if (this.#relay !== undefined) {
      const start = performance.now()
      await this.#relay.drain(timeout)
      if (timeout !== undefined) timeout = Math.max(0, timeout - (performance.now() - start))
    }
    const seq = this.#ring.head()
    const local = this.#localPublished
    if (this.#stop.signal.aborted || (this.#cursor >= seq && this.#localHandled >= local)) return
    this.#schedule() // do not wait for the notify to reach this thread
    return this.#drains.wait({ seq, local }, timeout)
  }

  /** A member's drain on a bus with an upstream: up to the relaying end's answer (worker-bus-relay.ts). */
  #drainThroughRelay(timeout: number | undefined): Promise<void> {
    const mark: DrainMark = { seq: Number.POSITIVE_INFINITY, local: this.#localPublished }
    const drained = this.#drains.wait(mark, timeout)
    void (this.#relayedDrains as RelayedDrains).request(mark, timeout).then(this.#schedule)
    return drained
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
    await this.#relay?.close() // while still a member: it answers the drains waiting for it
    if (this.#stop.signal.aborted) return
    this.#stop.abort()
    unsupervise(this.#supervisor)
    this.#rollCalls.stop()
    this.#ring.locked(() => {
      if (releaseMember(this.#views, this.#slot)) {
        this.#ring.appendLocked(lifecycle('exit', this.workerId, false), KIND_ALL, this.workerId)
      }
    })
    this.#turns.stop()
    this.#local = []
    for (const pending of this.#pending.splice(0)) pending.reject(new BusError('bus is closed'))
    this.#drains.releaseAll()
    this.#ring.wakeAll() // settles our pending waitAsync now
    Atomics.notify(this.#views.i32, H_PROGRESS) // and a publish waiting for room (others wake, find nothing, wait again)
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

  readonly #schedule = (): void => {
    if (!this.#stop.signal.aborted) this.#turns.schedule()
  }

  readonly #woken = (): void => {
    this.#waiting = false
    this.#schedule()
  }

  /** Handles up to {@link EVENTS_PER_TURN} events, then yields; when idle, waits on the head. Never rejects. */
  async #pump(): Promise<void> {
    const signal = this.#stop.signal
    if (signal.aborted) return // closed before this turn (close() frees the slot: not a reclaim)
    if (!holds(this.#views, this.#slot)) await this.#rejoin()
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
          this.#turns.idle()
          signalProgress(this.#views.i32)
          this.#idle(head)
          return
        }
        await this.#handleRecord(this.#cursor + 1)
      }
      if (signal.aborted) return
      this.#drains.releaseSettled(this.#settled)
    }
    signalProgress(this.#views.i32)
    this.#turns.later()
  }

  /**
   * This member's slot was reclaimed (its thread was stuck through a roll
   * call, see worker-bus-roll-call.ts) and may belong to another member now.
   * The thread is alive after all: join again under a new `workerId` at the
   * head, as `attach` does, and deliver a resync first (the events
   * published since it was reclaimed are lost to it). If the registry is
   * full, the member closes and reports a `BusError` to `onError`.
   */
  async #rejoin(): Promise<void> {
    const joined = join(this.#views, this.#ring, 0)
    if (joined === undefined) {
      const error = new BusError(`this member was reclaimed while its thread was stuck and the bus has ${MAX_MEMBERS} members again`)
      this.#options.onError(error, { source: WORKER_SOURCE, event: 'start' })
      await this.close()
      return
    }
    this.#slot = joined.slot
    this.#cursorWord = wordOf(this.#views, joined.slot.workerId) + M_CURSOR
    this.#advance(joined.cursor)
    await this.#dispatch(BUS_SOURCE, BUS_RESYNC_EVENT, { reason: 'reclaimed' }, undefined)
  }

  /** Events published here and not handled here yet: its records not read back, its `'current'` events. */
  #waitingHere(): number {
    while (this.#own[0] !== undefined && this.#own[0] <= this.#cursor) this.#own.shift()
    return this.#own.length + this.#local.length + this.#pending.length
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
    if (record.kind === KIND_CONTROL) {
      this.#relay?.control(decoded.event, decoded.data)
      this.#relayedDrains?.control(decoded.event, decoded.data, seq)
      return this.#advance(seq)
    }
    if (record.kind === KIND_UNIQUE) {
      // Only a member with a handler for it may take a unique event: one that
      // takes it to do nothing would leave it handled by nobody (the
      // broker of lua-resty-events picks among the workers, which all run the
      // same handlers; members of a WorkerBus need not). Handlers are matched
      // now, as dispatch matches them, so the member that wins runs at least one.
      if (!this.#subscriptions.has(decoded.source, decoded.event)) return this.#advance(seq)
      const me = this.workerId
      const won = this.#ring.claim(seq, me)
      if (won === undefined) return this.#resync(seq)
      if (!won) {
        this.#takeover.watch(seq, { ...decoded, publisher: record.publisher })
        return this.#advance(seq)
      }
      await this.#dispatch(decoded.source, decoded.event, decoded.data, record.publisher)
      this.#ring.handled(seq, me)
      return this.#advance(seq)
    }
    if (record.kind === KIND_RELAYED) {
      // From upstream: its publisher is no member of this bus (a swap must not count it as one).
      await this.#dispatch(decoded.source, decoded.event, decoded.data, undefined)
      return this.#advance(seq)
    }
    // The relaying end sends the other members' events upstream (its own went with its publish).
    if (this.#relay !== undefined && record.publisher !== this.workerId) await this.#relay.outbound(seq, decoded.source, decoded.event, decoded.data)
    await this.#dispatch(decoded.source, decoded.event, decoded.data, record.publisher)
    if (this.#takeover.watching && decoded.source === WORKER_SOURCE && decoded.event === 'exit') {
      // A crash: take over the unique events the dead member held unhandled (worker-bus-takeover.ts).
      const me = this.workerId
      for (const [taken, event] of this.#takeover.adopt(decoded.data, me)) {
        await this.#dispatch(event.source, event.event, event.data, event.publisher)
        this.#ring.handled(taken, me)
      }
    }
    this.#advance(seq)
  }

  /** Moves the cursor past record `seq` and shows it to the publishers (backpressure). */
  #advance(seq: number): void {
    this.#cursor = seq
    storeCursor(this.#views.i32, this.#cursorWord, seq)
  }

  /**
   * Record `lost` was overwritten before this member read it: tell the
   * handlers (every MLCache clears its L1), then resume at the oldest record
   * still in the ring. Never delivers a record older than the loss.
   */
  async #resync(lost: number): Promise<void> {
    const resume = Math.max(lost, this.#ring.resumeAfterLoss(lost))
    // Past the loss at once: publishers must not wait for records this member will never read.
    this.#advance(Math.max(this.#cursor, resume))
    this.#relay?.skipped(this.#cursor)
    await this.#dispatch(BUS_SOURCE, BUS_RESYNC_EVENT, { reason: 'overflow' }, undefined)
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

/**
 * Claims a slot from `from` up (freeing first the members silent in
 * `reclaim`, each announced with its `'exit'`, `crashed: true`) and appends
 * its `'start'`; answers the slot and its cursor (the `'start'` record,
 * which its member never reads), or `undefined` when the registry is full.
 */
function join(views: BusViews, ring: RingLog, from: number, reclaim?: RollCall): { slot: MemberSlot; cursor: number } | undefined {
  return ring.locked(() => {
    for (const dead of reclaim?.silent ?? []) {
      if (!stillSilent(views, dead, reclaim?.epoch ?? 0) || !releaseMember(views, dead)) continue
      ring.appendLocked(lifecycle('exit', dead.workerId, true), KIND_ALL, dead.workerId)
    }
    const slot = claimMember(views, threadId, from, MAX_MEMBERS - 1, ring.head() + 1)
    if (slot === undefined) return undefined
    const cursor = ring.appendLocked(lifecycle('start', slot.workerId, false), KIND_ALL, slot.workerId)
    return { slot, cursor }
  })
}

function noop(): void {}

/** A lifecycle record's payload; tiny, so it bypasses `maxPayloadLen`. */
function lifecycle(event: 'start' | 'exit', workerId: number, crashed: boolean): Buffer {
  return encodeEvent(WORKER_SOURCE, event, { workerId, crashed }, Number.MAX_SAFE_INTEGER)
}
