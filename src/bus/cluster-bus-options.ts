/**
 * The options of ClusterBus: `create` (the primary) takes every bus's
 * options; `attach` (a worker) only those that belong to its own member,
 * since the deduplication windows live in the broker.
 */
import type { EventBusOptions } from './event-bus.js'
import { BUS_OPTION_NAMES, resolveBusOptions, type ResolvedBusOptions } from './bus-options.js'

/**
 * Options of `ClusterBus.create`, in the primary. `uniqueTimeout` and
 * `clock` are the broker's: it alone measures the windows of unique hashes,
 * for every member. `maxQueueLen` bounds both this member's waiting events
 * and each member's queue in the broker; `maxPayloadLen` is also checked by
 * the broker on events from workers. `onError` receives this member's
 * handler failures and the broker's (an event from a worker over
 * `maxPayloadLen`).
 */
export type ClusterBusOptions = EventBusOptions

/**
 * Options of `ClusterBus.attach`, in a worker process: this member's limits
 * and error reporter. Give every member the `maxPayloadLen` of the primary:
 * the broker drops a larger event it receives (and reports it to its
 * `onError`), after the worker's `publish` has resolved.
 */
export type ClusterBusAttachOptions = Pick<EventBusOptions, 'maxPayloadLen' | 'maxQueueLen' | 'onError'>

const ATTACH_OPTION_NAMES: readonly string[] = ['maxPayloadLen', 'maxQueueLen', 'onError']

/**
 * Validates the options of `create`.
 * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
 */
export function resolveCreateOptions(options: unknown): ResolvedBusOptions {
  return resolveBusOptions(options as ClusterBusOptions | undefined, BUS_OPTION_NAMES)
}

/**
 * Validates the options of `attach`; `uniqueTimeout` and `clock` are
 * refused as unknown (they are the primary's).
 * @throws {TypeError | RangeError} an option is invalid or unknown; the message names it
 */
export function resolveAttachOptions(options: unknown): ResolvedBusOptions {
  return resolveBusOptions(options as ClusterBusAttachOptions | undefined, ATTACH_OPTION_NAMES)
}
