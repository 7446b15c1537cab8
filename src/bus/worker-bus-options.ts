/**
 * The options of WorkerBus: every bus's options (validated by
 * `resolveBusOptions`, so all buses accept and refuse the same things), plus
 * the ring geometry chosen by `WorkerBus.create` and fixed for the bus's
 * life, since every member reads the same buffer.
 */
import type { EventBus, EventBusOptions } from './event-bus.js'
import { assertKnownBusOptions, BUS_OPTION_NAMES, resolveBusOptions, type ResolvedBusOptions } from './bus-options.js'
import { assertIntegerAtLeast, assertOptionsObject, assertTimerDuration } from '../internal/validate.js'
import type { BusGeometry } from './worker-bus-layout.js'
import { resolveOwnerDeadAfter } from '../internal/robust-mutex.js'

/** Options of `WorkerBus.create`: those of every bus, plus the ring size. */
export interface WorkerBusOptions extends EventBusOptions {
  /**
   * The clock of the `uniqueTimeout` windows, in milliseconds, for the end
   * `create` makes (`workerId` 0) only: every member brings its own clock
   * (see {@link WorkerBusAttachOptions.clock}), since a function cannot
   * cross threads. The windows are shared: a hash's window is stamped with
   * the clock of the member that published it (`clock() + uniqueTimeout`)
   * and compared with the clock of each member that publishes it again. So
   * give every member of a bus clocks that agree: the default clock does,
   * in every thread; fake clocks can read one time from a SharedArrayBuffer
   * that every member sees. Where two members' clocks differ by `d` ms, a
   * window one of them opened lasts `uniqueTimeout - d` or
   * `uniqueTimeout + d` for the other (not at all, or for as long as `d`,
   * when `d` exceeds `uniqueTimeout`).
   * @defaultValue a monotonic clock in Unix epoch milliseconds,
   * `performance.timeOrigin + performance.now()`, which agrees across threads
   */
  clock?: () => number
  /**
   * Size in bytes of the payload ring shared by every member, at least
   * `maxPayloadLen` (and 4096), at most 1 GiB; rounded up to a multiple of 8.
   * `maxQueueLen` is the number of records the ring keeps, this bounds their
   * total payload: the default gives about 400 bytes per record at the
   * default `maxQueueLen`, where an MLCache invalidation takes about 80.
   * @defaultValue the larger of 4 MiB and twice `maxPayloadLen`
   */
  ringBytes?: number
  /**
   * How long, in milliseconds, a member may go without reading a record
   * while it is behind before the bus stops waiting for it. Until then a
   * publish whose record would overwrite records a member has not read yet
   * waits for it (backpressure, never a loss for a member whose event loop
   * runs); past it, that member is declared stalled and publishers overwrite
   * its records (it resyncs when it runs again). It is also how long a
   * member has to answer the roll call of an `attach` that finds the
   * registry full before its slot is reclaimed. `0` never waits: publishers
   * overwrite at once, as before backpressure existed, and a full registry
   * is never reclaimed.
   * @defaultValue {@link DEFAULT_STALL_TIMEOUT}
   */
  stallTimeout?: number
  /**
   * How long, in real ms, this member waits for the bus's append mutex
   * behind an owner *without a supervisor* that shows no progress before it
   * presumes that owner dead and takes the mutex over (`Infinity`: never).
   * A supervised owner (see `SharedDict`, "Dead and paused threads") is
   * never presumed dead: its creator frees the mutex when it exits.
   * @defaultValue 30 000
   */
  ownerDeadAfter?: number
  /**
   * A bus beyond this process (a `RedisBus` or `ClusterBus` member of this
   * process) that the whole WorkerBus shares: the threads reach other
   * processes and hosts through the one upstream member of the end made by
   * `create`, instead of a member (two Redis connections) each.
   *
   * - **Out.** Every `'all'` event published by a member (a worker thread or
   *   the created end) is published once to `upstream`, by the created end,
   *   in each member's publish order. The created end sends its own at once
   *   (its `publish` rejects as the upstream's does); another member's
   *   `publish` resolves once the created end has handed the event to
   *   `upstream` (so a drain anywhere that starts afterwards covers it;
   *   and while the main thread's event loop is blocked, the threads'
   *   `'all'` publishes wait for it).
   *   Events of source `'bus'` (resyncs) and `'worker'` (lifecycle),
   *   `'current'` events and unique targets stay in this process.
   * - **In.** Every `'all'` event `upstream` delivers that another upstream
   *   member published is handled once by every member of this bus, the
   *   created end included, with `workerId` `undefined` (its publisher is no
   *   member of this bus: a page swap waits for, and counts the answers of,
   *   this bus's members only); it is never sent back. The upstream's own
   *   resync (`'bus'`, `'resync'`) becomes a resync of every member; its
   *   lifecycle events stay there. An event too large for this bus is
   *   reported to `onError` and replaced by a resync. Events published on
   *   `upstream` directly from this process do not reach the members; and
   *   the relay handles every event, so on a RedisBus it competes for the
   *   unique events other upstream members publish there, and delivers those
   *   it wins to every member.
   * - **Reach.** Every member reports the upstream's `reach` (`'network'`
   *   when it has none), so a resync also forgets the process's SharedDict
   *   copy (`MLCache`).
   * - **Drain.** `drain()` on any member covers upstream: the created end
   *   drains it, then the member reads up to the created end's answer, all
   *   within the drain's timeout.
   * - **Failure.** An upstream publish that rejects (Redis down) cannot be
   *   undone: other processes may keep stale entries until their TTL, as
   *   when a publish on the upstream fails. It is reported to this end's
   *   `onError` (a `BusError`, `cause` set; the worker's `publish` has
   *   resolved by then, the created end's own rejects); no resync is delivered here,
   *   where the event was handled. The upstream resyncs its own members when
   *   it reconnects, and that resync reaches every thread here.
   * - **Closing.** Closing the created end stops relaying (it unsubscribes
   *   from `upstream`, which stays open: close it yourself); the other
   *   members work on as a plain WorkerBus.
   *
   * @example
   * ```ts
   * const upstream = new RedisBus({ url: 'redis://cache:6379' })
   * const bus = WorkerBus.create({ upstream })
   * const dict = SharedDict.create({ size: '64m' })
   * for (let i = 0; i < 8; i++) new Worker(entry, { workerData: { bus: bus.handle, dict: dict.handle } })
   * // in each worker: new MLCache('users', { store: SharedDict.attach(workerData.dict), bus: WorkerBus.attach(workerData.bus) })
   * ```
   * @defaultValue none: the bus stays in this process
   */
  upstream?: EventBus
}

