/**
 * WorkerBus across real worker_threads (2 to 4 scripted members, see
 * workers/bus-worker.ts): delivery, unique targets, limits, overflow
 * resync, drain, lifecycle and supervision. No assertion depends on timing:
 * members coordinate through messages, shared flags and bus events, stalls
 * last until the test releases them, and dedup windows follow a shared fake
 * clock.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from '../../src/bus/event-bus.js'
import { WorkerBus, type WorkerBusOptions } from '../../src/bus/worker-bus.js'
import { BusError } from '../../src/errors.js'
import type { Outcome, Received } from './workers/bus-worker.js'
import { sharedFakeClock } from '../helpers/fake-clock.js'
import { StallSignal } from '../helpers/stall-signal.js'
import { ScriptedWorker } from '../helpers/workers.js'

const ENTRY = new URL('./workers/bus-worker.ts', import.meta.url)

/** A bus whose main end closes when the test finishes. */
function newBus(options?: WorkerBusOptions): WorkerBus {
  const bus = WorkerBus.create(options)
  onTestFinished(() => bus.close())
  return bus
}

/** Starts `count` scripted members of `bus`. */
function startMembers(bus: WorkerBus, count: number, data: Record<string, unknown> = {}): Promise<ScriptedWorker[]> {
  return Promise.all(Array.from({ length: count }, () => ScriptedWorker.start(ENTRY, { handle: bus.handle, ...data })))
}

/** Records every event the main end receives. */
function record(bus: WorkerBus): Received[] {
  const seen: Received[] = []
  bus.subscribe('*', '*', (data, event, source, workerId) => void seen.push({ source, event, data, workerId }))
  return seen
}

/** Resolves with the next event of `source`/`event` the main end receives that `accept` accepts. */
function nextEvent(bus: WorkerBus, source: string, event: string, accept = (_: Received) => true): Promise<Received> {
  return new Promise((resolve) => {
    const id = bus.subscribe(source, event, (data, event, source, workerId) => {
      const received = { source, event, data, workerId }
      if (!accept(received)) return
      bus.unsubscribe(id)
      resolve(received)
    })
  })
}

/** Events of one test source, without lifecycle or resync events. */
const only = (source: string, events: Received[]) => events.filter((r) => r.source === source)

let markers = 0

/**
 * The data of every `source` event handled so far by any member (the main
 * end, whose events `seen` records, and `workers`), sorted. Every event
 * published before the call counts: the main end publishes a marker after
 * them and each member is read up to it.
 */
async function handledByAnyone(bus: WorkerBus, seen: Received[], workers: ScriptedWorker[], source: string): Promise<unknown[]> {
  const marker = `marker-${++markers}`
  await bus.publish('all', marker, 'e')
  const inWorkers = await Promise.all(
    workers.map(async (w) => {
      await w.call('waitFor', { source: marker })
      return only(source, await w.call<Received[]>('received'))
    }),
  )
  await bus.drain()
  return [...inWorkers.flat(), ...only(source, seen)].map((r) => r.data).sort()
}

