/**
 * WorkerBus registry slots of members that died unsupervised: created by a
 * plain worker that never loads mlcache (workers/unsupervised-spawner.mjs),
 * so no member sees them exit. Real threads, a hundred of them: the members
 * run the bus compiled to plain JavaScript (see plain-workers.ts). And the
 * other side of the roll call: a live member stuck through one.
 */
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from '../../src/bus/event-bus.js'
import { WorkerBus } from '../../src/bus/worker-bus.js'
import { MAX_MEMBERS } from '../../src/bus/worker-bus-layout.js'
import { BusError } from '../../src/errors.js'
import { StallSignal } from '../helpers/stall-signal.js'
import { nextMessage } from '../helpers/ts-workers.js'
import { ScriptedWorker } from '../helpers/workers.js'
import { type CompiledBus, compileWorkerBus } from './plain-workers.js'
import type { Received } from './workers/bus-worker.js'

const SPAWNER = new URL('./workers/unsupervised-spawner.mjs', import.meta.url)
const BUS_WORKER = new URL('./workers/bus-worker.ts', import.meta.url)

let compiled: CompiledBus
beforeAll(() => {
  compiled = compileWorkerBus()
})
afterAll(() => compiled.dispose())

interface BatchReply {
  attached: number
  failures: string[]
}

describe('WorkerBus reclaiming the slots of members that died unsupervised', () => {
  it('attach() succeeds after 100 members died unsupervised: a full registry reclaims the members that miss its roll call, and only them', async () => {
    const bus = WorkerBus.create()
    onTestFinished(() => bus.close())
    const crashed: number[] = []
    bus.subscribe(WORKER_SOURCE, 'exit', (data) => {
      const { workerId, crashed: died } = data as { workerId: number; crashed: boolean }
      if (died) crashed.push(workerId)
    })
    const spawner = new Worker(SPAWNER)
    onTestFinished(async () => {
      await spawner.terminate()
    })
    const deaths = 100
    const batch = 20
    for (let started = 0; started < deaths; started += batch) {
      const reply = nextMessage<BatchReply>(spawner)
      spawner.postMessage({ count: batch, data: { handle: bus.handle, moduleUrl: compiled.moduleUrl } })
      // Every attach succeeded, the 64th and later ones included; then the spawner terminated them all.
      expect(await reply).toEqual({ attached: batch, failures: [] })
    }
    // The main thread attaches too, and its end, which answered every roll call, kept its slot.
    const late = WorkerBus.attach(bus.handle)
    onTestFinished(() => late.close())
    expect(bus.workerId).toBe(0)
    expect(bus.workers()).toContain(0)
    expect(bus.workers()).toContain(late.workerId)
    // Each reclaimed slot was announced as a crash (at least the 100 - 63 that had to be).
    await bus.drain()
    expect(crashed.length).toBeGreaterThanOrEqual(deaths - (MAX_MEMBERS - 1))
    expect(crashed).not.toContain(0)
  })
})

describe('WorkerBus reclaiming a live member that was stuck through a roll call', () => {
  it('a member whose thread was stuck through the roll call of a full registry loses its slot, then joins again under a new workerId after a resync', async () => {
    const bus = WorkerBus.create({ stallTimeout: 300 })
    onTestFinished(() => bus.close())
    const signal = new StallSignal()
    const [stuck] = (await Promise.all([ScriptedWorker.start(BUS_WORKER, { handle: bus.handle, stall: signal.buffer })])) as [ScriptedWorker]
    const { workerId: before } = await stuck.call<{ workerId: number }>('info')
    // Fill the registry from this thread: its members are not asked (they cannot answer while it waits).
    const fillers = Array.from({ length: MAX_MEMBERS - 2 }, () => WorkerBus.attach(bus.handle))
    onTestFinished(async () => {
      await Promise.all(fillers.map((member) => member.close()))
    })
    expect(bus.workers()).toHaveLength(MAX_MEMBERS)
    const stall = stuck.call('stall')
    await signal.stalled(stall)
    const exited = nextExit(bus, before)
    const late = WorkerBus.attach(bus.handle) // the roll call: the stuck thread cannot answer
    onTestFinished(() => late.close())
    expect(late.workerId).toBe(before)
    expect(await exited).toEqual({ workerId: before, crashed: true })
    await fillers.pop()?.close() // room for it to join again
    signal.release()
    await stall
    const events = await stuck.call<Received[]>('waitFor', { source: BUS_SOURCE })
    expect(events).toEqual([{ source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason: 'reclaimed' }, workerId: undefined }])
    const { workerId: after } = await stuck.call<{ workerId: number }>('info')
    expect(after).not.toBe(before)
    expect(bus.workers()).toContain(after)
    // It is a member again: what it publishes reaches the others with its new workerId.
    const received = new Promise((resolve) => bus.subscribe('after-rejoin', '*', (_data, _event, _source, workerId) => resolve(workerId)))
    await stuck.call('publish', { source: 'after-rejoin' })
    expect(await received).toBe(after)
  })
})

describe('WorkerBus roll call and live members', () => {
  it('a member whose handler awaits a promise that never settles still answers the roll call: it keeps its slot and attach() fails with BusError', async () => {
    const bus = WorkerBus.create()
    onTestFinished(() => bus.close())
    const [busy] = (await Promise.all([ScriptedWorker.start(BUS_WORKER, { handle: bus.handle, pend: 'slow' })])) as [ScriptedWorker]
    const { workerId } = await busy.call<{ workerId: number }>('info')
    await bus.publish('all', 'slow', 'e')
    await busy.call('waitFor', { source: 'slow' }) // its reader is now inside that handler, for good
    const fillers = Array.from({ length: MAX_MEMBERS - 2 }, () => WorkerBus.attach(bus.handle))
    onTestFinished(async () => {
      await Promise.all(fillers.map((member) => member.close()))
    })
    expect(() => WorkerBus.attach(bus.handle)).toThrow(new BusError(`failed to attach: the bus already has ${MAX_MEMBERS} members`))
    expect(bus.workers()).toContain(workerId)
    expect((await busy.call<{ workerId: number }>('info')).workerId).toBe(workerId)
    expect(only(WORKER_SOURCE, await busy.call<Received[]>('received')).filter((r) => r.event === 'exit')).toEqual([])
  })
})

/** Events of one source. */
function only(source: string, events: Received[]): Received[] {
  return events.filter((r) => r.source === source)
}

/** Resolves with the data of the next `('worker', 'exit')` event of `workerId` that `bus` receives. */
function nextExit(bus: WorkerBus, workerId: number): Promise<unknown> {
  return new Promise((resolve) => {
    const id = bus.subscribe(WORKER_SOURCE, 'exit', (data) => {
      if ((data as { workerId: number }).workerId !== workerId) return
      bus.unsubscribe(id)
      resolve(data)
    })
  })
}
