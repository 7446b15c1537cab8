/**
 * The ring log of a WorkerBus: lua-resty-worker-events' (and mlcache ipc's)
 * shm event log done right. One global sequence,
 * records in `seq % slots` slots, payload bytes in a byte ring. Writers
 * append under the append mutex; readers never lock: each keeps a cursor
 * and reads `cursor + 1 .. head`, then checks that what it copied was not
 * overwritten meanwhile (a seqlock), so a reader that fell behind *knows* it
 * lost records instead of silently skipping them (mlcache ipc cannot tell
 * "evicted" from "not written yet" and waits up to 0.3 s on every gap).
 *
 * Commit order, all under the mutex: reserve the payload bytes (bump the
 * reserved position first, so a reader of older bytes sees they are being
 * reused), mark the slot invalid, copy the payload, fill the slot, store
 * the slot's seq, then store the head and notify it. A reader validates a
 * record by its slot seq (before and after copying) and by the reserved
 * position not having lapped the payload's start. The payload copy itself
 * is a plain (racy) read: JavaScript gives torn bytes, never undefined
 * behaviour, and the checks after the copy throw torn copies away.
 */
import {
  B_HEAD,
  B_RESERVED,
  type BusViews,
  SLOT_BYTES,
} from './worker-bus-layout.js'
import { acquireBusMutex, releaseBusMutex } from './worker-bus-mutex.js'

/** A record as read from the ring. */
export interface RingRecord {
  /** `KIND_ALL` or `KIND_UNIQUE`. */
  readonly kind: number
  /** `workerId` of the member that wrote it. */
  readonly publisher: number
  /** A private copy of the serialised `[source, event, data]`. */
  readonly bytes: Buffer
}

/** BigInt64 words per slot, and the word offsets inside one. */
const SLOT_I64 = SLOT_BYTES / 8
const S_SEQ = 0
const S_CLAIM = 1

/**
 * Appends to and reads from the ring log of one bus buffer. Stateless
 * besides the views: every member keeps its own cursor.
 */
export class RingLog {
  readonly #views: BusViews
  readonly #slots: number
  readonly #ringBytes: number
  /** BigInt64 / Float64 index of slot 0 (its Int32 index is twice that). */
  readonly #slot64: number

  readonly #ownerDeadAfter: number

  /**
   * @param views - an opened or created bus buffer
   * @param ownerDeadAfter - how long to wait behind an unsupervised owner of the append mutex that shows no progress
   */
  constructor(views: BusViews, ownerDeadAfter: number) {
    this.#views = views
    this.#ownerDeadAfter = ownerDeadAfter
    this.#slots = views.geometry.slots
    this.#ringBytes = views.geometry.ringBytes
    this.#slot64 = views.slotsByte / 8
  }

