/**
 * ClusterBus across real processes: a node:cluster application (a primary
 * and 2 to 4 workers, test/bus/cluster/cluster-process.ts) driven by the
 * test over IPC. Assertions wait for deliveries; none measures time.
 */
import { describe, expect, it, vi } from 'vitest'
import { ClusterBus } from '../../src/bus/cluster-bus.js'
import type { Delivery } from './cluster/cluster-process.js'
import { type ClusterApp, useClusterApps } from '../helpers/cluster-processes.js'

const startApp = useClusterApps()
const WAIT = { timeout: 10_000, interval: 50 }

/** The deliveries of `source` a member recorded. */
async function of(app: ClusterApp, on: number, source: string): Promise<Delivery[]> {
  return (await app.events(on)).filter((d) => d.source === source)
}

/** Waits until `on` has recorded deliveries of `source` matching `check`; answers them. */
async function until(app: ClusterApp, on: number, source: string, check: (list: Delivery[]) => void): Promise<Delivery[]> {
  return vi.waitFor(async () => {
    const list = await of(app, on, source)
    check(list)
    return list
  }, WAIT)
}

/** The `'worker'` lifecycle events member `on` recorded, as `[event, workerId, crashed]`. */
async function lifecycle(app: ClusterApp, on: number): Promise<Array<[string, number, boolean]>> {
  return (await of(app, on, 'worker')).map((d) => {
    const { workerId, crashed } = d.data as { workerId: number; crashed: boolean }
    return [d.event, workerId, crashed]
  })
}

describe.each(['json', 'advanced'] as const)('ClusterBus (serialization %s)', (serialization) => {
  it("delivers an 'all' event to every worker process and the primary, in publish order per publisher", async () => {
    const app = await startApp({ serialization })
    const ids = [0, await app.spawn(), await app.spawn(), await app.spawn()]
    const publishers = [0, ids[1]!, ids[3]!]
    await Promise.all(
      publishers.map(async (on) => {
        for (let i = 0; i < 20; i++) await app.call({ cmd: 'publish', on, target: 'all', source: 'app', event: `from-${on}`, data: { i }, rich: true })
      }),
    )
    for (const member of ids) {
      const list = await until(app, member, 'app', (list) => expect(list).toHaveLength(60))
      for (const publisher of publishers) {
        const fromIt = list.filter((d) => d.event === `from-${publisher}`)
        expect(fromIt.map((d) => (d.data as { i: number }).i)).toEqual([...Array(20).keys()])
        expect(fromIt.every((d) => d.workerId === publisher)).toBe(true)
      }
    }
    const first = (await of(app, ids[2]!, 'app'))[0]
    expect(first?.data).toEqual({ i: 0, rich: [1n, new Map([[1, 2]])] })
  })
})