/** Options of `WorkerBus.attach`; the others are the bus's, fixed by `create`. */
export interface WorkerBusAttachOptions {
  /**
   * Called when a handler of this member throws or rejects.
   * @defaultValue reports through `process.emitWarning`
   */
  onError?: EventBusOptions['onError']
  /**
   * The clock of this member's `uniqueTimeout` windows, in milliseconds. It
   * is this member's own: the clock given to `create`, or to another
   * member's `attach`, stays in that member. The windows are shared by every
   * member: this member stamps the window of a hash it publishes with its
   * clock (`clock() + uniqueTimeout`), and compares the window another
   * member stamped, with that member's clock, against its own. So give
   * every member of a bus clocks that agree (see
   * {@link WorkerBusOptions.clock} for what happens when they do not).
   * @defaultValue a monotonic clock in Unix epoch milliseconds,
   * `performance.timeOrigin + performance.now()`, which agrees across threads
   */
  clock?: () => number
  /** As {@link WorkerBusOptions.ownerDeadAfter}, for this member. */
  ownerDeadAfter?: number
}

/** The option names `create` accepts. */
const CREATE_OPTION_NAMES: readonly string[] = [...BUS_OPTION_NAMES, 'ringBytes', 'stallTimeout', 'ownerDeadAfter', 'upstream']

/**
 * Default `stallTimeout` (2 s): far beyond a garbage collection pause or a
 * busy machine's scheduling delays, so that only a thread that is really
 * stuck (a long synchronous task, a dead thread) is declared stalled; short
 * enough that a publisher blocked by such a member resumes soon.
 */
