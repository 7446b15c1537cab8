/**
 * A WorkerBus relaying to an upstream bus (`upstream` option), with real
 * worker_threads (workers/bus-worker.ts). Two relaying WorkerBuses of this
 * process stand for two hosts on one real redis-server, beside a plain
 * RedisBus member; fake upstreams cover failures. No assertion depends on
 * timing: every check follows a drain, which covers upstream, or waits for
 * the event it checks.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE, type EventBus } from '../../src/bus/event-bus.js'
import { LocalBus } from '../../src/bus/local-bus.js'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { WorkerBus, type WorkerBusOptions } from '../../src/bus/worker-bus.js'
import { BusError } from '../../src/errors.js'
import type { Received } from './workers/bus-worker.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'
import { settles } from '../helpers/ts-workers.js'
import { ScriptedWorker } from '../helpers/workers.js'

const ENTRY = new URL('./workers/bus-worker.ts', import.meta.url)

/** A WorkerBus whose main end closes when the test finishes (before its upstream, registered earlier). */
function newBus(options?: WorkerBusOptions): WorkerBus {
  const bus = WorkerBus.create(options)
  onTestFinished(() => bus.close())
  return bus
}

function startMembers(bus: WorkerBus, count: number): Promise<ScriptedWorker[]> {
  return Promise.all(Array.from({ length: count }, () => ScriptedWorker.start(ENTRY, { handle: bus.handle })))
}

/** Records every event `bus` delivers to this thread. */
function record(bus: EventBus): Received[] {
  const seen: Received[] = []
  bus.subscribe('*', '*', (data, event, source, workerId) => void seen.push({ source, event, data, workerId }))
  return seen
}

const only = (source: string, events: Received[]) => events.filter((r) => r.source === source)

/** An upstream over `inner` whose publishes reject with `error`. */
function failingUpstream(inner: EventBus, error: Error): EventBus {
  return {
    workerId: inner.workerId,
    reach: 'network',
    publish: () => Promise.reject(error),
    subscribe: (source, event, handler) => inner.subscribe(source, event, handler),
    unsubscribe: (id) => inner.unsubscribe(id),
    workers: () => inner.workers(),
    close: () => inner.close(),
  }
}

/** An upstream over `inner` whose publishes wait until `release()`; `called` resolves at the first publish. */
function gatedUpstream(inner: EventBus) {
  let release: () => void = () => undefined
  let called: () => void = () => undefined
  const gate = new Promise<void>((resolve) => (release = resolve))
  const first = new Promise<void>((resolve) => (called = resolve))
  const upstream: EventBus = {
    ...failingUpstream(inner, new Error('unused')),
    publish: async (target, source, event, data) => {
      called()
      await gate
      await inner.publish(target, source, event, data)
    },
  }
  return { upstream, release, called: first }
}

