/**
 * The member registry of a WorkerBus: {@link MAX_MEMBERS} slots of
 * `{ state, threadId, generation, 0 }`; a member's `workerId` is its slot
 * index, 0 being the end made by `WorkerBus.create`. The registry is
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
import { type BusViews, MAX_MEMBERS } from './worker-bus-layout.js'

/** Slot states. */
const FREE = 0
const ALIVE = 1
/** Int32 words per member slot. */
const MEMBER_WORDS = 4

/** A claimed slot: the `workerId` and the generation that proves it is still ours. */
export interface MemberSlot {
  /** The slot index, which is the member's `workerId`. */
  readonly workerId: number
  /** Bumped at every claim of the slot: tells this membership from a later one in the same slot. */
  readonly generation: number
}

function wordOf(views: BusViews, workerId: number): number {
  return views.membersWord + workerId * MEMBER_WORDS
}

/**
 * Claims the lowest FREE slot in `[from, to]` for thread `threadId`; answers
 * `undefined` when none is free. Call with the append mutex held.
 */
export function claimMember(views: BusViews, threadId: number, from: number, to: number): MemberSlot | undefined {
  const { i32 } = views
  for (let workerId = from; workerId <= to; workerId++) {
    const word = wordOf(views, workerId)
    if (Atomics.load(i32, word) !== FREE) continue
    const generation = ((i32[word + 2] ?? 0) + 1) | 0
    i32[word + 1] = threadId
    i32[word + 2] = generation
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
  if (Atomics.load(views.i32, word) !== ALIVE || views.i32[word + 2] !== slot.generation) return false
  Atomics.store(views.i32, word, FREE)
  return true
}

/**
 * Frees every ALIVE slot of thread `threadId` (a thread may hold several
 * members) and answers their `workerId`s. Call with the append mutex held.
 */
export function releaseThreadMembers(views: BusViews, threadId: number): number[] {
  const freed: number[] = []
  for (let workerId = 0; workerId < MAX_MEMBERS; workerId++) {
    const word = wordOf(views, workerId)
    if (Atomics.load(views.i32, word) === ALIVE && views.i32[word + 1] === threadId) {
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
