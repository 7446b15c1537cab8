import { describe, expect, it } from 'vitest'
import { MemberQueue } from '../../src/bus/cluster-bus-member-queue.js'
import type { ToMember } from '../../src/bus/cluster-bus-wire.js'

function queue(limit: number): { sent: ToMember[]; queue: MemberQueue } {
  const sent: ToMember[] = []
  return { sent, queue: new MemberQueue((message) => void sent.push(message), limit) }
}

const ev = (n: number) => ({ k: 'ev', w: 1, b: `${n}` }) as const

describe("ClusterBus's queue toward one member (in the broker)", () => {
  it('sends up to the limit unacknowledged, then drops and sends a resync first once acknowledged', () => {
    const { sent, queue: q } = queue(2)
    for (let i = 0; i < 5; i++) q.event(ev(i))
    expect(sent).toEqual([ev(0), ev(1)])
    q.acknowledge(1) // room again: the resync goes out at once, taking one slot
    expect(sent).toEqual([ev(0), ev(1), { k: 'resync', reason: 'overflow' }])
    q.event(ev(5)) // still full (ev 1 and the resync): dropped, another resync will follow
    q.acknowledge(2)
    q.event(ev(6))
    expect(sent.slice(3)).toEqual([{ k: 'resync', reason: 'overflow' }, ev(6)])
  })

  it('never drops a drain mark, and holds one behind a pending resync', () => {
    const { sent, queue: q } = queue(1)
    q.event(ev(0))
    q.mark(1)
    q.event(ev(1)) // dropped
    q.mark(2)
    q.control({ k: 'members', ids: [0, 1] }) // control messages are never held
    expect(sent).toEqual([ev(0), { k: 'mark', id: 1 }, { k: 'members', ids: [0, 1] }])
    q.acknowledge(1)
    expect(sent.slice(3)).toEqual([{ k: 'resync', reason: 'overflow' }, { k: 'mark', id: 2 }])
  })
})
