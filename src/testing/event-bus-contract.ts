/**
 * The behaviour every {@link EventBus} must show with a single member, as a
 * reusable vitest suite: lua-resty-events' test checklist, with returned
 * errors turned into `BusError` rejections and bad arguments into
 * `TypeError`s. Run it against a new transport with
 * `registerEventBusContract({ name, create })`.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { EventBus, EventBusOptions, EventBusTarget } from '../bus/event-bus.js'
import { BusError } from '../errors.js'

/** What {@link registerEventBusContract} needs. */
export interface EventBusContractOptions {
  /** Shown in the suite's title. */
  name: string
  /** Creates a fresh bus; every bus it creates is closed after each test. */
  create(options?: EventBusOptions): EventBus | Promise<EventBus>
}

/** One handler call. */
interface Delivery {
  data: unknown
  event: string
  source: string
  workerId: number | undefined
}

/** Events used as barriers travel under this source; recorders ignore it. */
const BARRIER = 'contract-barrier'

/** Subscribes a recorder; barrier events are left out. */
function record(bus: EventBus, source = '*', event = '*'): Delivery[] {
  const deliveries: Delivery[] = []
  bus.subscribe(source, event, (data, event, source, workerId) => {
    if (source !== BARRIER) deliveries.push({ data, event, source, workerId })
  })
  return deliveries
}

let barriers = 0

/**
 * Resolves once an event published now on `target` has been delivered: the
 * contract delivers in publish order per publisher, so every earlier event
 * of that target has been handled too. Works on buses without `drain()`.
 */
function barrier(bus: EventBus, target: 'all' | 'current' = 'all'): Promise<void> {
  const event = `barrier-${++barriers}`
  return new Promise((resolve, reject) => {
    const id = bus.subscribe(BARRIER, event, () => {
      bus.unsubscribe(id)
      resolve()
    })
    bus.publish(target, BARRIER, event).catch(reject)
  })
}

/** Runs `action` and answers what it threw or rejected with. */
async function failureOf(action: () => unknown): Promise<unknown> {
  try {
    await action()
  } catch (error) {
    return error
  }
  throw new Error('expected a failure')
}

async function expectBusError(promise: Promise<unknown>): Promise<BusError> {
  const error = await failureOf(() => promise)
  expect(error).toBeInstanceOf(BusError)
  expect(error).toHaveProperty('code', 'E_BUS')
  return error as BusError
}

/**
 * Registers a `describe` block checking that buses made by `create` follow
 * the contract for a single member. Every bus must implement `drain()`.
 */
