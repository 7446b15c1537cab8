/**
 * How a bus copies and measures an event that leaves the publisher's hands
 * (`'all'` and unique targets): V8's structured clone (`node:v8`), the
 * format of `postMessage` and of cluster IPC with `serialization: 'advanced'`.
 */
import { deserialize, serialize } from 'node:v8'
import { BusError } from '../errors.js'

/** An event as it travels. */
export interface EncodedEvent {
  readonly source: string
  readonly event: string
  readonly data: unknown
}

/**
 * Serialises an event. The length checked against `maxPayloadLen` is the
 * whole serialised event, source and event names included, as
 * lua-resty-events checks its whole encoded payload (so 200 bytes of data
 * fail a 200-byte limit).
 * @throws {BusError} `data` cannot be cloned (`cause` says why) or the event is too large
 */
export function encodeEvent(source: string, event: string, data: unknown, maxPayloadLen: number): Buffer {
  let bytes: Buffer
  try {
    bytes = serialize([source, event, data])
  } catch (cause) {
    throw new BusError(`failed to publish event: payload cannot be serialized`, { cause })
  }
  if (bytes.length > maxPayloadLen) {
    throw new BusError(`failed to publish event: payload exceeds the limitation (${maxPayloadLen})`)
  }
  return bytes
}

/** Reads back an event written by {@link encodeEvent}. */
export function decodeEvent(bytes: Uint8Array): EncodedEvent {
  const [source, event, data] = deserialize(bytes) as [string, string, unknown]
  return { source, event, data }
}