describe('WorkerBus with an upstream (no Redis)', () => {
  it("reach: every member of a relaying WorkerBus reports the upstream's reach ('network' when it has none); a plain WorkerBus is 'process'", async () => {
    const plain = newBus()
    const local = new LocalBus()
    onTestFinished(() => local.close())
    const overLocal = newBus({ upstream: local })
    const { reach: _reach, ...withoutReach } = failingUpstream(local, new Error('unused')) // a bus of the caller's without reach
    const overNoReach = newBus({ upstream: withoutReach })
    expect([plain.reach, overLocal.reach, overNoReach.reach]).toEqual(['process', 'thread', 'network'])
    const infos = await Promise.all([plain, overLocal, overNoReach].map(async (bus) => (await startMembers(bus, 1))[0]?.call<{ reach: string }>('info')))
    expect(infos.map((info) => info?.reach)).toEqual(['process', 'thread', 'network'])
  })

  it("a worker's publish resolves only once the main end has handed the event to upstream", async () => {
    const local = new LocalBus()
    onTestFinished(() => local.close())
    const { upstream, release, called } = gatedUpstream(local)
    const bus = newBus({ upstream })
    const [worker] = await startMembers(bus, 1)
    let resolved = false
    const published = worker?.call('publish', { source: 'test', event: 'e' }).then(() => (resolved = true))
    await called
    await worker?.call('info') // a round trip: a reply to the publish posted before it has arrived
    expect(resolved).toBe(false)
    release()
    await published
    expect(resolved).toBe(true)
  })

  it('an upstream event too large for the WorkerBus is reported to onError and becomes a resync of every member', async () => {
    const local = new LocalBus()
    onTestFinished(() => local.close())
    // Another id than the LocalBus's own: what it delivers counts as another upstream member's.
    const upstream: EventBus = { ...failingUpstream(local, new Error('unused')), workerId: 99 }
    const errors: unknown[] = []
    const bus = newBus({ upstream, maxPayloadLen: 4096, onError: (error) => void errors.push(error) })
    const [worker] = await startMembers(bus, 1)
    await local.publish('all', 'test', 'big', 'x'.repeat(10_000))
    await local.publish('all', 'test', 'small', 1)
    const received = only('test', (await worker?.call<Received[]>('waitFor', { source: 'test', event: 'small' })) ?? [])
    expect(received).toEqual([{ source: 'test', event: 'small', data: 1, workerId: undefined }])
    const resyncs = ((await worker?.call<Received[]>('received')) ?? []).filter((r) => r.source === BUS_SOURCE)
    expect(resyncs).toEqual([{ source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason: 'relay' }, workerId: undefined }])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(BusError)
  })

  it("drain() in a worker thread is bounded by its timeout when the upstream's drain never resolves", async () => {
    const local = new LocalBus()
    onTestFinished(() => local.close())
    const upstream: EventBus = { ...failingUpstream(local, new Error('unused')), drain: () => new Promise<void>(() => undefined) }
    const bus = newBus({ upstream })
    const [worker] = await startMembers(bus, 1)
    expect(await settles(worker?.call('drain', { ms: 50 }) ?? Promise.reject(new Error('no worker')))).toBe(true)
    expect(await settles(bus.drain(50))).toBe(true)
  })

  it('create() refuses an upstream that is not an EventBus', () => {
    expect(() => WorkerBus.create({ upstream: {} as EventBus })).toThrow(TypeError)
  })

  it("a failed upstream publish is reported to the main end's onError; a worker's publish still resolves, the main end's rejects", async () => {
    const local = new LocalBus()
    onTestFinished(() => local.close())
    const errors: unknown[] = []
    const down = new Error('upstream down')
    const bus = newBus({ upstream: failingUpstream(local, down), onError: (error) => void errors.push(error) })
    const [worker] = await startMembers(bus, 1)
    expect(await worker?.call('publish', { source: 'test', event: 'e', data: 1 })).toEqual([{ ok: true }])
    await expect(bus.publish('all', 'test', 'e', 2)).rejects.toBe(down)
    await worker?.call('drain')
    await bus.drain()
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(BusError)
    expect((errors[0] as BusError).cause).toBe(down)
    // Delivered here all the same: the loss is for the other processes.
    expect(only('test', (await worker?.call<Received[]>('received')) ?? []).map((r) => r.data)).toEqual([1, 2])
  })
})