  /** The seq of the last committed record (0 before the first). */
  head(): number {
    return Number(Atomics.load(this.#views.i64, B_HEAD))
  }

  /**
   * Runs `section` with the append mutex held, then wakes the readers if it
   * committed records. `section` must not throw nor run user code.
   */
  locked<T>(section: () => T): T {
    const { i32, i64 } = this.#views
    const held = acquireBusMutex(i32, this.#ownerDeadAfter)
    const before = i64[B_HEAD]
    let result: T
    try {
      result = section()
    } finally {
      releaseBusMutex(i32, held)
    }
    if (Atomics.load(i64, B_HEAD) !== before) Atomics.notify(i64, B_HEAD)
    return result
  }

  /** Appends a record and answers its seq. Call inside {@link RingLog.locked}; `bytes.length` <= ring size. */
  appendLocked(bytes: Uint8Array, kind: number, publisher: number): number {
    const { i32, i64, f64, u8 } = this.#views
    const seq = Number(i64[B_HEAD]) + 1
    const start = Number(i64[B_RESERVED])
    Atomics.store(i64, B_RESERVED, BigInt(start + bytes.length))
    const at64 = this.#slotOf(seq)
    Atomics.store(i64, at64 + S_SEQ, -1n)
    const offset = start % this.#ringBytes
    const first = Math.min(bytes.length, this.#ringBytes - offset)
    const ringByte = this.#views.ringByte
    u8.set(first === bytes.length ? bytes : bytes.subarray(0, first), ringByte + offset)
    if (first < bytes.length) u8.set(bytes.subarray(first), ringByte)
    Atomics.store(i64, at64 + S_CLAIM, BigInt(seq))
    f64[at64 + 2] = start
    const at32 = at64 * 2
    i32[at32 + 6] = bytes.length
    i32[at32 + 7] = kind | (publisher << 8)
    Atomics.store(i64, at64 + S_SEQ, BigInt(seq))
    Atomics.store(i64, B_HEAD, BigInt(seq))
    return seq
  }

  /** Whether record `seq` is still in its slot and its payload bytes are intact. */
  intact(seq: number): boolean {
    const { i64, f64 } = this.#views
    const at64 = this.#slotOf(seq)
    if (Atomics.load(i64, at64 + S_SEQ) !== BigInt(seq)) return false
    const start = f64[at64 + 2] ?? 0
    return Number(Atomics.load(i64, B_RESERVED)) - start <= this.#ringBytes
  }

  /** Copies record `seq` out of the ring; `undefined` when it was overwritten. `seq` must be <= head. */
  read(seq: number): RingRecord | undefined {
    const { i32, f64, u8 } = this.#views
    if (!this.intact(seq)) return undefined
    const at64 = this.#slotOf(seq)
    const start = f64[at64 + 2] ?? 0
    const length = i32[at64 * 2 + 6] ?? 0
    const meta = i32[at64 * 2 + 7] ?? 0
    if (length < 0 || length > this.#ringBytes) return undefined
    const bytes = Buffer.allocUnsafe(length)
    const offset = start % this.#ringBytes
    const first = Math.min(length, this.#ringBytes - offset)
    const ringByte = this.#views.ringByte
    bytes.set(u8.subarray(ringByte + offset, ringByte + offset + first))
    if (first < length) bytes.set(u8.subarray(ringByte, ringByte + length - first), first)
    // Validate after copying: a writer that lapped us changed the slot or the reservation first.
    if (!this.intact(seq)) return undefined
    return { kind: meta & 0xff, publisher: meta >>> 8, bytes }
  }

  /**
   * Takes unique record `seq` for member `workerId`: a compare-and-swap on
   * its claim word, which holds `seq` until a member takes it, then
   * `-(seq * 128 + workerId + 1)` until that member has handled it, then
   * `-(seq * 128)`. Every value names the seq, so a claim can never land on
   * a newer record reusing the slot. Answers `true` when this member won,
   * `false` when another did, `undefined` when the record was overwritten
   * (nobody can tell whether it was handled).
   */
  claim(seq: number, workerId: number): boolean | undefined {
    const big = BigInt(seq)
    if (Atomics.compareExchange(this.#views.i64, this.#slotOf(seq) + S_CLAIM, big, takenWord(seq, workerId)) === big) return true
    return this.intact(seq) ? false : undefined
  }

  /**
   * The `workerId` of the member that took unique record `seq` and has not
   * handled it yet; -1 when it is handled, not taken, or overwritten.
   */
  takenBy(seq: number): number {
    const word = Atomics.load(this.#views.i64, this.#slotOf(seq) + S_CLAIM)
    const owner = Number(-word - BigInt(seq) * 128n) - 1
    return owner >= 0 && owner < 127 ? owner : -1
  }

  /**
   * Takes unique record `seq` over from member `from`, which took it and
   * died before handling it; answers whether member `workerId` won it.
   */
  takeOver(seq: number, from: number, workerId: number): boolean {
    const taken = takenWord(seq, from)
    return Atomics.compareExchange(this.#views.i64, this.#slotOf(seq) + S_CLAIM, taken, takenWord(seq, workerId)) === taken
  }

  /** Marks unique record `seq`, taken by member `workerId`, handled (nothing if it was overwritten meanwhile). */
  handled(seq: number, workerId: number): void {
    Atomics.compareExchange(this.#views.i64, this.#slotOf(seq) + S_CLAIM, takenWord(seq, workerId), -BigInt(seq) * 128n)
  }

  /**
   * The seq to resume after once record `lost` was found overwritten: the
   * one before the oldest later record still intact (the next read is then
   * the oldest available record), or the head when none is.
   */
  resumeAfterLoss(lost: number): number {
    const head = this.head()
    for (let seq = Math.max(lost + 1, head - this.#slots + 1); seq <= head; seq++) {
      if (this.intact(seq)) return seq - 1
    }
    return head
  }

  /** The BigInt64 index of the slot that holds record `seq`. */
  #slotOf(seq: number): number {
    return this.#slot64 + (seq % this.#slots) * SLOT_I64
  }

  /**
   * Waits for the head to move past `seen`, at most `ms` milliseconds.
   * Answers `undefined` when it already has (call again at once), else a
   * promise that resolves on a notify or the timeout. A pending
   * `Atomics.waitAsync` holds no libuv handle, so it never keeps a thread
   * alive by itself: a bus must not.
   */
  waitForHead(seen: number, ms: number): Promise<unknown> | undefined {
    const result = Atomics.waitAsync(this.#views.i64, B_HEAD, BigInt(seen), ms)
    return result.async ? result.value : undefined
  }

  /** Wakes every reader waiting on the head (spurious wake-ups are harmless). */
  wakeAll(): void {
    Atomics.notify(this.#views.i64, B_HEAD)
  }
}

/** The claim word of unique record `seq` while member `workerId` holds it unhandled. */
function takenWord(seq: number, workerId: number): bigint {
  return -(BigInt(seq) * 128n + BigInt(workerId + 1))
}
