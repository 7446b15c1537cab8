/**
 * The options of a RedisBus: where Redis is (`redis-link.ts`), the options
 * every bus takes (`bus-options.ts`), and the heartbeat interval.
 */
import type { EventBusOptions } from './event-bus.js'
import { BUS_OPTION_NAMES, resolveBusOptions, type ResolvedBusOptions } from './bus-options.js'
import { type RedisConnection, type RedisLinkOptions, resolveLinkOptions } from '../redis/redis-link.js'
import { assertTimerDuration } from '../internal/validate.js'

/** How often a member sends a heartbeat when none is given (ms). */
const DEFAULT_HEARTBEAT_INTERVAL = 1_000

/** The options of a RedisBus besides its connection. */
export interface RedisBusOptions extends EventBusOptions, RedisLinkOptions {
  /**
   * How often each member publishes a heartbeat on the bus channel, in
   * milliseconds. A member silent for three intervals is dead (`'exit'`
   * with `crashed: true`); when this member's own heartbeats stop coming
   * back for three intervals its subscription is presumed dead and the
   * resync event is delivered.
   * @defaultValue 1000
   */
  heartbeatInterval?: number
  /**
   * Accepted and validated as on every bus, but not read: the
   * `uniqueTimeout` windows run on Redis's clock (`SET ... PX`), the same
   * for every host, and heartbeats on this process's monotonic clock.
   */
  clock?: () => number
}

/** {@link RedisBusOptions} validated, with every default applied. */
export interface ResolvedRedisBusOptions {
  readonly connection: RedisConnection
  readonly prefix: string
  readonly commandTimeout: number
  readonly heartbeatInterval: number
  readonly bus: ResolvedBusOptions
}

const LINK_OPTION_NAMES = ['url', 'client', 'prefix', 'commandTimeout']
const KNOWN = new Set([...LINK_OPTION_NAMES, 'heartbeatInterval', ...BUS_OPTION_NAMES])

/**
 * Validates a RedisBus's options, before any connection is made.
 * @throws {TypeError | RangeError} an option is invalid or unknown, not exactly one of `url` and `client` is given, or the client has a
 *   `keyPrefix`; the message names it
 */
export function resolveRedisBusOptions(options: unknown): ResolvedRedisBusOptions {
  const { connection, prefix, commandTimeout } = resolveLinkOptions(options, KNOWN)
  // ioredis would prefix the unique windows and claims (keys) but not the channel: members whose
  // clients differ in keyPrefix would share events and not their dedup.
  if (connection.client !== undefined && connection.client.options.keyPrefix) {
    throw new TypeError('options.client must not have a keyPrefix (use options.prefix instead)')
  }
  const { heartbeatInterval = DEFAULT_HEARTBEAT_INTERVAL, ...rest } = options as RedisBusOptions
  const busOptions: Record<string, unknown> = { ...rest }
  for (const name of LINK_OPTION_NAMES) delete busOptions[name]
  const bus = resolveBusOptions(busOptions)
  assertTimerDuration(heartbeatInterval, 'options.heartbeatInterval')
  if (heartbeatInterval === 0) throw new RangeError('options.heartbeatInterval must be > 0')
  return { connection, prefix, commandTimeout, heartbeatInterval, bus }
}
