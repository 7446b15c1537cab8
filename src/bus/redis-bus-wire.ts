/**
 * The message format of RedisBus: every member publishes binary frames on
 * one pub/sub channel, `${prefix}bus`. A frame is a fixed header followed by
 * a body:
 *
 * | bytes | field |
 * |---|---|
 * | 0 | format version ({@link WIRE_VERSION}) |
 * | 1 | kind (`FRAME_*`) |
 * | 2..9 | publisher's `workerId`, float64 big-endian (an integer below 2^53) |
 * | 10..17 | publisher's sequence number, float64 big-endian, 1, 2, 3... |
 * | 18.. | body: the encoded event (`payload.ts`) for events, empty otherwise |
 *
 * Every frame a member publishes takes the next sequence number, whatever
 * its kind, so that a receiver sees 1, 2, 3... from each publisher (Redis
 * delivers the PUBLISHes of one channel in the order it ran them) and any
 * other step is a lost frame. Heartbeats carry one too: a lost tail is
 * noticed by the next heartbeat (the epoch-and-sequence heartbeat of the
 * missed-invalidation design).
 */

/** The format this code writes and reads; a frame of another version is unreadable. */
const WIRE_VERSION = 1

/** An event for every member (`'all'`). */
export const FRAME_ALL = 1
/** An event for exactly one member (a unique hash): each member that would handle it claims it. */
export const FRAME_UNIQUE = 2
/** A heartbeat: the publisher is alive (and a new member announces itself with its first). */
export const FRAME_HEARTBEAT = 3
/** The publisher closed (`'exit'` with `crashed: false`). */
export const FRAME_GOODBYE = 4
/** A `drain()` marker: its publisher has handled everything before it once it comes back. */
export const FRAME_MARKER = 5
/**
 * A unique event dropped as a duplicate within `uniqueTimeout`: the script
 * that refused it publishes this instead, so the publisher's sequence stays
 * gapless without waiting for the verdict before sending the next frame.
 */
export const FRAME_SKIP = 6

/** The kinds of frames. */
export type FrameKind = typeof FRAME_ALL | typeof FRAME_UNIQUE | typeof FRAME_HEARTBEAT | typeof FRAME_GOODBYE | typeof FRAME_MARKER | typeof FRAME_SKIP

const HEADER_BYTES = 18
const LAST_KIND = FRAME_SKIP

/** A frame as read off the channel. */
export interface Frame {
  readonly kind: FrameKind
  readonly publisher: number
  readonly seq: number
  /** The encoded event of {@link FRAME_ALL} and {@link FRAME_UNIQUE} frames; empty otherwise. */
  readonly body: Uint8Array
}

/** Writes a frame; `body` is the encoded event of an event frame. */
export function encodeFrame(kind: FrameKind, publisher: number, seq: number, body?: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + (body?.length ?? 0))
  frame[0] = WIRE_VERSION
  frame[1] = kind
  frame.writeDoubleBE(publisher, 2)
  frame.writeDoubleBE(seq, 10)
  if (body !== undefined) frame.set(body, HEADER_BYTES)
  return frame
}

/**
 * Reads a frame; answers `undefined` for bytes that are not a frame of this
 * version (a newer member, or a foreign publisher on the channel): the
 * caller cannot know what it missed and must resync.
 */
export function decodeFrame(bytes: Buffer): Frame | undefined {
  if (bytes.length < HEADER_BYTES || bytes[0] !== WIRE_VERSION) return undefined
  const kind = bytes[1] as FrameKind
  if (kind < FRAME_ALL || kind > LAST_KIND) return undefined
  const publisher = bytes.readDoubleBE(2)
  const seq = bytes.readDoubleBE(10)
  if (!Number.isSafeInteger(publisher) || !Number.isSafeInteger(seq) || seq < 1) return undefined
  return { kind, publisher, seq, body: bytes.subarray(HEADER_BYTES) }
}
