/**
 * The member registry of a WorkerBus: {@link MAX_MEMBERS} slots of eight
 * Int32 words, `{ state, threadId, generation, cursor, stalledAt, stalled,
 * answered, 0 }`; a member's `workerId` is its slot index, 0 being the end
 * made by `WorkerBus.create`. `cursor` (the low 32 bits of the seq of the
 * last record it read, stored by the member itself) and the stall marks are
 * the backpressure's (worker-bus-room.ts); `answered` is the last roll call
 * it answered (worker-bus-roll-call.ts). The registry is
 * lua-resty-worker-manager's node-wide membership table in shared memory.
 *
 * Every change happens with the append mutex held, in the same critical
 * section as the lifecycle record that announces it (`'start'` on attach,
 * `'exit'` on close or reaping): a slot is never ALIVE without its `'start'`
 * in the log, and never FREE without its `'exit'`. That is why no separate
 * "closed cleanly" flag is needed: a slot still ALIVE when its thread exits
 * is, by construction, a member that died without leaving. Reads outside the
 * mutex (`workers()`) use `Atomics.load` and may be a moment stale.
 */
import { type BusViews, H_ROLL_CALL, MAX_MEMBERS } from './worker-bus-layout.js'

/** Slot states. */
const FREE = 0
/** See {@link M_STATE}. */
export const ALIVE = 1
/** Int32 words per member slot. */
const MEMBER_WORDS = 8
/** Word offsets in a member slot. */
export const M_STATE = 0
/** See {@link M_STATE}. */
export const M_THREAD = 1
/** See {@link M_STATE}. */
export const M_GENERATION = 2
/** The low 32 bits of the member's cursor: how far behind the head it is, modulo 2^32. */
export const M_CURSOR = 3
/** The cursor a publisher found unmoved for `stallTimeout` (meaningful while {@link M_STALLED} is 1). */
export const M_STALLED_AT = 4
/** 1 once a publisher declared the member stalled; it is stalled while its cursor is still {@link M_STALLED_AT}. */
export const M_STALLED = 5
/** The epoch of the last roll call the member answered. */
export const M_ANSWERED = 6

/** A claimed slot: the `workerId` and the generation that proves it is still ours. */
export interface MemberSlot {
  /** The slot index, which is the member's `workerId`. */
  readonly workerId: number
  /** Bumped at every claim of the slot: tells this membership from a later one in the same slot. */
  readonly generation: number
}

/** The Int32 index of member `workerId`'s first word. */
export function wordOf(views: BusViews, workerId: number): number {
  return views.membersWord + workerId * MEMBER_WORDS
}

/**
 * Claims the lowest FREE slot in `[from, to]` for thread `threadId`, reading
 * from `cursor` on; answers `undefined` when none is free. Call with the
 * append mutex held.
 */
export function claimMember(views: BusViews, threadId: number, from: number, to: number, cursor: number): MemberSlot | undefined {
  const { i32 } = views
  for (let workerId = from; workerId <= to; workerId++) {
    const word = wordOf(views, workerId)
    if (Atomics.load(i32, word) !== FREE) continue
    const generation = ((i32[word + M_GENERATION] ?? 0) + 1) | 0
    i32[word + M_THREAD] = threadId
    i32[word + M_GENERATION] = generation
    Atomics.store(i32, word + M_CURSOR, cursor | 0)
    Atomics.store(i32, word + M_STALLED, 0)
    Atomics.store(i32, word + M_ANSWERED, Atomics.load(i32, H_ROLL_CALL))
    Atomics.store(i32, word, ALIVE)
    return { workerId, generation }
  }
  return undefined
}

/**
 * Frees `slot` if it is still the same membership (not reaped and reused
 * since); answers whether it did. Call with the append mutex held.
 */
export function releaseMember(views: BusViews, slot: MemberSlot): boolean {
  const word = wordOf(views, slot.workerId)
  if (!holds(views, slot)) return false
  Atomics.store(views.i32, word, FREE)
  return true
}

/** Whether `slot` is still this membership: ALIVE, and not reclaimed and reused since. */
export function holds(views: BusViews, slot: MemberSlot): boolean {
  const word = wordOf(views, slot.workerId)
  return Atomics.load(views.i32, word) === ALIVE && Atomics.load(views.i32, word + M_GENERATION) === slot.generation
}

/**
 * Frees every ALIVE slot of thread `threadId` (a thread may hold several
 * members) and answers their `workerId`s. Call with the append mutex held.
 */
export function releaseThreadMembers(views: BusViews, threadId: number): number[] {
  const freed: number[] = []
  for (let workerId = 0; workerId < MAX_MEMBERS; workerId++) {
    const word = wordOf(views, workerId)
    if (Atomics.load(views.i32, word) === ALIVE && views.i32[word + M_THREAD] === threadId) {
      Atomics.store(views.i32, word, FREE)
      freed.push(workerId)
    }
  }
  return freed
}

/** The `workerId`s of the ALIVE slots, ascending. */
export function aliveMembers(views: BusViews): number[] {
  const alive: number[] = []
  for (let workerId = 0; workerId < MAX_MEMBERS; workerId++) {
    if (Atomics.load(views.i32, wordOf(views, workerId)) === ALIVE) alive.push(workerId)
  }
  return alive
}
