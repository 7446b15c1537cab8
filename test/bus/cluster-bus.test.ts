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

/**
 * Checks that each flood (`event` → its count, data 0, 1, 2...) arrived in
 * order, and that every event missing from it is followed by a resync
 * delivered after the last event of that flood that came before it.
 */
function expectNoSilentLoss(list: Delivery[], floods: Record<string, number>): void {
  for (const [event, count] of Object.entries(floods)) {
    const positions = new Map<number, number>()
    list.forEach((d, position) => {
      if (d.source === 'burst' && d.event === event) positions.set(d.data as number, position)
    })
    const received = [...positions.keys()]
    expect(received).toEqual([...received].sort((a, b) => a - b))
    let lastBefore = -1
    for (let i = 0; i < count; i++) {
      if (positions.has(i)) {
        lastBefore = positions.get(i)!
        continue
      }
      const resync = list.findIndex((d, position) => position > lastBefore && d.source === 'bus' && d.event === 'resync')
      expect(resync, `${event} #${i} was lost without a resync after it`).toBeGreaterThan(-1)
    }
  }
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


describe('ClusterBus', () => {
  it("keeps a 'current' event in the publisher's process, with workerId undefined", async () => {
    const app = await startApp()
    const ids = [0, await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'publish', on: ids[1]!, target: 'current', source: 'app', event: 'local', data: 1 })
    await app.call({ cmd: 'publish', on: ids[1]!, target: 'all', source: 'app', event: 'after', data: 2 })
    for (const member of ids) {
      const list = await until(app, member, 'app', (list) => expect(list.map((d) => d.event)).toContain('after'))
      if (member === ids[1]) expect(list).toEqual([
        { source: 'app', event: 'local', data: 1, workerId: undefined },
        { source: 'app', event: 'after', data: 2, workerId: ids[1] },
      ])
      else expect(list.map((d) => d.event)).toEqual(['after'])
    }
  })

  it('hands a unique target to exactly one member, once within uniqueTimeout, whoever publishes it', async () => {
    const app = await startApp()
    const ids = [0, await app.spawn(), await app.spawn(), await app.spawn()]
    await Promise.all(ids.map((on) => app.call({ cmd: 'publish', on, target: 'hash-1', source: 'app', event: 'unique', data: on })))
    await app.call({ cmd: 'publish', on: ids[2]!, target: 'hash-2', source: 'app', event: 'unique', data: 'two' })
    // Barriers: an 'all' event from every publisher reaches every member after its unique events.
    await Promise.all(ids.map((on) => app.call({ cmd: 'publish', on, target: 'all', source: 'app', event: 'barrier' })))
    const handled: Delivery[] = []
    for (const member of ids) {
      const list = await until(app, member, 'app', (list) => expect(list.filter((d) => d.event === 'barrier')).toHaveLength(4))
      handled.push(...list.filter((d) => d.event === 'unique'))
    }
    expect(handled.filter((d) => d.data !== 'two')).toHaveLength(1)
    expect(handled.filter((d) => d.data === 'two')).toHaveLength(1)
  })

  it("lists the live members in workers() and announces 'start' and a clean close's 'exit'", async () => {
    const app = await startApp()
    const first = await app.spawn()
    const second = await app.spawn()
    for (const member of [0, first, second]) {
      await vi.waitFor(async () => expect(await app.call({ cmd: 'workers', on: member })).toEqual([0, first, second]), WAIT)
    }
    await until(app, 0, 'worker', (list) => expect(list).toHaveLength(2))
    expect(await lifecycle(app, 0)).toEqual([['start', first, false], ['start', second, false]])
    expect(await lifecycle(app, first)).toEqual([['start', second, false]]) // a member never hears its own 'start'
    await app.call({ cmd: 'close', on: second })
    for (const member of [0, first]) {
      await until(app, member, 'worker', (list) => expect(list.at(-1)).toMatchObject({ event: 'exit', data: { workerId: second, crashed: false }, workerId: second }))
      expect(await app.call({ cmd: 'workers', on: member })).toEqual([0, first])
    }
    await expect(app.call({ cmd: 'publish', on: second, target: 'all', source: 'app', event: 'late' })).rejects.toMatchObject({ name: 'BusError', code: 'E_BUS' })
  })

  it("announces a worker killed with SIGKILL as 'exit' with crashed: true; survivors keep working and a respawned worker joins", async () => {
    const app = await startApp()
    const [a, b, c] = [await app.spawn(), await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'kill', on: b, signal: 'SIGKILL' })
    for (const member of [0, a, c]) {
      await until(app, member, 'worker', (list) => expect(list.at(-1)).toMatchObject({ event: 'exit', data: { workerId: b, crashed: true } }))
      await vi.waitFor(async () => expect(await app.call({ cmd: 'workers', on: member })).toEqual([0, a, c]), WAIT)
    }
    const d = await app.spawn()
    expect([0, a, b, c]).not.toContain(d) // a new workerId: cluster never reuses a worker's id
    for (const member of [0, a, c]) {
      await until(app, member, 'worker', (list) => expect(list.at(-1)).toMatchObject({ event: 'start', data: { workerId: d, crashed: false } }))
    }
    await app.call({ cmd: 'publish', on: a, target: 'all', source: 'app', event: 'from-a' })
    await app.call({ cmd: 'publish', on: d, target: 'all', source: 'app', event: 'from-d' })
    await app.call({ cmd: 'publish', on: 0, target: 'all', source: 'app', event: 'from-0' })
    for (const member of [0, a, c, d]) {
      await until(app, member, 'app', (list) => expect(list.map((e) => e.event).sort()).toEqual(['from-0', 'from-a', 'from-d']))
    }
    expect(await app.call({ cmd: 'workers', on: d })).toEqual([0, a, c, d])
  })

  it("announces a worker that exits without closing its bus as crashed, even with exit code 0", async () => {
    const app = await startApp()
    const [a, b] = [await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'exit', on: b, code: 0 })
    for (const member of [0, a]) {
      await until(app, member, 'worker', (list) => expect(list.at(-1)).toMatchObject({ event: 'exit', data: { workerId: b, crashed: true } }))
    }
  })

  it('turns an overflow of the queue toward a stalled worker into a resync for it, never a silent drop', async () => {
    const app = await startApp({ create: { maxQueueLen: 8 } })
    const [stalled, other] = [await app.spawn(), await app.spawn()]
    const stall = await app.stall(stalled)
    await app.call({ cmd: 'burst', on: 0, count: 40, event: 'flood' })
    await app.call({ cmd: 'burst', on: other, count: 40, event: 'flood-other' })
    // Queued behind the stall: resolves once the resync has been handled (drain marks are never
    // dropped, and never overtake the resync).
    const drained = app.call({ cmd: 'drain', on: stalled })
    await stall.release()
    await drained
    expect((await of(app, stalled, 'bus')).map((d) => d.event)).toEqual(['resync'])
    // Published once the stalled worker has caught up (an earlier one could still find it behind).
    await until(app, stalled, 'bus', (list) => expect(list).toHaveLength(1))
    await app.call({ cmd: 'publish', on: 0, target: 'all', source: 'app', event: 'after' })
    // Every member may have fallen 8 behind during the floods (a tight publish loop outruns the
    // acknowledgements); none may have lost an event without a resync after it.
    for (const member of [0, other]) {
      await until(app, member, 'app', (list) => expect(list).toHaveLength(1))
      expectNoSilentLoss(await app.events(member), { flood: 40, 'flood-other': 40 })
    }
    const events = await vi.waitFor(async () => {
      const list = (await app.events(stalled)).filter((d) => d.source !== 'worker')
      expect(list.at(-1)?.event).toBe('after')
      return list
    }, WAIT)
    const resync = events.findIndex((d) => d.source === 'bus')
    expect(events[resync]).toEqual({ source: 'bus', event: 'resync', data: { reason: 'overflow' }, workerId: undefined })
    const floods = events.filter((d) => d.source === 'burst')
    expect(floods.length).toBeLessThan(80)
    // Every event it missed came before the resync: what it got before is a prefix of the flood.
    const before = events.slice(0, resync).filter((d) => d.event === 'flood')
    expect(before.map((d) => d.data)).toEqual([...Array(before.length).keys()])
    expect(events.slice(resync + 1).map((d) => d.event)).toEqual(['after'])
    expectNoSilentLoss(events, { flood: 40, 'flood-other': 40 })
  })

  it('a primary killed with SIGKILL takes its worker processes with it: no worker outlives its broker', async () => {
    const app = await startApp()
    const pids = await Promise.all([await app.spawn(), await app.spawn()].map((on) => app.call<number>({ cmd: 'pid', on })))
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0)
        return true
      } catch {
        return false
      }
    }
    expect(pids.map(alive)).toEqual([true, true])
    app.child.kill('SIGKILL')
    await vi.waitFor(() => expect(pids.map(alive)).toEqual([false, false]), WAIT)
  })

  it("closing the primary's end closes the broker: workers hear its 'exit', then their publishes reject with BusError", async () => {
    const app = await startApp()
    const [a, b] = [await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'close', on: 0 })
    for (const member of [a, b]) {
      await until(app, member, 'worker', (list) => expect(list.at(-1)).toMatchObject({ event: 'exit', data: { workerId: 0, crashed: false } }))
      await vi.waitFor(async () => expect(await app.call({ cmd: 'workers', on: member })).toEqual([member]), WAIT)
      await expect(app.call({ cmd: 'publish', on: member, target: 'all', source: 'app', event: 'e' })).rejects.toMatchObject({ name: 'BusError', code: 'E_BUS' })
      await app.call({ cmd: 'publish', on: member, target: 'current', source: 'app', event: 'local' })
      await app.call({ cmd: 'drain', on: member })
      expect((await of(app, member, 'app')).map((d) => d.event)).toEqual(['local'])
    }
  })

  it('rejects a payload over maxPayloadLen with BusError in a worker, and nobody receives it', async () => {
    const app = await startApp({ attach: { maxPayloadLen: 200 } })
    const [a, b] = [await app.spawn(), await app.spawn()]
    const big = 'x'.repeat(200)
    await expect(app.call({ cmd: 'publish', on: a, target: 'all', source: 'app', event: 'big', data: big })).rejects.toMatchObject({ name: 'BusError', code: 'E_BUS', message: expect.stringMatching(/payload exceeds/) })
    await expect(app.call({ cmd: 'publish', on: a, target: 'hash', source: 'app', event: 'big', data: big })).rejects.toMatchObject({ name: 'BusError' })
    await app.call({ cmd: 'publish', on: a, target: 'all', source: 'app', event: 'small', data: 'ok' })
    for (const member of [0, a, b]) await until(app, member, 'app', (list) => expect(list.map((d) => d.event)).toEqual(['small']))
  })

  it('drops an event from a worker over the primary\'s maxPayloadLen in the broker, reporting it to the primary\'s onError', async () => {
    const app = await startApp({ create: { maxPayloadLen: 200 }, attach: { maxPayloadLen: 1000 } })
    const [a, b] = [await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'publish', on: a, target: 'all', source: 'app', event: 'big', data: 'x'.repeat(300) })
    await app.call({ cmd: 'publish', on: a, target: 'all', source: 'app', event: 'small', data: 'ok' })
    for (const member of [0, a, b]) await until(app, member, 'app', (list) => expect(list.map((d) => d.event)).toEqual(['small']))
    expect(await of(app, 0, 'onError')).toEqual([
      { source: 'onError', event: 'app/big', data: 'event from a worker dropped: payload exceeds the limitation (200)', workerId: undefined },
    ])
  })

  it('welcomes workers that attached before the primary created its bus', async () => {
    const app = await startApp({ deferCreate: true })
    const [a, b] = [await app.spawn(), await app.spawn()]
    await app.call({ cmd: 'create', on: 0 })
    for (const member of [0, a, b]) {
      await vi.waitFor(async () => expect(await app.call({ cmd: 'workers', on: member })).toEqual([0, a, b]), WAIT)
    }
    await app.call({ cmd: 'publish', on: b, target: 'all', source: 'app', event: 'hello' })
    for (const member of [0, a, b]) await until(app, member, 'app', (list) => expect(list.map((d) => d.event)).toEqual(['hello']))
  })

  it("drain() in a worker resolves once the events the broker sent it before the call have been handled", async () => {
    const app = await startApp()
    const a = await app.spawn()
    await app.call({ cmd: 'slow', on: a })
    for (let i = 0; i < 5; i++) await app.call({ cmd: 'publish', on: 0, target: 'all', source: 'slow', event: 'e', data: i })
    await app.call({ cmd: 'drain', on: a })
    expect((await of(app, a, 'slow-done')).map((d) => d.data)).toEqual([0, 1, 2, 3, 4])
  })

  it('refuses attach() outside a cluster worker, create() in one, and unknown options, naming what is wrong', async () => {
    expect(() => ClusterBus.attach()).toThrow(/must be called in a cluster worker/)
    expect(() => ClusterBus.attach({ uniqueTimeout: 10 } as never)).toThrow(new TypeError('options.uniqueTimeout is not a known option'))
    expect(() => ClusterBus.create({ maxQueueLength: 10 } as never)).toThrow(new TypeError('options.maxQueueLength is not a known option'))
    const app = await startApp()
    const a = await app.spawn()
    await expect(app.call({ cmd: 'create', on: a })).rejects.toMatchObject({ message: expect.stringMatching(/must be called in the cluster primary, not in cluster worker/) })
    await expect(app.call({ cmd: 'create', on: 0 })).rejects.toMatchObject({ message: expect.stringMatching(/already open in this primary/) })
  })
})
