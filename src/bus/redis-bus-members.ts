/**
 * What a RedisBus member knows of the others, from the frames it reads:
 * who is alive (`workers()`, `'start'`/`'exit'` events), each publisher's
 * last sequence number (a step other than +1 is a lost frame), and whether
 * its own frames still come back through Redis (a silent subscription is
 * presumed dead). lua-resty-worker-manager's liveness, with heartbeats over
 * the bus channel as across-node membership does (`SET node:<id> EX 3*hb`):
 * a member silent for three heartbeat intervals is dead.
 */

/** How many heartbeat intervals of silence make a member dead (or this member's subscription suspect). */
const SILENT_INTERVALS = 3

/**
 * How many crashed members' sequence numbers are remembered, so that one
 * that was only slow (declared dead, then heard again) is still checked for
 * gaps; beyond it the oldest are forgotten and such a member's next frame
 * starts afresh.
 */
const REMEMBERED_DEAD = 1024

/** What one frame told. */
export interface Heard {
  /** Frames of this publisher were lost before this one. */
  readonly gap: boolean
  /** The publisher was not known alive: it started (or came back after being declared dead). */
  readonly joined: boolean
}

/** The live members seen by one member, and the sequence numbers of every publisher. */
export class RedisBusMembers {
  readonly #self: number
  readonly #interval: number
  readonly #deadAfter: number
  /** Live members other than this one → when their last frame arrived (`performance.now()`). */
  readonly #lastSeen = new Map<number, number>()
  /** Publisher → its last sequence number read; kept for crashed members, dropped on goodbye. */
  readonly #lastSeq = new Map<number, number>()
  /** When this member's own last frame came back. */
  #ownHeard: number

  /**
   * @param self - this member's `workerId`
   * @param heartbeatInterval - how often every member sends a heartbeat (ms)
   * @param now - `performance.now()`; {@link RedisBusMembers.subscribed} sets it again
   */
  constructor(self: number, heartbeatInterval: number, now: number) {
    this.#self = self
    this.#interval = heartbeatInterval
    this.#deadAfter = SILENT_INTERVALS * heartbeatInterval
    this.#ownHeard = now
  }

  /** This member's subscription is in force (again): its silence is counted from `now`. */
  subscribed(now: number): void {
    this.#ownHeard = now
  }

  /**
   * A resync covers every frame published before it: the next frame of each
   * publisher starts its sequence afresh instead of showing the frames lost
   * before the resync as a gap (and a second resync).
   */
  resynced(): void {
    this.#lastSeq.clear()
  }

  /** Records a frame of `publisher` with sequence number `seq`, read at `now`. */
  heard(publisher: number, seq: number, now: number): Heard {
    const last = this.#lastSeq.get(publisher)
    this.#lastSeq.delete(publisher) // re-inserted last: the map stays in order of last activity
    this.#lastSeq.set(publisher, seq)
    const gap = last !== undefined && seq !== last + 1
    if (publisher === this.#self) {
      this.#ownFrame(now)
      return { gap, joined: false }
    }
    const joined = !this.#lastSeen.has(publisher)
    this.#lastSeen.set(publisher, now)
    return { gap, joined }
  }

  /** A member said goodbye; answers whether it was known alive. */
  left(publisher: number): boolean {
    this.#lastSeq.delete(publisher)
    return this.#lastSeen.delete(publisher)
  }

  /**
   * Removes and answers the members that have been silent for three
   * intervals while this member's own frames kept coming back: when this
   * member's subscription is what went quiet, nobody else is blamed.
   */
  reap(): number[] {
    const dead: number[] = []
    for (const [id, seen] of this.#lastSeen) {
      if (this.#ownHeard - seen > this.#deadAfter) dead.push(id)
    }
    for (const id of dead) this.#lastSeen.delete(id)
    this.#forgetOldDead()
    return dead
  }

  /** Whether none of this member's own frames (heartbeats included) came back for three intervals. */
  ownSilent(now: number): boolean {
    return now - this.#ownHeard > this.#deadAfter
  }

  /** This member and the live members it knows, ascending. */
  live(): number[] {
    return [this.#self, ...this.#lastSeen.keys()].sort((a, b) => a - b)
  }

  /**
   * Own heartbeats leave every interval. A longer wait for one to come back
   * means this member heard nothing (its connection or its event loop
   * stalled): that time is not counted against the others' silence, or a
   * stall here would declare every other member dead.
   */
  #ownFrame(now: number): void {
    const deaf = now - this.#ownHeard - this.#interval
    this.#ownHeard = now
    if (deaf <= 0) return
    for (const [id, seen] of this.#lastSeen) this.#lastSeen.set(id, Math.min(now, seen + deaf))
  }

  #forgetOldDead(): void {
    let excess = this.#lastSeq.size - this.#lastSeen.size - 1 - REMEMBERED_DEAD
    for (const id of this.#lastSeq.keys()) {
      if (excess <= 0) return
      if (id === this.#self || this.#lastSeen.has(id)) continue
      this.#lastSeq.delete(id)
      excess--
    }
  }
}