describe('WorkerBus across worker_threads', () => {
  it("'all' reaches every member once, publisher included, with its workerId, in publish order per publisher", async () => {
    const bus = newBus()
    const seen = record(bus)
    const workers = await startMembers(bus, 3)
    const ids = await Promise.all(workers.map(async (w) => (await w.call<{ workerId: number }>('info')).workerId))
    expect(new Set([0, ...ids]).size).toBe(4)
    const perPublisher = 25
    await Promise.all([
      ...workers.map((w) => w.call('publish', { source: 'fan', count: perPublisher })),
      (async () => {
        for (let i = 0; i < perPublisher; i++) await bus.publish('all', 'fan', 'e', { i })
      })(),
    ])
    const total = 4 * perPublisher
    const everyone = [
      ...(await Promise.all(workers.map((w) => w.call<Received[]>('waitFor', { source: 'fan', count: total })))),
      await (async () => {
        await bus.drain()
        return only('fan', seen)
      })(),
    ]
    for (const events of everyone) {
      expect(events).toHaveLength(total)
      for (const publisher of [0, ...ids]) {
        const from = events.filter((r) => r.workerId === publisher).map((r) => (r.data as { i: number }).i)
        expect(from).toEqual(Array.from({ length: perPublisher }, (_, i) => i))
      }
    }
  })

  it("'current' stays in the publishing thread, with workerId undefined", async () => {
    const bus = newBus()
    const seen = record(bus)
    const [a, b] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    await a.call('publish', { target: 'current', source: 'local', data: 'mine' })
    await a.call('publish', { source: 'marker' })
    const inA = await a.call<Received[]>('waitFor', { source: 'marker' })
    expect(inA).toHaveLength(1)
    expect(only('local', await a.call<Received[]>('received'))).toEqual([
      { source: 'local', event: 'e', data: 'mine', workerId: undefined },
    ])
    // The marker was published after the 'current' event: a member that has it would have both.
    await b.call('waitFor', { source: 'marker' })
    expect(only('local', await b.call<Received[]>('received'))).toEqual([])
    await bus.drain()
    expect(only('marker', seen)).toHaveLength(1)
    expect(only('local', seen)).toEqual([])
  })

  it('a unique hash published by every member at once is handled once in all until uniqueTimeout has passed on their clocks', async () => {
    // A minute of the shared fake clock: real time cannot end the window during the test.
    const clock = sharedFakeClock()
    const bus = newBus({ uniqueTimeout: 60_000, clock: clock.now })
    const seen = record(bus)
    const workers = await startMembers(bus, 3, { clock: clock.buffer })
    const round = async (n: number) => {
      await Promise.all([
        ...workers.map((w) => w.call('publish', { target: 'refresh-hash', source: 'unique', data: n })),
        bus.publish('refresh-hash', 'unique', 'e', n),
      ])
      return handledByAnyone(bus, seen, workers, 'unique')
    }
    expect(await round(1)).toEqual([1])
    clock.advance(59_999)
    expect(await round(2)).toEqual([1]) // every copy dropped: the window runs until 60 s after round 1
    clock.advance(1)
    expect(await round(3)).toEqual([1, 3]) // the window is over: one copy handled again
  })

  it('publish() of a unique event is handled by exactly one subscribing member when the creator does not subscribe', async () => {
    const bus = newBus() // the main end subscribes to nothing: it must never take a unique event
    const workers = await startMembers(bus, 3)
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    const perPublisher = 1_000
    const publish = (member: ScriptedWorker, data: string) =>
      member.call<Outcome[]>('publish', { target: `job-${data}`, distinct: true, source: 'unique', count: perPublisher, data: { by: data } })
    const outcomes = await Promise.all([publish(a, 'a'), publish(b, 'b')])
    expect(outcomes.flat().every((outcome) => outcome.ok)).toBe(true)
    // Every member reads the log in one order: past the marker, each has decided on every unique event.
    await bus.publish('all', 'marker', 'e')
    const handled = await Promise.all(
      workers.map(async (w) => {
        await w.call('waitFor', { source: 'marker' })
        return only('unique', await w.call<Received[]>('received'))
      }),
    )
    const counts = new Map<string, number>()
    for (const r of handled.flat()) {
      const { by, i } = r.data as { by: string; i: number }
      counts.set(`${by}${i}`, (counts.get(`${by}${i}`) ?? 0) + 1)
    }
    expect(counts.size).toBe(2 * perPublisher) // none lost
    expect([...counts.values()].every((count) => count === 1)).toBe(true) // none handled twice
  })

  it('a unique event whose winning member dies inside its handler is handled by another subscribing member', async () => {
    const bus = newBus() // subscribes to nothing: never a candidate
    const inHandler = new StallSignal()
    const away = new StallSignal()
    const [winner] = (await startMembers(bus, 1, { hold: { source: 'unique', buffer: inHandler.buffer } })) as [ScriptedWorker]
    const [heir] = (await startMembers(bus, 1, { stall: away.buffer })) as [ScriptedWorker]
    const { workerId: winnerId } = await winner.call<{ workerId: number }>('info')
    // The heir's thread is blocked: the winner is the only member that can take the event.
    const heirStall = heir.call('stall')
    await away.stalled(heirStall)
    // Its reader may take the event before the reply to 'publish' is posted: the reply may never come.
    winner.call('publish', { target: 'job', source: 'unique', data: 'once' }).catch(() => {})
    await inHandler.stalled(new Promise(() => {})) // it took the event and is inside its handler
    const crashed = nextEvent(bus, WORKER_SOURCE, 'exit', (r) => (r.data as { workerId: number }).workerId === winnerId)
    await winner.terminate()
    expect((await crashed).data).toEqual({ workerId: winnerId, crashed: true })
    away.release()
    await heirStall
    await bus.publish('all', 'marker', 'e') // after the 'exit' in the log: the heir has decided by then
    await heir.call('waitFor', { source: 'marker' })
    expect(only('unique', await heir.call<Received[]>('received'))).toEqual([
      { source: 'unique', event: 'e', data: 'once', workerId: winnerId },
    ])
  })

  it("a member compares another member's window with its own clock: dropped until uniqueTimeout has passed on it", async () => {
    const clock = sharedFakeClock()
    const bus = newBus({ uniqueTimeout: 60_000 })
    const seen = record(bus)
    const [a, b] = (await startMembers(bus, 2, { clock: clock.buffer })) as [ScriptedWorker, ScriptedWorker]
    const publish = (member: ScriptedWorker, data: string) => member.call('publish', { target: 'job', source: 'unique', data })
    await publish(a, 'a opens the window')
    clock.advance(59_999)
    await publish(b, 'b, 1 ms before its end')
    clock.advance(1)
    await publish(b, 'b, at its end')
    await publish(a, "a, inside b's window")
    expect(await handledByAnyone(bus, seen, [a, b], 'unique')).toEqual(['a opens the window', 'b, at its end'])
  })

  it('publish() rejects a payload over maxPayloadLen with BusError and nothing reaches any member', async () => {
    const bus = newBus({ maxPayloadLen: 200 })
    const seen = record(bus)
    const [a, b] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    const big = 'x'.repeat(200)
    expect(await a.call('publish', { source: 'big', data: big })).toEqual([{ ok: false, name: 'BusError', code: 'E_BUS' }])
    expect(await a.call('publish', { target: 'hash', source: 'big', data: big })).toEqual([
      { ok: false, name: 'BusError', code: 'E_BUS' },
    ])
    await expect(bus.publish('all', 'big', 'e', big)).rejects.toMatchObject({ name: 'BusError', code: 'E_BUS' })
    await a.call('publish', { source: 'small', data: 'fits' })
    for (const member of [a, b]) expect(await member.call('waitFor', { source: 'small' })).toHaveLength(1)
    expect(only('big', await a.call<Received[]>('received'))).toEqual([])
    expect(only('big', await b.call<Received[]>('received'))).toEqual([])
    await bus.drain()
    expect(only('big', seen)).toEqual([])
    expect(only('small', seen)).toHaveLength(1)
  })

  it('publish() beyond maxQueueLen rejects with BusError; only the accepted events are delivered', async () => {
    const bus = newBus({ maxQueueLen: 8 })
    const seen = record(bus)
    const [a] = (await startMembers(bus, 1)) as [ScriptedWorker]
    const outcomes = await a.call<Outcome[]>('publish', { source: 'burst', count: 20, burst: true })
    // A synchronous burst: the member reads nothing back meanwhile, so exactly maxQueueLen are accepted.
    const refusal = { ok: false, name: 'BusError', code: 'E_BUS' }
    expect(outcomes).toEqual([...Array(8).fill({ ok: true }), ...Array(12).fill(refusal)])
    const accepted = Array.from({ length: 8 }, (_, i) => i)
    const inA = await a.call<Received[]>('drain')
    expect(only('burst', inA).map((r) => (r.data as { i: number }).i)).toEqual(accepted)
    await bus.drain()
    expect(only('burst', seen).map((r) => (r.data as { i: number }).i)).toEqual(accepted)
  })

  // A short stallTimeout: how long publishers wait for the stuck member is not what is tested here.
  it.each([
    { bound: 'records', options: { maxQueueLen: 64, stallTimeout: 300 }, pad: 0, holds: 64 },
    { bound: 'payload bytes', options: { ringBytes: 8192, maxPayloadLen: 1024, stallTimeout: 300 }, pad: 400, holds: 8192 / 400 },
  ])('a member stuck in a synchronous task while the ring wrapped ($bound) is still overwritten after stallTimeout, so publishers go on; it gets a resync first, never a lost event, and can publish', async (geometry) => {
    const { options, pad, holds } = geometry
    const bus = newBus(options)
    const signal = new StallSignal()
    const [stalled, publisher] = (await startMembers(bus, 2, { stall: signal.buffer })) as [ScriptedWorker, ScriptedWorker]
    // It publishes right after the stall, far behind on the log: its own queue is empty, so that works.
    const stall = stalled.call<Outcome>('stall', { source: 'after-stall' })
    await signal.stalled(stall)
    // The whole flood happens while the member is blocked: it ends only when released.
    const published = 500
    for (let offset = 0; offset < published; offset += 20) {
      const data = { offset, pad: 'x'.repeat(pad) }
      const outcomes = await publisher.call<Outcome[]>('publish', { source: 'flood', count: 20, data })
      expect(outcomes).toEqual(Array(20).fill({ ok: true }))
    }
    signal.release()
    expect(await stall).toEqual({ ok: true })
    expect(await publisher.call('waitFor', { source: 'after-stall' })).toHaveLength(1)
    const events = (await stalled.call<Received[]>('drain')).filter((r) => r.source !== WORKER_SOURCE)
    expect(events[0]).toEqual({ source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason: 'overflow' }, workerId: undefined })
    expect(events.at(-1)?.source).toBe('after-stall')
    const flood = events.slice(1, -1)
    expect(flood.every((r) => r.source === 'flood')).toBe(true)
    const indexes = flood.map((r) => {
      const { i, offset } = r.data as { i: number; offset: number }
      return offset + i
    })
    // A contiguous tail of the flood, no longer than the ring holds, ending with the last event.
    expect(indexes.length).toBeGreaterThan(0)
    expect(indexes.length).toBeLessThanOrEqual(holds)
    expect(indexes).toEqual(Array.from({ length: indexes.length }, (_, k) => published - indexes.length + k))
  })

  it('a burst within maxQueueLen from 2 worker publishers never laps an idle member: publish() waits, every event is delivered', async () => {
    // A small payload ring (about 60 events of 1 KB) makes any burst far larger than what the ring holds.
    const bus = newBus({ ringBytes: 65_536, maxPayloadLen: 2048 })
    const seen = record(bus) // the main end: idle, its event loop free
    const [a, b, idle] = (await startMembers(bus, 3)) as [ScriptedWorker, ScriptedWorker, ScriptedWorker]
    const perPublisher = 1_500
    const data = { pad: 'x'.repeat(1000) }
    const outcomes = await Promise.all([a, b].map((w) => w.call<Outcome[]>('publish', { source: 'flood', count: perPublisher, data })))
    expect(outcomes.flat().every((outcome) => outcome.ok)).toBe(true)
    const total = 2 * perPublisher
    await bus.publish('all', 'marker', 'e') // after every flood event in the log's one order
    for (const member of [a, b, idle]) {
      await member.call('waitFor', { source: 'marker' })
      const events = await member.call<Received[]>('received')
      expect(only('flood', events)).toHaveLength(total)
      expect(only(BUS_SOURCE, events)).toEqual([])
    }
    await bus.drain()
    expect(only('flood', seen)).toHaveLength(total)
    expect(only(BUS_SOURCE, seen)).toEqual([]) // no resync: nothing was lost
  })

  it('drain() in one member resolves after it handled an event another member published before the call', async () => {
    const bus = newBus()
    const seen = record(bus)
    const [a, b] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    for (let round = 0; round < 5; round++) {
      await a.call('publish', { source: 'barrier', data: round })
      expect(only('barrier', await b.call<Received[]>('drain')).map((r) => r.data)).toContain(round)
      await bus.drain()
      expect(only('barrier', seen).map((r) => r.data)).toContain(round)
    }
  })

  it('closing the main end leaves the other members working with each other', async () => {
    const bus = newBus()
    const [a, b] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    const { workerId: idA } = await a.call<{ workerId: number }>('info')
    const { workerId: idB } = await b.call<{ workerId: number }>('info')
    await bus.close()
    await expect(bus.publish('all', 's', 'e')).rejects.toBeInstanceOf(BusError)
    await a.call('publish', { source: 'after', data: 'still here' })
    expect(await b.call<Received[]>('waitFor', { source: 'after' })).toEqual([
      { source: 'after', event: 'e', data: 'still here', workerId: idA },
    ])
    const exits = (await b.call<Received[]>('received')).filter((r) => r.source === WORKER_SOURCE && r.event === 'exit')
    expect(exits.map((r) => r.data)).toEqual([{ workerId: 0, crashed: false }])
    expect((await b.call<{ workers: number[] }>('info')).workers).toEqual([idA, idB].sort((x, y) => x - y))
  })
})

