/**
 * Reclaiming the registry slots of members that died unsupervised.
 *
 * A member dies unsupervised when the thread that created its worker has no
 * open member (see worker-bus-supervisor.ts): nobody sees its `Worker` emit
 * `'exit'`, and Node offers no way to ask whether another thread is alive.
 * Its slot stays ALIVE, and after 63 such deaths `attach` would fail for
 * ever. lua-resty-worker-manager would time such a worker out on missed
 * heartbeats; a timer guess alone would also evict a live member whose
 * thread is merely busy, and would run all the time.
 *
 * So the question is asked only when a slot is needed (an `attach` that
 * finds the registry full), and asked of the members themselves: a roll
 * call. The attaching thread bumps the roll-call epoch and notifies it;
 * every member keeps an `Atomics.waitAsync` on that word (no libuv handle,
 * no timer: idle members cost nothing) and answers from its event loop by
 * storing the epoch in its slot, independently of its handlers (a member
 * whose handler awaits a slow promise still answers). The attaching thread
 * waits synchronously, `attach` being synchronous, for up to `stallTimeout`;
 * the members of other threads that did not answer are reclaimed: their
 * slot is freed and their `('worker', 'exit', { crashed: true })` published.
 * Members of the attaching thread are alive by definition and are not
 * asked (they could not answer while it waits). A dead member can never
 * answer; a live one is evicted only if its thread was stuck for the whole
 * `stallTimeout` exactly when the registry was full. Such a member notices
 * when it runs again (its slot's generation changed) and joins again under
 * a new `workerId`, delivering a resync first (see `WorkerBus`).
 *
 * Why not reclaim in the background, or from cursors that stop moving? A
 * cursor also stops when a thread is stuck, so that is the same timer
 * guess, run even when no slot is needed; the roll call runs only when the
 * alternative is an `attach` that fails.
 */
import { type BusViews, H_ROLL_ANSWERS, H_ROLL_CALL, MAX_MEMBERS } from './worker-bus-layout.js'
import { ALIVE, M_ANSWERED, M_GENERATION, M_THREAD, type MemberSlot, wordOf } from './worker-bus-members.js'

/** The outcome of a roll call: its epoch and the members that did not answer it in time. */
export interface RollCall {
  readonly epoch: number
  readonly silent: MemberSlot[]
}

/**
 * Holds a roll call: answers the members of threads other than
 * `selfThreadId` that were ALIVE when it began and have not answered within
 * `timeout` ms (and still hold the same slot). Blocks this thread meanwhile
 * (`Atomics.wait`); returns as soon as every one of them has answered. Call
 * without the append mutex held: nothing a member does to answer needs it.
 */
export function rollCall(views: BusViews, selfThreadId: number, timeout: number): RollCall {
  const { i32 } = views
  const asked: MemberSlot[] = []
  for (let workerId = 0; workerId < MAX_MEMBERS; workerId++) {
    const word = wordOf(views, workerId)
    if (Atomics.load(i32, word) !== ALIVE || Atomics.load(i32, word + M_THREAD) === selfThreadId) continue
    asked.push({ workerId, generation: Atomics.load(i32, word + M_GENERATION) })
  }
  const epoch = (Atomics.add(i32, H_ROLL_CALL, 1) + 1) | 0
  if (asked.length === 0) return { epoch, silent: [] }
  Atomics.notify(i32, H_ROLL_CALL)
  const deadline = performance.now() + timeout
  for (;;) {
    const answers = Atomics.load(i32, H_ROLL_ANSWERS) // before the check: an answer after it wakes the wait
    const silent = asked.filter((slot) => stillSilent(views, slot, epoch))
    const left = deadline - performance.now()
    if (silent.length === 0 || left <= 0) return { epoch, silent }
    Atomics.wait(i32, H_ROLL_ANSWERS, answers, left)
  }
}

/**
 * Whether `slot` still holds the same member and it has not answered roll
 * call `epoch`. Checked again with the append mutex held, just before the
 * slot is freed: a member that answered late is not reclaimed.
 */
export function stillSilent(views: BusViews, slot: MemberSlot, epoch: number): boolean {
  const { i32 } = views
  const word = wordOf(views, slot.workerId)
  const same = Atomics.load(i32, word) === ALIVE && Atomics.load(i32, word + M_GENERATION) === slot.generation
  return same && ((Atomics.load(i32, word + M_ANSWERED) - epoch) | 0) < 0
}

/**
 * A member's side of the roll calls: answers each one from this thread's
 * event loop, for as long as it is started.
 */
export class RollCallAnswerer {
  readonly #i32: Int32Array
  readonly #answeredWord: () => number
  readonly #answered: () => void
  #stopped = false

  /**
   * @param views - the bus
   * @param answeredWord - the Int32 index where this member answers (its slot may change if it joins again)
   * @param answered - called after each answer (the member checks it still holds its slot)
   */
  constructor(views: BusViews, answeredWord: () => number, answered: () => void) {
    this.#i32 = views.i32
    this.#answeredWord = answeredWord
    this.#answered = answered
  }

  /** Starts answering. */
  start(): void {
    this.#arm()
  }

  /** Stops answering; wakes the pending wait so it does not outlive the member. */
  stop(): void {
    this.#stopped = true
    Atomics.notify(this.#i32, H_ROLL_CALL) // other members wake too, and answer again: harmless
  }

  #arm(): void {
    if (this.#stopped) return
    const wait = Atomics.waitAsync(this.#i32, H_ROLL_CALL, Atomics.load(this.#i32, H_ROLL_CALL))
    if (wait.async) void wait.value.then(this.#answer)
    else queueMicrotask(this.#answer)
  }

  readonly #answer = (): void => {
    if (this.#stopped) return
    const i32 = this.#i32
    Atomics.store(i32, this.#answeredWord(), Atomics.load(i32, H_ROLL_CALL))
    Atomics.add(i32, H_ROLL_ANSWERS, 1)
    Atomics.notify(i32, H_ROLL_ANSWERS)
    this.#answered()
    this.#arm()
  }
}
