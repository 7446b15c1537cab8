/**
 * The byte layout of a WorkerBus's SharedArrayBuffer: the ring log every
 * member reads, its append mutex, the member registry and the unique-hash
 * table. Every thread on the bus interprets the same bytes, so these numbers
 * are a wire format: any change must bump {@link BUS_LAYOUT_VERSION}, and
 * `WorkerBus.attach` refuses a buffer of another version.
 *
 * ```
 * [0 .. 256)                 header (Int32 words, the BigInt64 head, byte reservation and relay mark)
 * [256 .. +64*32)            member registry: 8 Int32 words per member (see worker-bus-members.ts)
 * [.. +1024*16)              unique-hash table: hash1, hash2, expiry f64
 * [.. +slots*32)             record slots, indexed by seq % slots
 * [.. +ringBytes)            payload bytes, a byte ring addressed by a growing position
 * ```
 *
 * A record slot (32 bytes): `+0 seq i64` (stored last, -1 while rewritten),
 * `+8 claim i64` (`seq` unclaimed, `-(seq * 128 + workerId + 1)` once member
 * `workerId` took the unique event, `-(seq * 128)` once it handled it), `+16 start f64` (byte position of the payload), `+24 length i32`,
 * `+28 meta i32` (`kind | publisher << 8`). The payload is the event as
 * `v8.serialize([source, event, data])` (see `payload.ts`).
 *
 * Sequence numbers and byte positions are kept in 64-bit words and read as
 * JS numbers: they never wrap in practice (2^53).
 */
import { BusError } from '../errors.js'

/** 'MLWB' read as a little-endian u32. */
export const BUS_MAGIC = 0x4257_4c4d
/** Version of this layout; `attach` refuses any other. */
export const BUS_LAYOUT_VERSION = 3

/** Members a bus can hold at once (the main end included); `workerId`s are 0..63. */
export const MAX_MEMBERS = 64
/** Hashes the unique table remembers, as lua-resty-events' broker LRU (1,024). */
export const UNIQUE_TABLE_CAPACITY = 1024

const HEADER_BYTES = 256
const MEMBER_BYTES = 32
const UNIQUE_ENTRY_BYTES = 16
/** Bytes of one record slot. */
export const SLOT_BYTES = 32

// ---- Header, Int32 word indices: constants written once by `create`. ----
/** Word: {@link BUS_MAGIC}, stored last by `create`. */
export const H_MAGIC = 0
/** Word: {@link BUS_LAYOUT_VERSION}. */
export const H_VERSION = 1
/** Word: number of record slots (`maxQueueLen`). */
export const H_SLOTS = 2
/** Word: size of the payload ring in bytes. */
export const H_RING_BYTES = 3
/** Word: `maxPayloadLen` of the bus. */
export const H_MAX_PAYLOAD = 4
/** Float64 index (byte 24): `uniqueTimeout` of the bus, in ms. */
export const F_UNIQUE_TIMEOUT = 3
/** Float64 index (byte 32): `stallTimeout` of the bus, in ms. */
export const F_STALL_TIMEOUT = 4
// ---- Header, Int32 words that change rarely (the constants' line): ----
/** Word: publishers waiting for room in the ring; readers signal {@link H_PROGRESS} only while it is not 0. */
export const H_ROOM_WAITERS = 10
/** Word: bumped and notified by readers that moved their cursor while publishers wait for room. */
export const H_PROGRESS = 11
/** Word: the epoch of the last roll call (see worker-bus-roll-call.ts). */
export const H_ROLL_CALL = 12
/** Word: bumped and notified by every member that answers a roll call. */
export const H_ROLL_ANSWERS = 13
/** Word, written once by `create`: the upstream's reach (see worker-bus-relay.ts), 0 without an upstream. */
export const H_REACH = 14
/** Word: 1 while the created end relays to its upstream, 0 before and after. */
export const H_RELAYING = 15
/** Word (own 64-byte line): the append mutex, `0` or `(threadId + 1) << 1 | contended`. */
export const H_MUTEX = 16
/** Word: bumped by every acquisition of the mutex, so a stuck owner can be told from a busy one. */
export const H_MUTEX_TICKET = 17
/** BigInt64 index (byte 128, own line): the global sequence, seq of the last committed record. */
export const B_HEAD = 16
/** BigInt64 index (byte 192): bytes reserved in the ring so far (a growing position). */
export const B_RESERVED = 24
/** BigInt64 index (byte 224): the seq up to which the relaying end has handed the members' events to its upstream. */
export const B_RELAYED = 28

/** Record kinds stored in a slot's meta word. */
export const KIND_ALL = 1
/** See {@link KIND_ALL}. */
export const KIND_UNIQUE = 2
/** An `'all'` event the relaying end brought in from its upstream: handled by every member, never sent back. */
export const KIND_RELAYED = 3
/** A message between the members and the relaying end (drains); never dispatched to handlers. */
export const KIND_CONTROL = 4

