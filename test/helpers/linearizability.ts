/**
 * A linearizability checker for concurrent histories: the Wing–Gong search
 * with Lowe's memoisation ("Testing for linearizability", 2017), the
 * algorithm of Porcupine and Knossos' `wgl`.
 *
 * A history is a set of operations, each with the logical time of its call
 * and of its return (e.g. ticks of a shared `Atomics.add` counter, taken
 * just before the call and just after the return). It is linearizable when
 * some total order of the operations (1) respects real time: an operation
 * that returned before another was called comes first, and (2) is a legal
 * run of the sequential model, every operation answering what it answered.
 *
 * Linearizability is compositional: check a key-value store key by key (one
 * register per key) rather than as a whole; the search is exponential in
 * the number of overlapping operations, so keep each history small (tens of
 * operations) and the concurrency modest.
 */

/** One operation of a history. */
export interface HistoryOp<I, O> {
  /** Logical time of the call. */
  readonly call: number
  /**
   * Logical time of the return, greater than `call`. Operations whose times
   * are equal count as overlapping. An operation that never returned (its
   * thread died) may be given `Infinity` with an output the model accepts
   * whatever happened: it may then take effect at any point after its call.
   */
  readonly ret: number
  /** What was asked (operation kind and arguments). */
  readonly input: I
  /** What was answered. */
  readonly output: O
}

/** A sequential specification: the object as it behaves with one thread. */
export interface SequentialModel<S, I, O> {
  /** The state before any operation. */
  readonly init: S
  /**
   * Applies `input` to `state`: `{ ok: true, state }` with the next state
   * when the sequential object could have answered `output`, else
   * `{ ok: false }`. Must not mutate `state`.
   */
  step(state: S, input: I, output: O): { ok: true; state: S } | { ok: false }
  /**
   * A string identifying `state`, used to memoise visited configurations:
   * equal states must give equal strings. Defaults to `JSON.stringify`
   * (with `undefined` allowed).
   */
  key?(state: S): string
}

/** The verdict of {@link checkLinearizable}. */
export type LinearizabilityResult<I, O> =
  | {
      /** The history is linearizable. */
      readonly linearizable: true
      /** A witness: the operations in a legal order respecting real time. */
      readonly order: readonly HistoryOp<I, O>[]
    }
  | {
      /** The history is not linearizable. */
      readonly linearizable: false
      /** The longest legal prefix the search found, to start debugging from. */
      readonly longestPrefix: readonly HistoryOp<I, O>[]
    }

/** A call or return event in the doubly linked event list of the search. */
interface Event {
  readonly op: number
  readonly isCall: boolean
  /** The return event of a call (unused on returns). */
  match: Event | undefined
  prev: Event | undefined
  next: Event | undefined
}

const defaultKey = (state: unknown): string => JSON.stringify(state) ?? 'undefined'

/**
 * Decides whether `history` is linearizable with respect to `model`.
 *
 * The search walks the events in time order, trying each pending call as
 * the next operation to take effect ("lifting" it out of the list); it
 * backtracks when it meets a return whose operation is not yet placed. A
 * configuration (set of placed operations, model state) already explored is
 * never explored again, which keeps typical histories linear-ish.
 *
 * @example
 * ```ts
 * const register: SequentialModel<number, { write?: number }, number | undefined> = {
 *   init: 0,
 *   step: (s, i, o) =>
 *     i.write !== undefined ? { ok: true, state: i.write } : o === s ? { ok: true, state: s } : { ok: false },
 * }
 * checkLinearizable([{ call: 0, ret: 3, input: { write: 1 }, output: undefined },
 *                    { call: 1, ret: 2, input: {}, output: 1 }], register).linearizable // true
 * ```
 */
export function checkLinearizable<S, I, O>(
  history: readonly HistoryOp<I, O>[],
  model: SequentialModel<S, I, O>,
): LinearizabilityResult<I, O> {
  const keyOf = model.key ?? defaultKey
  const head = buildEvents(history)
  const placed = new Uint32Array(Math.ceil(history.length / 32))
  const seen = new Set<string>()
  const stack: { call: Event; state: S }[] = []
  let longest: number[] = []
  let state = model.init
  let event = head.next
  while (head.next !== undefined) {
    if (event === undefined) throw new Error('linearizability: unmatched call event')
    if (event.isCall) {
      const op = history[event.op]!
      const result = model.step(state, op.input, op.output)
      if (result.ok) {
        placed[event.op >> 5]! |= 1 << (event.op & 31)
        const configuration = `${placed.join(',')}|${keyOf(result.state)}`
        if (!seen.has(configuration)) {
          seen.add(configuration)
          stack.push({ call: event, state })
          if (stack.length > longest.length) longest = stack.map((entry) => entry.call.op)
          state = result.state
          lift(event)
          event = head.next
          continue
        }
        placed[event.op >> 5]! &= ~(1 << (event.op & 31))
      }
      event = event.next
    } else {
      // The earliest pending return: its operation must already have taken
      // effect, so the last choice was wrong.
      const top = stack.pop()
      if (top === undefined) return { linearizable: false, longestPrefix: longest.map((op) => history[op]!) }
      state = top.state
      placed[top.call.op >> 5]! &= ~(1 << (top.call.op & 31))
      unlift(top.call)
      event = top.call.next
    }
  }
  return { linearizable: true, order: stack.map((entry) => history[entry.call.op]!) }
}

/** The events of `history` sorted by time (calls before returns at equal times), behind a sentinel head. */
function buildEvents<I, O>(history: readonly HistoryOp<I, O>[]): Event {
  const timed: { time: number; event: Event }[] = []
  history.forEach((op, index) => {
    if (!(op.ret >= op.call)) throw new RangeError(`linearizability: operation ${index} returns before its call`)
    const ret: Event = { op: index, isCall: false, match: undefined, prev: undefined, next: undefined }
    const call: Event = { op: index, isCall: true, match: ret, prev: undefined, next: undefined }
    timed.push({ time: op.call, event: call }, { time: op.ret, event: ret })
  })
  timed.sort((a, b) => a.time - b.time || Number(b.event.isCall) - Number(a.event.isCall))
  const head: Event = { op: -1, isCall: false, match: undefined, prev: undefined, next: undefined }
  let last = head
  for (const { event } of timed) {
    last.next = event
    event.prev = last
    last = event
  }
  return head
}

/** Removes a call and its return from the event list (they keep their own links for {@link unlift}). */
function lift(call: Event): void {
  for (const event of [call, call.match!]) {
    event.prev!.next = event.next
    if (event.next !== undefined) event.next.prev = event.prev
  }
}

/** Puts back a call and its return removed by {@link lift}, in the reverse order. */
function unlift(call: Event): void {
  for (const event of [call.match!, call]) {
    event.prev!.next = event
    if (event.next !== undefined) event.next.prev = event
  }
}