describe('WorkerBus lifecycle across worker_threads', () => {
  const lifecycle = (event: 'start' | 'exit', workerId: number, crashed: boolean) => (r: Received) => {
    const data = r.data as { workerId: number; crashed: boolean }
    return r.event === event && data.workerId === workerId && data.crashed === crashed
  }

  it("attach() publishes 'start' to the others and close() publishes 'exit' with crashed: false; workers() follows", async () => {
    const bus = newBus()
    const started = nextEvent(bus, WORKER_SOURCE, 'start')
    const [a, b] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    const { workerId: idA } = await a.call<{ workerId: number }>('info')
    const { workerId: idB, workers } = await b.call<{ workerId: number; workers: number[] }>('info')
    expect((await started).workerId).toBeOneOf([idA, idB]) // published by the member itself
    expect(workers).toEqual([0, idA, idB].sort((x, y) => x - y))
    expect(bus.workers()).toEqual(workers)
    // Slots are taken lowest first: the higher id attached last. The first one received its
    // 'start'; nobody receives its own (a member starts reading after it).
    const [first, last] = idA < idB ? [a, b] : [b, a]
    const lastId = Math.max(idA, idB)
    expect(await first.call('waitFor', { source: WORKER_SOURCE, event: 'start' })).toEqual([
      { source: WORKER_SOURCE, event: 'start', data: { workerId: lastId, crashed: false }, workerId: lastId },
    ])
    await last.call('publish', { source: 'marker' })
    await last.call('waitFor', { source: 'marker' })
    expect((await last.call<Received[]>('received')).filter((r) => r.source === WORKER_SOURCE)).toEqual([])
    const exited = nextEvent(bus, WORKER_SOURCE, 'exit')
    await a.call('close')
    expect(await exited).toEqual({ source: WORKER_SOURCE, event: 'exit', data: { workerId: idA, crashed: false }, workerId: idA })
    expect(bus.workers()).toEqual([0, idB])
    const inB = await b.call<Received[]>('waitFor', { source: WORKER_SOURCE, event: 'exit' })
    expect(inB[0]?.data).toEqual({ workerId: idA, crashed: false })
    await a.terminate() // already left: no second 'exit'
    await b.call('publish', { source: 'marker' })
    await b.call('waitFor', { source: 'marker' })
    await bus.drain()
    expect((await b.call<Received[]>('received')).filter((r) => r.event === 'exit')).toHaveLength(1)
  })

  it("a terminated member is announced with 'exit' crashed: true, to every member, and leaves workers()", async () => {
    const bus = newBus()
    const [victim, witness] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    const { workerId } = await victim.call<{ workerId: number }>('info')
    const { workerId: witnessId } = await witness.call<{ workerId: number }>('info')
    const crashed = nextEvent(bus, WORKER_SOURCE, 'exit', lifecycle('exit', workerId, true))
    await victim.terminate()
    expect((await crashed).data).toEqual({ workerId, crashed: true })
    expect(bus.workers()).toEqual([0, witnessId])
    const inWitness = await witness.call<Received[]>('waitFor', { source: WORKER_SOURCE, event: 'exit' })
    expect(inWitness.map((r) => r.data)).toEqual([{ workerId, crashed: true }])
    expect((await witness.call<{ workers: number[] }>('info')).workers).toEqual([0, witnessId])
  })

  it("a member whose thread dies of an uncaught error is announced with 'exit' crashed: true", async () => {
    const bus = newBus()
    const [victim] = (await startMembers(bus, 1)) as [ScriptedWorker]
    const { workerId } = await victim.call<{ workerId: number }>('info')
    const failure = new Promise((resolve) => victim.worker.once('error', resolve))
    const crashed = nextEvent(bus, WORKER_SOURCE, 'exit', lifecycle('exit', workerId, true))
    // The reply to 'crash' is posted before the error is thrown, but the two reach this thread
    // in either order: wait for both. A command never answered fails with the crash's error.
    const replied = victim.call('crash')
    const unanswered = victim.call('waitFor', { source: 'never published' })
    const [reply, error] = await Promise.all([replied, failure])
    expect(reply).toBeUndefined()
    expect(error).toMatchObject({ message: 'scripted crash' })
    await expect(unanswered).rejects.toThrow('scripted crash')
    expect((await crashed).data).toEqual({ workerId, crashed: true })
    expect(bus.workers()).toEqual([0])
  })

  it('members leave no timer or immediate behind once closed, and a bus never keeps a thread alive', async () => {
    const bus = newBus()
    const [closing, idle] = (await startMembers(bus, 2)) as [ScriptedWorker, ScriptedWorker]
    const { workerId: idleId } = await idle.call<{ workerId: number }>('info')
    const resources = await closing.call<string[]>('close')
    expect(resources).not.toContain('Timeout')
    expect(resources).not.toContain('Immediate')
    // With the parent port released, nothing keeps either thread running: both end by themselves.
    const ends = [closing, idle].map((w) => new Promise((resolve) => w.worker.once('exit', resolve)))
    const idleLeft = nextEvent(bus, WORKER_SOURCE, 'exit', lifecycle('exit', idleId, true))
    await Promise.all([closing.call('release'), idle.call('release')])
    expect(await Promise.all(ends)).toEqual([0, 0])
    // The idle one never closed its member: it died without leaving.
    expect((await idleLeft).data).toEqual({ workerId: idleId, crashed: true })
    await bus.close()
    expect(bus.workers()).toEqual([])
  })
})