/** Geometry chosen at `create`. */
export interface BusGeometry {
  /** Record slots: the most records the ring keeps (`maxQueueLen`). */
  readonly slots: number
  /** Payload ring size in bytes, a multiple of 8. */
  readonly ringBytes: number
  /** The bus's `maxPayloadLen`, the same for every member. */
  readonly maxPayloadLen: number
  /** The bus's `uniqueTimeout` in ms: the dedup window is shared, so is its length. */
  readonly uniqueTimeout: number
  /** The bus's `stallTimeout` in ms: every publisher waits for the same members as long. */
  readonly stallTimeout: number
}

/** Typed views over one bus buffer, and where each region starts. */
export interface BusViews {
  /** The whole bus. */
  readonly buffer: SharedArrayBuffer
  /** Int32 view: header words, mutex, registry, unique hashes, slot lengths and kinds. */
  readonly i32: Int32Array
  /** BigInt64 view: head, reserved position, slot seq and claim words. */
  readonly i64: BigInt64Array
  /** Float64 view: unique expiries, slot payload positions. */
  readonly f64: Float64Array
  /** Byte view: the payload ring. */
  readonly u8: Uint8Array
  /** As written by `create`. */
  readonly geometry: BusGeometry
  /** Int32 index of member 0's first word. */
  readonly membersWord: number
  /** Int32 index of unique entry 0's first word. */
  readonly uniqueWord: number
  /** Byte offset of slot 0. */
  readonly slotsByte: number
  /** Byte offset of the payload ring. */
  readonly ringByte: number
}

/** The structured-cloneable handle of a WorkerBus: pass it in `workerData` or `postMessage`. */
export interface WorkerBusHandle {
  /** The shared memory of the bus; shared, never transferred. */
  readonly buffer: SharedArrayBuffer
}

function regions(slots: number): Pick<BusViews, 'membersWord' | 'uniqueWord' | 'slotsByte' | 'ringByte'> {
  const membersByte = HEADER_BYTES
  const uniqueByte = membersByte + MAX_MEMBERS * MEMBER_BYTES
  const slotsByte = uniqueByte + UNIQUE_TABLE_CAPACITY * UNIQUE_ENTRY_BYTES
  const ringByte = slotsByte + slots * SLOT_BYTES
  return { membersWord: membersByte / 4, uniqueWord: uniqueByte / 4, slotsByte, ringByte }
}

function viewsOf(buffer: SharedArrayBuffer, geometry: BusGeometry): BusViews {
  return {
    buffer,
    i32: new Int32Array(buffer),
    i64: new BigInt64Array(buffer),
    f64: new Float64Array(buffer),
    u8: new Uint8Array(buffer),
    geometry,
    ...regions(geometry.slots),
  }
}

/** Allocates and initialises a bus buffer (zeroed memory is an empty bus: head 0, every slot FREE). */
export function createBusBuffer(geometry: BusGeometry): BusViews {
  const { ringByte } = regions(geometry.slots)
  const views = viewsOf(new SharedArrayBuffer(ringByte + geometry.ringBytes), geometry)
  const { i32, i64, f64 } = views
  i32[H_VERSION] = BUS_LAYOUT_VERSION
  i32[H_SLOTS] = geometry.slots
  i32[H_RING_BYTES] = geometry.ringBytes
  i32[H_MAX_PAYLOAD] = geometry.maxPayloadLen
  f64[F_UNIQUE_TIMEOUT] = geometry.uniqueTimeout
  f64[F_STALL_TIMEOUT] = geometry.stallTimeout
  // No record has seq 0: mark every slot as empty so that seq 0 never matches.
  for (let slot = 0; slot < geometry.slots; slot++) i64[(views.slotsByte + slot * SLOT_BYTES) / 8] = -1n
  Atomics.store(i32, H_MAGIC, BUS_MAGIC)
  return views
}

/**
 * Opens the buffer of a handle made by `WorkerBus.create`.
 * @throws {TypeError} not a WorkerBus handle
 * @throws {BusError} a buffer of another layout version
 */
export function openBusBuffer(handle: unknown): BusViews {
  const buffer = (handle as { buffer?: unknown } | null | undefined)?.buffer
  if (typeof handle !== 'object' || !(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES) {
    throw new TypeError('handle must be the handle of a WorkerBus')
  }
  const i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4)
  if (Atomics.load(i32, H_MAGIC) !== BUS_MAGIC) throw new TypeError('handle must be the handle of a WorkerBus')
  const version = i32[H_VERSION] ?? 0
  if (version !== BUS_LAYOUT_VERSION) {
    throw new BusError(`WorkerBus layout version ${version} is not supported (expected ${BUS_LAYOUT_VERSION})`)
  }
  const f64 = new Float64Array(buffer, 0, HEADER_BYTES / 8)
  return viewsOf(buffer, {
    slots: i32[H_SLOTS] ?? 0,
    ringBytes: i32[H_RING_BYTES] ?? 0,
    maxPayloadLen: i32[H_MAX_PAYLOAD] ?? 0,
    uniqueTimeout: f64[F_UNIQUE_TIMEOUT] ?? 0,
    stallTimeout: f64[F_STALL_TIMEOUT] ?? 0,
  })
}
