/**
 * Option defaults, option checks and argument checks shared by every bus
 * (LocalBus, WorkerBus, ClusterBus, RedisBus), so that they all accept and
 * refuse the same things with the same messages. lua-resty-events asserts
 * its arguments and validates `new(opts)` the same way; here bad arguments
 * are `TypeError`/`RangeError`s naming them, as the contract requires.
 */
import type { EventBusOptions, EventBusTarget } from './event-bus.js'
import { BusError } from '../errors.js'
import { describe } from '../internal/describe.js'
import { realTime } from '../internal/real-time.js'
import {
  assertFunction,
  assertIntegerAtLeast,
  assertNumberAtLeast,
  assertOptionsObject,
} from '../internal/validate.js'

/** lua-resty-events' `unique_timeout` (5 s), in milliseconds. */
export const DEFAULT_UNIQUE_TIMEOUT = 5000
/** lua-resty-events' `max_payload_len`. */
export const DEFAULT_MAX_PAYLOAD_LEN = 65_536
/** The largest `maxPayloadLen`: lua-resty-events frames carry a 3-byte length. */
export const MAX_PAYLOAD_LEN = 16 * 1024 * 1024
/** lua-resty-events' `max_queue_len`. */
export const DEFAULT_MAX_QUEUE_LEN = 10_240

/**
 * Reads a bus clock for a `uniqueTimeout` window.
 * @throws {TypeError} the clock answered something other than a finite number
 */
export function readBusClock(clock: () => number): number {
  const now = clock()
  if (typeof now !== 'number' || !Number.isFinite(now)) throw new TypeError('options.clock must answer a finite number of milliseconds')
  return now
}

/** What a bus reports a failed handler with; see {@link EventBusOptions.onError}. */
export type HandlerErrorReporter = (error: unknown, event: { source: string; event: string }) => void

/** {@link EventBusOptions} with every default applied. */
export interface ResolvedBusOptions {
  /** @defaultValue {@link DEFAULT_UNIQUE_TIMEOUT} */
  readonly uniqueTimeout: number
  /** @defaultValue {@link DEFAULT_MAX_PAYLOAD_LEN} */
  readonly maxPayloadLen: number
  /** @defaultValue {@link DEFAULT_MAX_QUEUE_LEN} */
  readonly maxQueueLen: number
  /**
   * The user's `onError`, wrapped so that it never throws: if it does, that
   * error is reported through `process.emitWarning` instead.
   * @defaultValue reports through `process.emitWarning`
   */
  readonly onError: HandlerErrorReporter
  /** @defaultValue {@link realTime}: epoch milliseconds like `Date.now()`, but monotonic and agreeing across threads */
  readonly clock: () => number
}

/** The option names every bus accepts: those of {@link EventBusOptions}. */
export const BUS_OPTION_NAMES: readonly string[] = ['uniqueTimeout', 'maxPayloadLen', 'maxQueueLen', 'onError', 'clock']

/**
 * Rejects option names the bus does not read, as MLCache does: a typo such
 * as `maxQueueLength` would otherwise leave the default in force silently.
 * @throws {TypeError} `options` has an own property not in `known`; the message names it
 */
export function assertKnownBusOptions(options: object | undefined, known: readonly string[]): void {
  if (options === undefined) return
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`options.${key} is not a known option`)
  }
}

/**
 * Validates bus options and fills in the defaults.
 * @param known - the option names this bus accepts (a bus with more options checks its own first)
 * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
 */
export function resolveBusOptions(options?: EventBusOptions, known: readonly string[] = BUS_OPTION_NAMES): ResolvedBusOptions {
  assertOptionsObject(options)
  assertKnownBusOptions(options, known)
  const { uniqueTimeout = DEFAULT_UNIQUE_TIMEOUT, maxPayloadLen = DEFAULT_MAX_PAYLOAD_LEN } = options ?? {}
  const { maxQueueLen = DEFAULT_MAX_QUEUE_LEN, onError, clock = realTime } = options ?? {}
  assertNumberAtLeast(uniqueTimeout, 'options.uniqueTimeout', 0)
  // lua-resty-events: `"unique_timeout" must be greater than 0`.
  if (uniqueTimeout === 0) throw new RangeError('options.uniqueTimeout must be > 0')
  assertIntegerAtLeast(maxPayloadLen, 'options.maxPayloadLen', 1)
  if (maxPayloadLen > MAX_PAYLOAD_LEN) {
    throw new RangeError(`options.maxPayloadLen must be <= ${MAX_PAYLOAD_LEN}`)
  }
  assertIntegerAtLeast(maxQueueLen, 'options.maxQueueLen', 1)
  if (onError !== undefined) assertFunction(onError, 'options.onError')
  assertFunction(clock, 'options.clock')
  return {
    uniqueTimeout,
    maxPayloadLen,
    maxQueueLen,
    onError: onError === undefined ? warnHandlerError : guardReporter(onError),
    clock,
  }
}

/**
 * Throws unless `value` is a non-empty string: targets, sources and event
 * names (lua-resty-events asserts `"source is required"` and the like).
 */
export function assertEventName(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name} must be a non-empty string`)
}

/**
 * Events a bus handles per turn of the event loop before yielding.
 * lua-resty-events' event thread `sleep(0)`s between events so that a flood
 * never starves the sockets; yielding every few events keeps I/O flowing at
 * a fraction of the cost.
 */
export const EVENTS_PER_TURN = 64

/**
 * The checks every `publish` makes before anything else: the three names,
 * an open bus, and room for one more event of this member.
 * @throws {TypeError} a name is not a non-empty string
 * @throws {BusError} the bus is closed, or `waiting` events already fill `maxQueueLen`
 */
export function assertPublishable(target: EventBusTarget, source: string, event: string, closed: boolean, waiting: number, maxQueueLen: number): void {
  assertEventName(target, 'target')
  assertEventName(source, 'source')
  assertEventName(event, 'event')
  if (closed) throw new BusError('bus is closed')
  if (waiting >= maxQueueLen) throw new BusError(`failed to publish event: queue overflow (${maxQueueLen} events waiting)`)
}

/** A throwing `onError` must not crash the process nor stop delivery. */
function guardReporter(onError: HandlerErrorReporter): HandlerErrorReporter {
  return (error, event) => {
    try {
      onError(error, event)
    } catch (reportError) {
      warnHandlerError(reportError, event, 'options.onError')
    }
  }
}

/**
 * The default reporter; lua-resty-events logs `event callback failed;
 * source=..., event=...` with a traceback. The data is left out on purpose:
 * it may hold cached values, which error messages never include.
 */
function warnHandlerError(error: unknown, event: { source: string; event: string }, what = 'event handler'): void {
  const stack = error instanceof Error ? error.stack : undefined
  process.emitWarning(`${what} failed; source=${event.source}, event=${event.event}: ${describe(error)}`, {
    type: 'MLCacheBusWarning',
    ...(stack === undefined ? {} : { detail: stack }),
  })
}
