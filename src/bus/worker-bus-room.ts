/**
 * Backpressure of a WorkerBus: whether a record can be appended without
 * overwriting a record some member has not read yet.
 *
 * lua-resty-events never loses an event to a slow worker while its socket
 * buffer holds (the broker's queues block the publisher); the ring log must
 * not do worse just because a member's event loop was a few milliseconds
 * late. So every member stores its cursor in its registry slot as it reads,
 * and a publisher whose record would overwrite a record (or payload bytes)
 * a live member still needs waits instead, woken by readers through
 * {@link H_PROGRESS}. Only a member whose cursor stays put for
 * `stallTimeout` while it is behind (a thread stuck in a synchronous task,
 * or dead) is declared stalled: publishers stop waiting for it and overwrite
 * its records; it finds the gap when it runs again and resyncs. The mark
 * lapses by itself as soon as its cursor moves (it is kept as "stalled at
 * cursor c"), so a member that recovers is waited for again.
 *
 * Cursors are stored as their low 32 bits: a member's distance behind the
 * head is what matters, and a member that is waited for is at most
 * `maxQueueLen` (at most 2^20) records behind. A distance beyond that means
 * the member was already overwritten (declared stalled earlier): waiting for
 * it would be pointless, it resyncs when it reads.
 */
import { B_HEAD, B_RESERVED, type BusViews, H_PROGRESS, H_ROOM_WAITERS, MAX_MEMBERS, SLOT_BYTES } from './worker-bus-layout.js'
import { ALIVE, M_CURSOR, M_GENERATION, M_STALLED, M_STALLED_AT, wordOf } from './worker-bus-members.js'

/** The member a publisher waits for: the one furthest behind. */
export interface Blocker {
  readonly workerId: number
  readonly generation: number
  /** Its cursor (low 32 bits) when it was found blocking. */
  readonly cursor: number
}

/**
 * Room in the ring for one publisher. It caches the bound it last computed
 * (the highest seq and reserved byte position that overwrite nothing
 * needed): cursors only move forward and a member attaches at the head, so
 * the bound stays safe until it is reached, and the registry is scanned
 * only then, not at every publish.
 */
export class RingRoom {
  readonly #views: BusViews
  readonly #slots: number
  readonly #ringBytes: number
  readonly #slot64: number
  #roomSeq = 0
  #roomBytes = 0

  /** @param views - an opened or created bus buffer */
  constructor(views: BusViews) {
    this.#views = views
    this.#slots = views.geometry.slots
    this.#ringBytes = views.geometry.ringBytes
    this.#slot64 = views.slotsByte / 8
  }

  /**
   * Answers `undefined` when a record of `length` bytes can be appended now,
   * else the member it would overwrite. The publisher's own member counts
   * like any other: awaiting the publish frees its event loop to read. (A
   * handler that awaits a publish while its own member is the one furthest
   * behind waits `stallTimeout`, then its member is overwritten and
   * resyncs: a publish cannot tell whether a handler awaits it.) Call with
   * the append mutex held.
   */
  blockerLocked(length: number): Blocker | undefined {
    const { i64 } = this.#views
    const head = Number(i64[B_HEAD])
    const reserved = Number(i64[B_RESERVED])
    if (head + 1 <= this.#roomSeq && reserved + length <= this.#roomBytes) return undefined
    const blocker = this.#scan(head, reserved)
    return head + 1 <= this.#roomSeq && reserved + length <= this.#roomBytes ? undefined : blocker
  }

  /**
   * Declares `blocker` stalled, unless its cursor moved or its slot changed
   * hands since it was found blocking. Call with the append mutex held.
   */
  markStalledLocked(blocker: Blocker): void {
    const { i32 } = this.#views
    const word = wordOf(this.#views, blocker.workerId)
    if (Atomics.load(i32, word) !== ALIVE || Atomics.load(i32, word + M_GENERATION) !== blocker.generation) return
    Atomics.store(i32, word + M_STALLED_AT, blocker.cursor)
    Atomics.store(i32, word + M_STALLED, 1)
    this.#roomSeq = 0 // rescan without it
  }

  /** Computes the bound from the members' cursors and answers the member furthest behind. */
  #scan(head: number, reserved: number): Blocker | undefined {
    const { i32, i64, f64 } = this.#views
    const headLow = head | 0
    let lag = -1
    let blocker: Blocker | undefined
    for (let workerId = 0; workerId < MAX_MEMBERS; workerId++) {
      const word = wordOf(this.#views, workerId)
      if (Atomics.load(i32, word) !== ALIVE) continue
      const cursor = Atomics.load(i32, word + M_CURSOR)
      if (Atomics.load(i32, word + M_STALLED) === 1 && Atomics.load(i32, word + M_STALLED_AT) === cursor) continue
      const behind = (headLow - cursor) >>> 0
      if (behind > this.#slots || behind <= lag) continue // already overwritten, or not the furthest behind
      lag = behind
      blocker = { workerId, generation: Atomics.load(i32, word + M_GENERATION), cursor }
    }
    // Nobody behind: whoever reads next starts at the head (an attach too), the next record included.
    const oldest = head - Math.max(lag, 0) // the cursor furthest behind
    this.#roomSeq = oldest + this.#slots
    let start = reserved
    if (oldest < head) {
      // The payload of its first unread record bounds the bytes; that slot still holds it (behind <= slots).
      const at64 = this.#slot64 + ((oldest + 1) % this.#slots) * (SLOT_BYTES / 8)
      if (Atomics.load(i64, at64) === BigInt(oldest + 1)) start = f64[at64 + 2] ?? reserved
    }
    this.#roomBytes = start + this.#ringBytes
    return blocker
  }
}

/**
 * Reader side: stores this member's cursor (the seq of the last record it
 * read) where publishers see it. Called for every record: one store.
 */
export function storeCursor(i32: Int32Array, cursorWord: number, seq: number): void {
  Atomics.store(i32, cursorWord, seq | 0)
}

/**
 * Reader side: wakes the publishers waiting for room, if any (one load when
 * none waits). Called when a reader yields or catches up, not per record:
 * a waiting publisher then appends a batch per wake-up.
 */
export function signalProgress(i32: Int32Array): void {
  if (Atomics.load(i32, H_ROOM_WAITERS) === 0) return
  Atomics.add(i32, H_PROGRESS, 1)
  Atomics.notify(i32, H_PROGRESS)
}

/** Whether two blockers are the same member at the same cursor (it has not moved). */
export function sameBlocker(a: Blocker, b: Blocker | undefined): boolean {
  return a.workerId === b?.workerId && a.generation === b.generation && a.cursor === b.cursor
}

/**
 * Waits until a reader signals progress (the word moves from `seen`) or
 * `ms` pass. The timer keeps the thread alive meanwhile: a publish waiting
 * for room is unfinished work (a bare `waitAsync` would let the thread end).
 */
export async function waitForProgress(i32: Int32Array, seen: number, ms: number): Promise<void> {
  const wait = Atomics.waitAsync(i32, H_PROGRESS, seen, ms)
  if (!wait.async) return
  let timer: NodeJS.Timeout | undefined
  await Promise.race([wait.value, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
  clearTimeout(timer)
}
