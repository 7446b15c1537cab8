/**
 * RedisBus with several members on one real redis-server: delivery to every
 * member, unique events, prefixes, membership and lifecycle events, the
 * resync event for every way pub/sub loses messages, drain() across
 * members, a caller's client, and MLCaches kept coherent through it.
 */
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from '../../src/bus/event-bus.js'
import { encodeEvent } from '../../src/bus/payload.js'
import { RedisBus, type RedisBusOptions } from '../../src/bus/redis-bus.js'
import { encodeFrame, FRAME_ALL, FRAME_HEARTBEAT } from '../../src/bus/redis-bus-wire.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

/** One handler call. */
interface Delivery {
  data: unknown
  event: string
  source: string
  workerId: number | undefined
}

/** Records what `bus` delivers for `source` and `event`. */
function record(bus: RedisBus, source = '*', event = '*'): Delivery[] {
  const deliveries: Delivery[] = []
  bus.subscribe(source, event, (data, event, source, workerId) => void deliveries.push({ data, event, source, workerId }))
  return deliveries
}

/** The reasons of the resync events `bus` delivers. */
function resyncs(bus: RedisBus): unknown[] {
  const reasons: unknown[] = []
  bus.subscribe(BUS_SOURCE, BUS_RESYNC_EVENT, (data) => void reasons.push((data as { reason: unknown }).reason))
  return reasons
}

/** Long enough for anything that should happen; only a hang reaches it. */
const SETTLES = { timeout: 10_000, interval: 20 }

