/**
 * RedisBusMembers on its own, with explicit times: which members are alive,
 * when a publisher's sequence numbers reveal lost frames, and that this
 * member's own deafness is never blamed on the others.
 */
import { describe, expect, it } from 'vitest'
import { RedisBusMembers } from '../../src/bus/redis-bus-members.js'

const SELF = 10
const INTERVAL = 100

/** A member that subscribed at time 0. */
function members(): RedisBusMembers {
  const known = new RedisBusMembers(SELF, INTERVAL, -1_000)
  known.subscribed(0)
  return known
}

describe('RedisBusMembers', () => {
  it('heard() reports a join once, and a gap whenever a sequence number is not the next one', () => {
    const known = members()
    expect(known.heard(7, 5, 10)).toEqual({ gap: false, joined: true }) // joined mid-stream: no gap
    expect(known.heard(7, 6, 20)).toEqual({ gap: false, joined: false })
    expect(known.heard(7, 8, 30)).toEqual({ gap: true, joined: false })
    expect(known.heard(7, 8, 40)).toEqual({ gap: true, joined: false }) // a duplicate is no "next" either
    expect(known.heard(SELF, 1, 50)).toEqual({ gap: false, joined: false }) // this member never joins itself
    expect(known.heard(SELF, 3, 60)).toEqual({ gap: true, joined: false })
    expect(known.live()).toEqual([7, SELF])
  })

  it('left() forgets a member and answers whether it was alive; its next incarnation starts afresh', () => {
    const known = members()
    known.heard(7, 1, 10)
    expect(known.left(7)).toBe(true)
    expect(known.left(7)).toBe(false)
    expect(known.live()).toEqual([SELF])
    expect(known.heard(7, 40, 20)).toEqual({ gap: false, joined: true })
  })

  it('reap() declares dead a member silent for three intervals while this member kept hearing itself', () => {
    const known = members()
    known.heard(7, 1, 0)
    known.heard(8, 1, 0)
    for (let t = 100, seq = 1; t <= 300; t += 100, seq++) {
      known.heard(SELF, seq, t)
      known.heard(8, seq + 1, t)
    }
    expect(known.reap()).toEqual([]) // exactly three intervals: not yet
    known.heard(SELF, 4, 301)
    expect(known.reap()).toEqual([7])
    expect(known.live()).toEqual([8, SELF])
  })

  it('reap() blames nobody while this member hears nothing, nor for the time it was deaf', () => {
    const known = members()
    known.heard(SELF, 1, 0)
    known.heard(7, 1, 0)
    // This member hears nothing, itself included, for ten intervals.
    expect(known.reap()).toEqual([])
    expect(known.ownSilent(301)).toBe(true)
    // Its own heartbeat comes back first: the deaf time is not counted against 7.
    known.heard(SELF, 2, 1_000)
    expect(known.ownSilent(1_000)).toBe(false)
    expect(known.reap()).toEqual([])
    known.heard(7, 2, 1_001)
    expect(known.live()).toEqual([7, SELF])
  })

  it('a crashed member heard again joins again, and its sequence numbers are still checked', () => {
    const known = members()
    let own = 0
    /** This member hears its own heartbeats every interval from `from` to `to`. */
    const hearSelf = (from: number, to: number) => {
      for (let t = from; t <= to; t += INTERVAL) known.heard(SELF, ++own, t)
    }
    known.heard(7, 1, 0)
    hearSelf(100, 400)
    expect(known.reap()).toEqual([7])
    expect(known.heard(7, 2, 410)).toEqual({ gap: false, joined: true }) // it was only slow
    hearSelf(500, 900)
    expect(known.reap()).toEqual([7])
    expect(known.heard(7, 9, 910)).toEqual({ gap: true, joined: true })
  })

  it('ownSilent() counts from the subscription, not from the construction', () => {
    const known = members()
    expect(known.ownSilent(300)).toBe(false)
    expect(known.ownSilent(301)).toBe(true)
  })
})