export const DEFAULT_STALL_TIMEOUT = 2000
/** The option names `attach` accepts: the others are the bus's, fixed by `create`. */
const ATTACH_OPTION_NAMES: readonly string[] = ['onError', 'clock', 'ownerDeadAfter']

/** Default payload ring size (4 MiB). */
const DEFAULT_RING_BYTES = 4 * 1024 * 1024
/** Smallest payload ring: lifecycle records must always fit. */
const MIN_RING_BYTES = 4096
/** Largest payload ring (1 GiB). */
const MAX_RING_BYTES = 1024 * 1024 * 1024
/** The largest `maxQueueLen` of a WorkerBus (32 bytes of shared memory per record slot). */
const MAX_WORKER_BUS_QUEUE_LEN = 1 << 20

/**
 * Validates the options of `WorkerBus.create` and answers them resolved,
 * with the geometry of the bus.
 * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
 */
export function resolveCreateOptions(options?: WorkerBusOptions): {
  resolved: ResolvedBusOptions
  geometry: BusGeometry
  ownerDeadAfter: number
  upstream: EventBus | undefined
} {
  const resolved = resolveBusOptions(options, CREATE_OPTION_NAMES)
  const { maxPayloadLen, maxQueueLen, uniqueTimeout } = resolved
  if (maxQueueLen > MAX_WORKER_BUS_QUEUE_LEN) {
    throw new RangeError(`options.maxQueueLen must be <= ${MAX_WORKER_BUS_QUEUE_LEN}`)
  }
  const { ringBytes = Math.max(DEFAULT_RING_BYTES, 2 * maxPayloadLen), stallTimeout = DEFAULT_STALL_TIMEOUT } = options ?? {}
  assertIntegerAtLeast(ringBytes, 'options.ringBytes', Math.max(maxPayloadLen, MIN_RING_BYTES))
  if (ringBytes > MAX_RING_BYTES) throw new RangeError(`options.ringBytes must be <= ${MAX_RING_BYTES}`)
  assertTimerDuration(stallTimeout, 'options.stallTimeout')
  const upstream = options?.upstream
  if (upstream !== undefined) assertEventBus(upstream)
  const geometry = { slots: maxQueueLen, ringBytes: Math.ceil(ringBytes / 8) * 8, maxPayloadLen, uniqueTimeout, stallTimeout }
  return { resolved, geometry, ownerDeadAfter: resolveOwnerDeadAfter(options?.ownerDeadAfter), upstream }
}

/**
 * Validates the options of `WorkerBus.attach` (this member's `onError`,
 * `clock` and `ownerDeadAfter`) and answers them resolved with the bus's
 * own limits.
 * @throws {TypeError} an option is invalid or unknown; the message names it
 */
export function resolveAttachOptions(
  options: WorkerBusAttachOptions | undefined,
  geometry: BusGeometry,
): { resolved: ResolvedBusOptions; ownerDeadAfter: number } {
  assertOptionsObject(options)
  assertKnownBusOptions(options, ATTACH_OPTION_NAMES)
  const { maxPayloadLen, slots: maxQueueLen, uniqueTimeout } = geometry
  const { onError, clock } = options ?? {}
  const resolved = resolveBusOptions({
    maxPayloadLen,
    maxQueueLen,
    uniqueTimeout,
    ...(onError === undefined ? {} : { onError }),
    ...(clock === undefined ? {} : { clock }),
  })
  return { resolved, ownerDeadAfter: resolveOwnerDeadAfter(options?.ownerDeadAfter) }
}

/** @throws {TypeError} `upstream` does not look like an {@link EventBus} */
function assertEventBus(upstream: unknown): asserts upstream is EventBus {
  const bus = upstream as Partial<EventBus> | null
  const methods = ['publish', 'subscribe', 'unsubscribe'] as const
  if (typeof bus !== 'object' || bus === null || typeof bus.workerId !== 'number' || methods.some((name) => typeof bus[name] !== 'function')) {
    throw new TypeError('options.upstream must be an EventBus')
  }
}