describe.runIf(redisServerInstalled)('WorkerBus relaying to a RedisBus', () => {
  const server = useRedisServer()
  let admin: Redis
  let run = 0
  beforeAll(() => {
    admin = new Redis(server().url)
  })
  afterAll(() => admin.disconnect())

  function redisBus(prefix: string): RedisBus {
    const bus = new RedisBus({ url: server().url, prefix, heartbeatInterval: 200 })
    onTestFinished(() => bus.close())
    return bus
  }

  /** Two "hosts" (a relaying WorkerBus with 2 worker threads each) and a plain RedisBus member, on one prefix. */
  async function setup() {
    const prefix = `wbrelay${++run}:`
    const hosts = await Promise.all(
      ['a', 'b'].map(async () => {
        const upstream = redisBus(prefix)
        const errors: unknown[] = []
        const bus = newBus({ upstream, onError: (error) => void errors.push(error) })
        const seen = record(bus)
        const workers = await startMembers(bus, 2)
        return { upstream, bus, seen, workers, errors }
      }),
    )
    const plain = redisBus(prefix)
    const plainSeen = record(plain)
    // Subscribed: a RedisBus does not see what was published before its first subscription.
    await Promise.all([plain, ...hosts.map((host) => host.upstream)].map((bus) => bus.drain()))
    return { hosts, plain, plainSeen }
  }

  type Host = Awaited<ReturnType<typeof setup>>['hosts'][number]

  /** The `test` events every member of `host` handled, after draining each (the main end last); the main end's under key `main`. */
  async function drained(host: Host): Promise<Received[][]> {
    const inWorkers = await Promise.all(host.workers.map(async (w) => only('test', await w.call<Received[]>('drain'))))
    await host.bus.drain()
    return [...inWorkers, only('test', host.seen)]
  }

  it("publish() in a worker thread reaches every member of another relaying bus once, each member of its own bus once, and a plain upstream member once, from the relaying end's upstream id", async () => {
    const {
      hosts: [a, b],
      plain,
      plainSeen,
    } = await setup()
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    const publisher = await a.workers[0]?.call<{ workerId: number }>('info')
    expect(await a.workers[0]?.call('publish', { source: 'test', event: 'e', data: 'from a' })).toEqual([{ ok: true }])
    for (const member of await drained(b)) expect(member).toEqual([{ source: 'test', event: 'e', data: 'from a', workerId: undefined }])
    for (const member of await drained(a)) expect(member).toEqual([{ source: 'test', event: 'e', data: 'from a', workerId: publisher?.workerId }])
    await plain.drain()
    expect(only('test', plainSeen)).toEqual([{ source: 'test', event: 'e', data: 'from a', workerId: a.upstream.workerId }])
  })

  it("the main end's own publish goes upstream once; events of another upstream member reach every thread once and are never sent back", async () => {
    const {
      hosts: [a, b],
      plain,
      plainSeen,
    } = await setup()
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    await a.bus.publish('all', 'test', 'e', 'from a main')
    await plain.publish('all', 'test', 'e', 'from plain')
    for (const host of [a, b]) {
      for (const member of await drained(host)) expect(member.map((r) => r.data)).toEqual(['from a main', 'from plain'])
    }
    await plain.drain()
    // Each once: no relay sent 'from plain' back, nor 'from a main' twice.
    expect(only('test', plainSeen).map((r) => [r.data, r.workerId])).toEqual([
      ['from a main', a.upstream.workerId],
      ['from plain', plain.workerId],
    ])
  })

  it("'current' events, unique targets and events of source 'bus' stay in the process", async () => {
    const {
      hosts: [a, b],
      plain,
      plainSeen,
    } = await setup()
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    const worker = a.workers[0]
    await worker?.call('publish', { target: 'current', source: 'test', event: 'current' })
    await worker?.call('publish', { target: 'some-hash', source: 'test', event: 'unique' })
    await worker?.call('publish', { source: BUS_SOURCE, event: 'custom' })
    await worker?.call('publish', { source: 'test', event: 'last' })
    for (const member of await drained(b)) expect(member.map((r) => r.event)).toEqual(['last'])
    await plain.drain()
    expect(plainSeen.filter((r) => r.source === 'test' || r.event === 'custom').map((r) => r.event)).toEqual(['last'])
  })

  it('drain() in a worker thread covers upstream: an event published on another member before it is handled when it resolves', async () => {
    const {
      hosts: [, b],
      plain,
    } = await setup()
    if (b === undefined) throw new Error('two hosts expected')
    for (let i = 0; i < 5; i++) {
      await plain.publish('all', 'test', 'e', i)
      const received = await Promise.all(b.workers.map((w) => w.call<Received[]>('drain')))
      for (const member of received) expect(only('test', member).map((r) => r.data)).toEqual(Array.from({ length: i + 1 }, (_, j) => j))
    }
  })

  it('an upstream resync (its subscriber connection killed) becomes a resync of every member', async () => {
    const {
      hosts: [a],
    } = await setup()
    if (a === undefined) throw new Error('a host expected')
    await Promise.all(a.workers.map((w) => w.call('drain')))
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    for (const worker of a.workers) {
      const waited = worker.call<Received[]>('waitFor', { source: BUS_SOURCE, event: BUS_RESYNC_EVENT })
      expect(await settles(waited)).toBe(true)
      expect(await waited).toEqual([{ source: BUS_SOURCE, event: BUS_RESYNC_EVENT, data: { reason: 'reconnect' }, workerId: undefined }])
    }
  })

  it('close() of the main end stops relaying and leaves the upstream open; the workers go on as a plain WorkerBus', async () => {
    const {
      hosts: [a, b],
      plain,
      plainSeen,
    } = await setup()
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    await a.bus.close()
    await plain.publish('all', 'test', 'e', 'after close')
    expect(await a.workers[0]?.call('publish', { source: 'test', event: 'e', data: 'local' })).toEqual([{ ok: true }])
    for (const worker of a.workers) expect(only('test', await worker.call<Received[]>('drain')).map((r) => r.data)).toEqual(['local'])
    await a.upstream.publish('all', 'test', 'e', 'upstream still open')
    await plain.drain()
    expect(only('test', plainSeen).map((r) => r.data)).toEqual(['after close', 'upstream still open'])
  })
})
