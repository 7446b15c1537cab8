/**
 * Kong's topology on one host with node:cluster: every process keeps a
 * SharedDict of its own as L2 and ClusterBus carries the invalidations.
 * Real cluster processes: a change in one process leaves no other process
 * serving the old value from its L1 or from its own L2, loads are per
 * process (each copy has its own loader lock), and a process that lost
 * events to an overflow forgets its copy.
 */
import { describe, expect, it } from 'vitest'
import { type ClusterApp, useClusterApps } from '../helpers/cluster-processes.js'

interface Found {
  value: unknown
  hitLevel: number
}

describe('MLCache over ClusterBus with a SharedDict per process', () => {
  const startApp = useClusterApps()

  async function app(create?: { maxQueueLen: number }) {
    const started = await startApp({ sharedDict: true, ...(create === undefined ? {} : { create }) })
    const members = [0, await started.spawn(), await started.spawn()]
    return { app: started, members }
  }

  const lookup = (app: ClusterApp, on: number, entry: string) => app.call<Found>({ cmd: 'cache', on, op: 'lookup', entry })
  const load = (app: ClusterApp, on: number, entry: string) => app.call<Found>({ cmd: 'cache', on, op: 'load', entry })
  const cache = (app: ClusterApp, on: number, op: 'delete' | 'purge' | 'update' | 'set', entry?: string, value?: unknown) =>
    app.call({ cmd: 'cache', on, op, entry, value })

  /** Every member loads `entry` into its own L2 and L1. */
  async function warm(cluster: ClusterApp, members: number[], entry: string): Promise<void> {
    for (const on of members) expect(await load(cluster, on, entry)).toMatchObject({ hitLevel: 3 })
    for (const on of members) expect(await lookup(cluster, on, entry)).toMatchObject({ hitLevel: 1 })
  }

  it('get() of a cold key runs one loader per process: each copy of L2 has its own loader lock', async () => {
    const { app: cluster, members } = await app()
    await warm(cluster, members, 'k')
    for (const on of members) expect(await cluster.call({ cmd: 'cache', on, op: 'loads' })).toBe(1)
  })

  it('delete() in one process makes every other process load the key again, after update(), not serve it from its L1 or its own L2', async () => {
    const { app: cluster, members } = await app()
    await warm(cluster, members, 'k')
    await cache(cluster, members[1]!, 'delete', 'k')
    for (const on of members) await cache(cluster, on, 'update')
    for (const on of members) {
      expect(await lookup(cluster, on, 'k')).toEqual({ value: null, hitLevel: -1, page: 1 })
      expect(await load(cluster, on, 'k')).toMatchObject({ hitLevel: 3 })
    }
  })

  it('set() in one process: every other process, after update(), loads the key afresh instead of serving its old copy', async () => {
    const { app: cluster, members } = await app()
    await warm(cluster, members, 'k')
    await cache(cluster, 0, 'set', 'k', 'new')
    for (const on of members) await cache(cluster, on, 'update')
    expect(await lookup(cluster, 0, 'k')).toMatchObject({ value: 'new', hitLevel: 1 })
    for (const on of members.slice(1)) expect(await lookup(cluster, on, 'k')).toMatchObject({ value: null, hitLevel: -1 })
  })

  it('purge() in one process expires every other process copy of the name, after update()', async () => {
    const { app: cluster, members } = await app()
    await warm(cluster, members, 'a')
    await warm(cluster, members, 'b')
    await cache(cluster, members[2]!, 'purge')
    for (const on of members) await cache(cluster, on, 'update')
    for (const on of members) for (const entry of ['a', 'b']) expect(await lookup(cluster, on, entry)).toMatchObject({ hitLevel: -1 })
  })

  it('a process whose queue overflowed while it stalled forgets its copy of L2 on the resync, so a delete it missed is not served', async () => {
    const { app: cluster, members } = await app({ maxQueueLen: 8 })
    const stalled = members[2]!
    await warm(cluster, members, 'k')
    const stall = await cluster.stall(stalled)
    // 8 events fill the stalled process's queue: the delete behind them is dropped, and a resync goes in its place.
    await cluster.call({ cmd: 'burst', on: 0, count: 8, event: 'flood' })
    await cache(cluster, members[1]!, 'delete', 'k')
    const drained = cluster.call({ cmd: 'drain', on: stalled })
    await stall.release()
    await drained
    const events = await cluster.events(stalled)
    expect(events.filter((delivery) => delivery.source === 'bus').map((delivery) => delivery.data)).toEqual([{ reason: 'overflow' }])
    expect(events.filter((delivery) => delivery.event === 'invalidate:routes')).toEqual([])
    expect(await lookup(cluster, stalled, 'k')).toMatchObject({ value: null, hitLevel: -1 })
  })
})
