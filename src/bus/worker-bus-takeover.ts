/**
 * Unique events whose winner crashed before handling them. A member that
 * could handle a unique record but lost its claim remembers it (with its
 * decoded event) until the winner marks it handled; if the winner is
 * announced dead first (an `'exit'` record with `crashed: true`, published
 * by a supervisor or by a roll call), the members remembering it race to
 * take it over in the record's claim word and one of them handles it.
 *
 * lua-resty-events' broker hands a unique event to one connected worker and
 * forgets it, so a worker that dies while handling it loses it. Here the
 * claim word says who holds it and whether it was handled, so the loss can
 * be repaired. A winner that died inside its handler may have done part of
 * the work: such an event can be handled twice, never lost (unless the
 * ring overwrote its record meanwhile, which ends the claim word too).
 */
import type { RingLog } from './worker-bus-ring.js'

/** A unique event another member took and has not handled yet. */
export interface TakenEvent {
  readonly source: string
  readonly event: string
  readonly data: unknown
  /** `workerId` of the member that published it. */
  readonly publisher: number
}

interface Watched extends TakenEvent {
  /** `workerId` of the member that took it. */
  readonly owner: number
}

/** Watched events kept before the handled and overwritten ones are pruned. */
const MAX_WATCHED = 256

/** One member's watch over the unique events others took. */
export class UniqueTakeover {
  readonly #ring: RingLog
  readonly #watched = new Map<number, Watched>()

  /** @param ring - the bus's log */
  constructor(ring: RingLog) {
    this.#ring = ring
  }

  /** Whether anything is watched (checked before decoding an `'exit'` record's data). */
  get watching(): boolean {
    return this.#watched.size > 0
  }

  /**
   * Unique record `seq`, which this member could handle, was taken by
   * another member: remember it unless it was handled already. Forgets the
   * records handled or overwritten since when the list grows.
   */
  watch(seq: number, event: TakenEvent): void {
    const owner = this.#ring.takenBy(seq)
    if (owner === -1) return
    if (this.#watched.size >= MAX_WATCHED) {
      for (const [watched, { owner }] of this.#watched) if (this.#ring.takenBy(watched) !== owner) this.#watched.delete(watched)
    }
    this.#watched.set(seq, { ...event, owner })
  }

  /**
   * The data of an `'exit'` record: if it announces the crash of member
   * `workerId`, takes over for member `me` the events that member held
   * unhandled and answers them (with their seqs) for `me` to handle, then
   * mark {@link RingLog.handled}. Events another member took over are
   * watched again, under their new owner.
   */
  adopt(exit: unknown, me: number): Array<[seq: number, event: TakenEvent]> {
    const { workerId: dead, crashed } = exit as { workerId?: unknown; crashed?: unknown }
    if (crashed !== true || typeof dead !== 'number') return []
    const adopted: Array<[number, TakenEvent]> = []
    for (const [seq, watched] of [...this.#watched]) {
      if (watched.owner !== dead) continue
      this.#watched.delete(seq)
      if (this.#ring.takeOver(seq, dead, me)) {
        adopted.push([seq, watched])
      } else {
        const owner = this.#ring.takenBy(seq)
        if (owner !== -1 && owner !== me) this.#watched.set(seq, { ...watched, owner })
      }
    }
    return adopted
  }
}