export function registerEventBusContract({ name, create }: EventBusContractOptions): void {
  describe(`EventBus contract: ${name}`, () => {
    const open: EventBus[] = []
    async function newBus(options?: EventBusOptions): Promise<EventBus> {
      const bus = await create(options)
      open.push(bus)
      return bus
    }
    afterEach(async () => {
      await Promise.all(open.splice(0).map((bus) => bus.close()))
    })

    it('publish() never delivers inside the call, whatever the target', async () => {
      const bus = await newBus()
      const deliveries = record(bus)
      const published = [bus.publish('all', 's', 'a'), bus.publish('current', 's', 'c'), bus.publish('h', 's', 'u')]
      expect(deliveries).toEqual([])
      await Promise.all(published)
      await barrier(bus)
      await barrier(bus, 'current')
      expect(deliveries.map((d) => d.event).sort()).toEqual(['a', 'c', 'u'])
    })

    it("publish() delivers 'all' events to the publisher with its workerId, as a copy", async () => {
      const bus = await newBus()
      const deliveries = record(bus, 's', 'e')
      const data = { n: 1, list: [1, 2] }
      await bus.publish('all', 's', 'e', data)
      await barrier(bus)
      expect(deliveries).toEqual([{ data, event: 'e', source: 's', workerId: bus.workerId }])
      expect(deliveries[0]?.data).not.toBe(data)
    })

    it("publish() delivers 'current' events uncopied with workerId undefined", async () => {
      const bus = await newBus()
      const deliveries = record(bus, 's', 'e')
      const data = { n: 1 }
      await bus.publish('current', 's', 'e', data)
      await bus.publish('current', 's', 'e')
      await barrier(bus, 'current')
      expect(deliveries).toHaveLength(2)
      expect(deliveries[0]?.data).toBe(data)
      expect(deliveries[0]).toHaveProperty('workerId', undefined)
      expect(deliveries[1]?.data).toBeUndefined()
    })

    it('publish() delivers the events of each target in publish order', async () => {
      const bus = await newBus()
      const deliveries = record(bus, 's')
      const indexes = Array.from({ length: 30 }, (_, i) => i)
      await Promise.all(indexes.map((i) => bus.publish(i % 2 === 0 ? 'all' : 'current', 's', `e${i % 2}`, i)))
      await barrier(bus)
      await barrier(bus, 'current')
      const of = (event: string) => deliveries.filter((d) => d.event === event).map((d) => d.data)
      expect(of('e0')).toEqual(indexes.filter((i) => i % 2 === 0))
      expect(of('e1')).toEqual(indexes.filter((i) => i % 2 === 1))
    })

    it('publish() keeps the payload types through the copy', async () => {
      const bus = await newBus()
      const deliveries = record(bus, 's')
      const payloads: unknown[] = [
        undefined, null, '', 'text', 0, -1.5, NaN, true, false, 12345678901234567890n,
        [1, 'two', { three: 3 }], { nested: { deep: [null] } }, new Map([['k', 1]]), new Set([1]),
        new Date(0), Uint8Array.of(1, 2, 3),
      ]
      for (const data of payloads) await bus.publish('all', 's', 'e', data)
      await barrier(bus)
      expect(deliveries.map((d) => d.data)).toEqual(payloads)
    })

    it('publish() hands a unique hash to one member once within uniqueTimeout, whatever the source and event', async () => {
      const bus = await newBus()
      const deliveries = record(bus)
      await bus.publish('hash-1', 's', 'first', 1)
      await bus.publish('hash-1', 'other', 'second', 2) // dropped: same hash
      await bus.publish('hash-2', 's', 'third', 3)
      await barrier(bus)
      expect(deliveries).toEqual([
        { data: 1, event: 'first', source: 's', workerId: bus.workerId },
        { data: 3, event: 'third', source: 's', workerId: bus.workerId },
      ])
    })

    it('publish() hands a unique hash again once uniqueTimeout has elapsed', async () => {
      const bus = await newBus({ uniqueTimeout: 50 })
      const deliveries = record(bus, 's')
      await bus.publish('hash', 's', 'e')
      await barrier(bus)
      expect(deliveries).toHaveLength(1)
      // Dropped while the window runs; the first publish after it is delivered.
      await vi.waitFor(
        async () => {
          await bus.publish('hash', 's', 'e')
          await barrier(bus)
          expect(deliveries).toHaveLength(2)
        },
        { timeout: 5000, interval: 10 },
      )
    })

    it("subscribe() matches '*' and dispatches ('*','*'), (source,'*'), ('*',event), then (source,event)", async () => {
      const bus = await newBus()
      const calls: string[] = []
      const tag = (name: string) => (_data: unknown, _event: string, source: string) => {
        if (source !== BARRIER) calls.push(name)
      }
      bus.subscribe('s', 'e', tag('exact'))
      bus.subscribe('*', 'e', tag('any source'))
      bus.subscribe('*', '*', tag('global 1'))
      bus.subscribe('s', '*', tag('any event'))
      bus.subscribe('*', '*', tag('global 2'))
      bus.subscribe('s', 'other', tag('other event'))
      bus.subscribe('other', 'e', tag('other source'))
      await bus.publish('all', 's', 'e')
      await barrier(bus)
      expect(calls).toEqual(['global 1', 'global 2', 'any event', 'any source', 'exact'])
    })

    it('unsubscribe() stops only that handler and answers whether it existed', async () => {
      const bus = await newBus()
      const calls: string[] = []
      const first = bus.subscribe('s', 'e', () => void calls.push('first'))
      const second = bus.subscribe('s', 'e', () => void calls.push('second'))
      expect(Number.isInteger(first) && Number.isInteger(second) && first !== second).toBe(true)
      expect(bus.unsubscribe(first)).toBe(true)
      expect(bus.unsubscribe(first)).toBe(false)
      expect(bus.unsubscribe(second + 1000)).toBe(false)
      await bus.publish('all', 's', 'e')
      await barrier(bus)
      expect(calls).toEqual(['second'])
    })

    it('a handler subscribed after publish() but before delivery receives the event', async () => {
      const bus = await newBus()
      const published = bus.publish('all', 's', 'e', 'late')
      const deliveries = record(bus, 's', 'e')
      await published
      await barrier(bus)
      expect(deliveries.map((d) => d.data)).toEqual(['late'])
    })

    it('a throwing or rejecting handler is reported to onError and does not stop delivery', async () => {
      const onError = vi.fn()
      const bus = await newBus({ onError })
      const thrown = new Error('thrown')
      const rejected = new Error('rejected')
      bus.subscribe('s', '*', () => {
        throw thrown
      })
      bus.subscribe('s', '*', () => Promise.reject(rejected))
      const deliveries = record(bus, 's')
      await bus.publish('all', 's', 'one')
      await bus.publish('current', 's', 'two')
      await barrier(bus)
      await barrier(bus, 'current')
      expect(deliveries.map((d) => d.event).sort()).toEqual(['one', 'two'])
      expect(onError).toHaveBeenCalledTimes(4)
      expect(onError).toHaveBeenCalledWith(thrown, { source: 's', event: 'one' })
      expect(onError).toHaveBeenCalledWith(rejected, { source: 's', event: 'one' })
      expect(onError).toHaveBeenCalledWith(thrown, { source: 's', event: 'two' })
      expect(onError).toHaveBeenCalledWith(rejected, { source: 's', event: 'two' })
    })

    it('publish() rejects a payload over maxPayloadLen with BusError and never delivers it', async () => {
      const bus = await newBus({ maxPayloadLen: 200 })
      const deliveries = record(bus, 's')
      const big = 'x'.repeat(200)
      await expectBusError(bus.publish('all', 's', 'big', big))
      await expectBusError(bus.publish('hash', 's', 'big', big))
      // A refused unique event does not use up its hash.
      await bus.publish('hash', 's', 'small', 'hello world')
      await bus.publish('all', 's', 'small', 'hello world')
      await barrier(bus)
      expect(deliveries.map((d) => d.event)).toEqual(['small', 'small'])
    })

    it('publish() rejects a payload that cannot be cloned with BusError and a cause', async () => {
      const bus = await newBus()
      const deliveries = record(bus, 's')
      const error = await expectBusError(bus.publish('all', 's', 'e', { f: () => 1 }))
      expect(error.cause).toBeDefined()
      await barrier(bus)
      expect(deliveries).toEqual([])
    })

    it('publish() rejects beyond maxQueueLen with BusError and never delivers the refused events', async () => {
      const bus = await newBus({ maxQueueLen: 2 })
      const deliveries = record(bus, 's')
      const results = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => bus.publish('all', 's', 'e', i)))
      const accepted = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []))
      const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []))
      expect(refused.length).toBeGreaterThan(0)
      for (const error of refused) {
        expect(error).toBeInstanceOf(BusError)
        expect(error).toHaveProperty('code', 'E_BUS')
      }
      await vi.waitFor(() => expect(deliveries.map((d) => d.data)).toEqual(accepted), { timeout: 5000 })
      await barrier(bus)
      expect(deliveries.map((d) => d.data)).toEqual(accepted)
    })

    it('publish() rejects bad arguments with a TypeError naming them and delivers nothing', async () => {
      const bus = await newBus()
      const deliveries = record(bus)
      const calls: Array<[string, () => Promise<void>]> = [
        ['target', () => bus.publish('', 's', 'e')],
        ['target', () => bus.publish(42 as unknown as EventBusTarget, 's', 'e')],
        ['source', () => bus.publish('all', '', 'e')],
        ['source', () => bus.publish('all', null as unknown as string, 'e')],
        ['event', () => bus.publish('current', 's', '')],
        ['event', () => bus.publish('h', 's', {} as unknown as string)],
      ]
      for (const [name, call] of calls) {
        const error = await failureOf(call)
        expect(error).toBeInstanceOf(TypeError)
        expect((error as TypeError).message).toMatch(new RegExp(`^${name} `))
      }
      await barrier(bus)
      await barrier(bus, 'current')
      expect(deliveries).toEqual([])
    })

    it('subscribe() throws a TypeError on bad arguments', async () => {
      const bus = await newBus()
      expect(() => bus.subscribe('', 'e', () => {})).toThrow(TypeError)
      expect(() => bus.subscribe('s', 1 as unknown as string, () => {})).toThrow(/^event /)
      expect(() => bus.subscribe('s', 'e', 'handler' as never)).toThrow(/^handler /)
    })

    it('creating a bus with invalid options fails with a TypeError or RangeError naming the option', async () => {
      const cases: Array<[EventBusOptions, ErrorConstructor, RegExp]> = [
        [{ uniqueTimeout: 0 }, RangeError, /options\.uniqueTimeout/],
        [{ maxPayloadLen: 2 ** 24 + 1 }, RangeError, /options\.maxPayloadLen/],
        [{ maxQueueLen: 0 }, RangeError, /options\.maxQueueLen/],
        [{ onError: 'log' as never }, TypeError, /options\.onError/],
      ]
      for (const [options, type, message] of cases) {
        const error = await failureOf(() => newBus(options))
        expect(error).toBeInstanceOf(type)
        expect((error as Error).message).toMatch(message)
      }
    })

    it('publish() after close() rejects with BusError, and close() is idempotent', async () => {
      const bus = await newBus()
      await bus.close()
      await bus.close()
      await expectBusError(bus.publish('all', 's', 'e'))
      await expectBusError(bus.publish('current', 's', 'e'))
    })

    it('drain() resolves once every earlier event has been handled', async () => {
      const bus = await newBus()
      expect(bus.drain).toBeTypeOf('function')
      await bus.drain?.() // nothing pending
      const handled: unknown[] = []
      bus.subscribe('s', 'e', async (data) => {
        await new Promise((resolve) => setImmediate(resolve))
        handled.push(data)
      })
      for (let i = 0; i < 5; i++) await bus.publish(i % 2 === 0 ? 'all' : 'current', 's', 'e', i)
      await bus.drain?.()
      expect([...handled].sort()).toEqual([0, 1, 2, 3, 4])
    })

    it('workers() lists workerId', async () => {
      const bus = await newBus()
      expect(Number.isInteger(bus.workerId)).toBe(true)
      expect(bus.workers()).toContain(bus.workerId)
    })
  })
}