describe.runIf(redisServerInstalled)('RedisBus', () => {
  const server = useRedisServer()
  const open: RedisBus[] = []
  const raws: Redis[] = []
  let prefixes = 0
  let prefix = ''
  afterEach(async () => {
    await Promise.all(open.splice(0).map((bus) => bus.close()))
    for (const raw of raws.splice(0)) raw.disconnect()
    prefix = `t${++prefixes}:`
  })
  prefix = `t${++prefixes}:`

  /** A member on this test's prefix, subscribed (its drain marker came back). */
  async function member({ client, ...options }: RedisBusOptions & { client?: Redis } = {}): Promise<RedisBus> {
    const connection = client === undefined ? { url: server().url } : { client }
    const bus = new RedisBus({ ...connection, prefix, heartbeatInterval: 60_000, ...options })
    open.push(bus)
    await bus.drain()
    return bus
  }

  function raw(): Redis {
    const client = new Redis(server().url)
    raws.push(client)
    return client
  }

  it("publish() delivers 'all' events to every member, in publish order, with the publisher's workerId", async () => {
    const [a, b, c] = [await member(), await member(), await member()]
    expect(new Set([a.workerId, b.workerId, c.workerId]).size).toBe(3)
    const seen = [a, b, c].map((bus) => record(bus, 's'))
    for (let i = 0; i < 20; i++) await a.publish('all', 's', 'e', i)
    await b.publish('all', 's', 'from-b', { n: 1 })
    await Promise.all([a, b, c].map((bus) => bus.drain()))
    for (const deliveries of seen) {
      expect(deliveries.filter((d) => d.event === 'e')).toEqual(Array.from({ length: 20 }, (_, i) => ({ data: i, event: 'e', source: 's', workerId: a.workerId })))
      expect(deliveries.filter((d) => d.event === 'from-b')).toEqual([{ data: { n: 1 }, event: 'from-b', source: 's', workerId: b.workerId }])
    }
  })

  it("publish() of 'current' reaches the publisher only", async () => {
    const [a, b] = [await member(), await member()]
    const [atA, atB] = [record(a, 's'), record(b, 's')]
    await a.publish('current', 's', 'here')
    await Promise.all([a.drain(), b.drain()])
    expect(atA).toEqual([{ data: undefined, event: 'here', source: 's', workerId: undefined }])
    expect(atB).toEqual([])
  })

  it('a unique hash is handled by exactly one member, dropped again within uniqueTimeout whoever publishes it, and never taken by a member without a handler', async () => {
    const [a, b, c] = [await member(), await member(), await member()]
    const handledBy: number[] = []
    for (const bus of [a, b]) bus.subscribe('s', 'job', () => void handledBy.push(bus.workerId))
    // c has no handler for them: were it to claim some, nobody would handle those.
    await a.publish('hash-1', 's', 'job')
    await b.publish('hash-1', 's', 'job') // dropped: the window runs across members
    await c.publish('hash-1', 's', 'job')
    for (let i = 0; i < 10; i++) await c.publish(`hash-${i + 2}`, 's', 'job')
    await Promise.all([a, b, c].map((bus) => bus.drain()))
    expect(handledBy).toHaveLength(11)
  })

  it('two prefixes on one server never see each other', async () => {
    const a = await member()
    prefix = `${prefix}other:`
    const other = await member()
    const [atA, atOther] = [record(a, 's'), record(other, 's')]
    await a.publish('all', 's', 'e', 'a')
    await a.publish('same-hash', 's', 'u', 'a')
    await other.publish('same-hash', 's', 'u', 'other') // its own window: not dropped
    await Promise.all([a.drain(), other.drain()])
    expect(atA.map((d) => d.data)).toEqual(['a', 'a'])
    expect(atOther.map((d) => d.data)).toEqual(['other'])
    expect(a.workers()).toEqual([a.workerId])
    expect(other.workers()).toEqual([other.workerId])
  })

  it("workers() lists the members heard, and 'start'/'exit' events announce a join and a goodbye (crashed: false)", async () => {
    const a = await member({ heartbeatInterval: 100 })
    const lifecycle = record(a, WORKER_SOURCE)
    const b = await member({ heartbeatInterval: 100 })
    await vi.waitFor(() => expect(a.workers()).toEqual([a.workerId, b.workerId].sort((x, y) => x - y)), SETTLES)
    await vi.waitFor(() => expect(b.workers()).toEqual([a.workerId, b.workerId].sort((x, y) => x - y)), SETTLES)
    await b.close()
    expect(b.workers()).toEqual([])
    await vi.waitFor(() => expect(a.workers()).toEqual([a.workerId]), SETTLES)
    await a.drain()
    expect(lifecycle).toEqual([
      { data: { workerId: b.workerId, crashed: false }, event: 'start', source: WORKER_SOURCE, workerId: b.workerId },
      { data: { workerId: b.workerId, crashed: false }, event: 'exit', source: WORKER_SOURCE, workerId: b.workerId },
    ])
  })

  it("a member whose connections drop without a goodbye is announced with 'exit', crashed: true, after three silent intervals", async () => {
    const a = await member({ heartbeatInterval: 100 })
    const lifecycle = record(a, WORKER_SOURCE)
    // b's connections never reconnect (its subscriber is a duplicate with the same options).
    const client = new Redis(server().url, { connectionName: 'doomed', retryStrategy: () => null, maxRetriesPerRequest: 0 })
    raws.push(client)
    client.on('error', () => {})
    const b = await member({ client, heartbeatInterval: 100 })
    await vi.waitFor(() => expect(a.workers()).toContain(b.workerId), SETTLES)
    const list = await raw().client('LIST')
    const doomed = String(list).split('\n').filter((line) => line.includes('name=doomed'))
    expect(doomed).toHaveLength(2)
    for (const line of doomed) await raw().client('KILL', 'ID', /\bid=(\d+)/.exec(line)?.[1] as string)
    await vi.waitFor(() => expect(a.workers()).toEqual([a.workerId]), SETTLES)
    await a.drain()
    expect(lifecycle.map((d) => [d.event, d.data])).toEqual([
      ['start', { workerId: b.workerId, crashed: false }],
      ['exit', { workerId: b.workerId, crashed: true }],
    ])
  })

  it('CLIENT KILL TYPE pubsub makes every member resync (reconnect), then events flow again', async () => {
    const [a, b] = [await member(), await member()]
    const [atA, atB] = [resyncs(a), resyncs(b)]
    const events = record(a, 's')
    await raw().client('KILL', 'TYPE', 'pubsub')
    await vi.waitFor(() => expect([atA, atB]).toEqual([['reconnect'], ['reconnect']]), SETTLES)
    await b.publish('all', 's', 'after', 1)
    await a.drain()
    expect(events.map((d) => d.data)).toEqual([1])
  })

  it('a gap in a publisher\'s sequence numbers delivers the resync event before the next event', async () => {
    const a = await member()
    const deliveries = record(a)
    const publisher = 12345
    const channel = `${prefix}bus`
    const redis = raw()
    await redis.publish(channel, encodeFrame(FRAME_HEARTBEAT, publisher, 1))
    await redis.publish(channel, encodeFrame(FRAME_ALL, publisher, 2, encodeEvent('s', 'e', 'second', 1000)))
    await redis.publish(channel, encodeFrame(FRAME_ALL, publisher, 4, encodeEvent('s', 'e', 'fourth', 1000))) // 3 lost
    await a.drain()
    expect(deliveries.map((d) => [d.source, d.event, d.data])).toEqual([
      [WORKER_SOURCE, 'start', { workerId: publisher, crashed: false }],
      ['s', 'e', 'second'],
      [BUS_SOURCE, BUS_RESYNC_EVENT, { reason: 'gap' }],
      ['s', 'e', 'fourth'],
    ])
  })

  it("a member's frames of every kind keep their order while its command connection reconnects (no false gap)", async () => {
    const client = raw()
    client.on('error', () => {}) // the kill below: the caller's client is the caller's to watch
    await client.client('SETNAME', 'commands')
    const a = await member({ client })
    const b = await member()
    const reasons = resyncs(b)
    const received = record(b, 's')
    const list = String(await raw().client('LIST')).split('\n')
    const id = /\bid=(\d+)/.exec(list.find((line) => line.includes('name=commands') && line.includes(' sub=0 ')) ?? '')?.[1]
    expect(id).toBeDefined()
    let handshake = false
    client.once('connect', () => (handshake = true))
    await raw().client('KILL', 'ID', id as string)
    // A unique and an 'all' event per turn, until the client is back: across its handshake.
    const published: Array<Promise<void>> = []
    let turns = 0
    while (!(handshake && client.status === 'ready') && turns < 10_000) {
      published.push(a.publish(`hash-${turns}`, 's', 'unique', turns), a.publish('all', 's', 'all', turns))
      turns++
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(handshake).toBe(true)
    await Promise.all(published)
    await b.drain()
    expect(reasons).toEqual([])
    expect(received.filter((d) => d.event === 'all').map((d) => d.data)).toEqual(Array.from({ length: turns }, (_, i) => i))
  })

  it('a frame that cannot be read delivers the resync event', async () => {
    const a = await member()
    const reasons = resyncs(a)
    await raw().publish(`${prefix}bus`, 'not a frame')
    await a.drain()
    expect(reasons).toEqual(['unreadable'])
  })

  it('events arriving while maxQueueLen deliveries wait are dropped, and the resync event follows the ones kept', async () => {
    const a = await member({ maxQueueLen: 4 })
    const b = await member()
    await vi.waitFor(() => expect(a.workers()).toContain(b.workerId), SETTLES)
    await a.drain() // b's 'start' is handled: the queue is empty
    let release = () => {}
    const blocked = new Promise<void>((resolve) => (release = resolve))
    const deliveries = record(a, '*', '*')
    a.subscribe('s', 'e', (data) => (data === 0 ? blocked : undefined))
    for (let i = 0; i < 10; i++) await b.publish('all', 's', 'e', i)
    // Redis delivers in order: once a reads this frame it has read all ten.
    await raw().publish(`${prefix}bus`, encodeFrame(FRAME_HEARTBEAT, 777, 1))
    await vi.waitFor(() => expect(a.workers()).toContain(777), SETTLES)
    release()
    await a.drain()
    // Four wait while the first is handled, or four in all if all ten arrived in one read.
    const kept = deliveries.findIndex((d) => d.event === BUS_RESYNC_EVENT)
    expect([4, 5]).toContain(kept)
    expect(deliveries.map((d) => [d.event, d.data])).toEqual([
      ...Array.from({ length: kept }, (_, i) => ['e', i]),
      [BUS_RESYNC_EVENT, { reason: 'overflow' }],
      ['start', { workerId: 777, crashed: false }],
    ])
  })

  it('drain() waits until the events another member published before it have been handled', async () => {
    const [a, b] = [await member(), await member()]
    const handled: unknown[] = []
    a.subscribe('s', 'slow', async (data) => {
      await new Promise((resolve) => setTimeout(resolve, 20))
      handled.push(data)
    })
    for (let i = 0; i < 5; i++) await b.publish('all', 's', 'slow', i)
    await a.drain()
    expect(handled).toEqual([0, 1, 2, 3, 4])
  })

  it('drain() with a timeout resolves even when a handler never finishes', async () => {
    const a = await member()
    a.subscribe('s', 'stuck', () => new Promise(() => {}))
    await a.publish('all', 's', 'stuck')
    await expect(a.drain(100)).resolves.toBeUndefined()
  })

  it("{ client }: the subscriber is the client's duplicate(), and close() never closes the client", async () => {
    const client = raw()
    const duplicate = vi.spyOn(client, 'duplicate')
    const a = await member({ client })
    expect(duplicate).toHaveBeenCalledTimes(1)
    const subscriber = duplicate.mock.results[0]?.value as Redis
    const b = await member()
    const atB = record(b, 's')
    await a.publish('all', 's', 'e', 'via client')
    await b.drain()
    expect(atB.map((d) => d.data)).toEqual(['via client'])
    await a.close()
    await a.close()
    expect(subscriber.status).toBe('end')
    expect(await client.ping()).toBe('PONG')
    await expect(a.publish('all', 's', 'e')).rejects.toThrow(/bus is closed/)
  })

  it("MLCaches on a RedisBus: set() on one drops the key from the other's L1, and a lost subscription clears every L1", async () => {
    // Two caches sharing L2 with an L1 each, as two processes on one Redis would.
    const store = SharedDict.create({ size: '1m' })
    const l1 = [new Map<string, unknown>(), new Map<string, unknown>()]
    const [a, b] = [await member(), await member()]
    const caches = [a, b].map((bus, i) => {
      const map = l1[i] as Map<string, unknown>
      const lru = { get: (k: string) => map.get(k), set: (k: string, v: unknown) => map.set(k, v), delete: (k: string) => map.delete(k), clear: () => map.clear() }
      return new MLCache<string>('shared', { store, bus, lru })
    })
    const [first, second] = caches as [MLCache<string>, MLCache<string>]
    try {
      expect(await second.get('k', () => 'v1')).toBe('v1')
      expect(l1[1]?.has('k')).toBe(true)
      await first.set('k', 'v2')
      await second.update()
      expect(l1[1]?.has('k')).toBe(false)
      expect(await second.get('k')).toBe('v2')
      expect(await second.get('other', () => 'o')).toBe('o')
      expect(l1[1]?.size).toBe(2)
      await raw().client('KILL', 'TYPE', 'pubsub')
      await vi.waitFor(() => expect([l1[0]?.size, l1[1]?.size]).toEqual([0, 0]), SETTLES)
    } finally {
      await Promise.all(caches.map((cache) => cache.close()))
    }
  })

  it('the constructor rejects bad options with a TypeError or RangeError naming them', () => {
    const url = server().url
    const prefixed = new Redis(url, { lazyConnect: true, keyPrefix: 'k:' })
    raws.push(prefixed)
    const cases: Array<[unknown, ErrorConstructor, RegExp]> = [
      [undefined, TypeError, /^options must be an object/],
      [{ prefix: 'x:' }, TypeError, /exactly one of url and client/],
      [{ url, heartbeatInterval: 0 }, RangeError, /^options\.heartbeatInterval/],
      [{ url, heartbeatInterval: 'fast' }, TypeError, /^options\.heartbeatInterval/],
      [{ url, commandTimeout: -1 }, RangeError, /^options\.commandTimeout/],
      [{ url, uniqueTimeout: 0 }, RangeError, /^options\.uniqueTimeout/],
      [{ url, heartbeat: 100 }, TypeError, /^options\.heartbeat is not a known option/],
      [{ client: prefixed }, TypeError, /^options\.client must not have a keyPrefix/],
    ]
    for (const [options, type, message] of cases) {
      expect(() => new RedisBus(options as never)).toThrow(type)
      expect(() => new RedisBus(options as never)).toThrow(message)
    }
  })
})
