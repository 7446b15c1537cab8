/**
 * The event bus: lua-resty-events' semantics for Node. MLCache publishes its
 * invalidations and purges on it so that every L1 of a name stays coherent.
 */

/**
 * Receives an event. `workerId` is the publisher's id, `undefined` for
 * events published with the `'current'` target and for events a relaying
 * WorkerBus brought in from its upstream bus (their publisher is not a
 * member of this bus).
 */
export type EventHandler = (
  data: unknown,
  event: string,
  source: string,
  workerId: number | undefined,
) => void | Promise<void>

/** Where an event goes: every worker, this worker only, or exactly one worker (a unique hash). */
export type EventBusTarget = 'all' | 'current' | (string & {})

/** Options every bus accepts. */
export interface EventBusOptions {
  /**
   * How long, in milliseconds, a unique hash published again is dropped.
   * @defaultValue 5000
   */
  uniqueTimeout?: number
  /**
   * The largest encoded payload in bytes; at most 16 MiB.
   * @defaultValue 65536
   */
  maxPayloadLen?: number
  /**
   * The most events waiting for delivery; beyond it `publish` rejects.
   * @defaultValue 10240
   */
  maxQueueLen?: number
  /**
   * Called when a handler throws or rejects; never rethrown.
   * @defaultValue reports through `process.emitWarning`
   */
  onError?: (error: unknown, event: { source: string; event: string }) => void
  /**
   * The clock of the `uniqueTimeout` windows: answers the current time in
   * milliseconds and never goes back. A unique hash published at `t` is
   * dropped while `clock()` answers less than `t + uniqueTimeout`. Inject
   * one to move dedup windows without waiting (tests); nothing else on a
   * bus reads it. On a WorkerBus each member has its own clock but the
   * windows are shared: see `WorkerBusOptions.clock`.
   * @defaultValue a monotonic clock in Unix epoch milliseconds,
   * `performance.timeOrigin + performance.now()`: it reads about what
   * `Date.now()` does, the same in every thread, and never steps with the
   * wall clock
   */
  clock?: () => number
}

/**
 * How far a bus's members may be from each other: one thread, the threads of
 * one process, the processes of one host, or any process on any host.
 */
export type BusReach = 'thread' | 'process' | 'host' | 'network'

/** The contract's bus interface; implement it to bring your own transport. */
export interface EventBus {
  /** This member's id on the bus. */
  readonly workerId: number
  /**
   * Optional: how far the members of this bus may be (an addition to the
   * contract). When a bus that reaches beyond the process resyncs, the
   * events it lost may have come from members that do not read this
   * process's SharedDict, so MLCache also forgets that copy of its entries
   * (`L2Store.forget`). A bus without it is taken to reach the network.
   */
  readonly reach?: BusReach
  /**
   * Publishes an event. Delivery is asynchronous (never inside `publish`)
   * and in publish order per publisher.
   * @throws {BusError} (rejects) payload too large, queue full, bus closed
   */
  publish(target: EventBusTarget, source: string, event: string, data?: unknown): Promise<void>
  /** Subscribes a handler; `'*'` matches any source or event. Answers an id for {@link EventBus.unsubscribe}. */
  subscribe(source: string, event: string, handler: EventHandler): number
  /** Removes a subscription; answers whether it existed. */
  unsubscribe(id: number): boolean
  /** The ids of the live workers on this bus. */
  workers(): number[]
  /**
   * Resolves once every event published to this member before the call has
   * been handled, or after `timeout` milliseconds. Optional: MLCache's
   * `update()` uses it when present.
   */
  drain?(timeout?: number): Promise<void>
  /** Closes this member; later publishes reject with `BusError`. */
  close(): Promise<void>
}

/**
 * The source of the events a bus generates itself. Event
 * {@link BUS_RESYNC_EVENT} is delivered locally when the bus may have lost
 * events (queue overflow, a sequence gap, a reconnect): every MLCache on the
 * bus then clears its L1, so a missed invalidation never leaves stale data.
 */
export const BUS_SOURCE = 'bus'
/** See {@link BUS_SOURCE}. */
export const BUS_RESYNC_EVENT = 'resync'
/** The source of worker lifecycle events (`'start'`, `'exit'`). */
export const WORKER_SOURCE = 'worker'
