/**
 * The messages of ClusterBus on node:cluster's IPC channel, between each
 * worker's member and the broker in the primary (lua-resty-events' frames
 * between a worker and the broker's unix socket). Every message is a plain
 * object of strings and numbers, with events already encoded (`payload.ts`)
 * as base64, so it crosses the channel unchanged whether the primary chose
 * `serialization: 'json'` (the default) or `'advanced'`.
 *
 * Each message carries {@link CLUSTER_BUS_TAG} so that both ends leave the
 * application's own IPC messages on the same channel alone; the
 * application, for its part, sees ours on `process.on('message')` and
 * `cluster.on('message')` and can skip them with {@link isClusterBusMessage}.
 * (Node keeps messages out of those events only when their `cmd` starts
 * with `NODE_`, a prefix its documentation reserves for Node itself.)
 */

/** The property that marks a message as ClusterBus's; its value is the wire version. */
export const CLUSTER_BUS_TAG = 'mlcacheClusterBus'
/** The format this code writes and reads. */
const WIRE_VERSION = 1

/** A member to the broker. */
export type ToBroker =
  /** Joining (sent by `attach`, again if the broker starts later). */
  | { readonly k: 'hello' }
  /** An event for `t` (`'all'` or a unique hash), encoded as base64. */
  | { readonly k: 'pub'; readonly t: string; readonly b: string }
  /** `n` more events delivered to this member have been handled. */
  | { readonly k: 'ack'; readonly n: number }
  /** A `drain()`: send mark `id` back behind everything already sent to this member. */
  | { readonly k: 'drain'; readonly id: number }
  /** Leaving cleanly (`close()`). */
  | { readonly k: 'bye' }

/** The broker to a member. */
export type ToMember =
  /** The member is in; `ids` lists the live members, itself included. */
  | { readonly k: 'welcome'; readonly ids: readonly number[] }
  /** The live members changed (sent before the lifecycle event announcing it). */
  | { readonly k: 'members'; readonly ids: readonly number[] }
  /** An event published by member `w`, encoded as base64. */
  | { readonly k: 'ev'; readonly w: number; readonly b: string }
  /** Events for this member were dropped: its queue in the broker overflowed. */
  | { readonly k: 'resync'; readonly reason: string }
  /** The answer to a `drain` request. */
  | { readonly k: 'mark'; readonly id: number }
  /** The broker is (now) listening: a member not yet welcomed says hello again. */
  | { readonly k: 'ready' }
  /** The broker closed: nothing more will be delivered. */
  | { readonly k: 'closed' }

/** Adds the tag to a message for the channel. */
export function tagged(message: ToBroker | ToMember): Record<string, unknown> {
  return { [CLUSTER_BUS_TAG]: WIRE_VERSION, ...message }
}

/**
 * Whether an IPC message is one of ClusterBus's (of this wire version or
 * another): an application listening on the same channel skips those.
 */
export function isClusterBusMessage(message: unknown): boolean {
  return typeof message === 'object' && message !== null && CLUSTER_BUS_TAG in message
}

/** Whether a message is of this wire version, to be read as {@link ToBroker} or {@link ToMember}. */
export function isCurrentWire(message: unknown): message is { readonly k: string } {
  return isClusterBusMessage(message) && (message as Record<string, unknown>)[CLUSTER_BUS_TAG] === WIRE_VERSION
}

/** An encoded event as it travels. */
export function toWire(bytes: Buffer): string {
  return bytes.toString('base64')
}

/** Back from {@link toWire}. */
export function fromWire(payload: string): Buffer {
  return Buffer.from(payload, 'base64')
}

/** The length in bytes of an event as it travels, without decoding it. */
export function wireLength(payload: string): number {
  return Buffer.byteLength(payload, 'base64')
}
