import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DEFAULT_MAX_PAYLOAD_LEN,
  DEFAULT_MAX_QUEUE_LEN,
  DEFAULT_UNIQUE_TIMEOUT,
  MAX_PAYLOAD_LEN,
  resolveBusOptions,
} from '../../src/bus/bus-options.js'
import { realTime } from '../../src/internal/real-time.js'
import type { EventBusOptions } from '../../src/bus/event-bus.js'
import { LocalBus } from '../../src/bus/local-bus.js'
import { UniqueDedup } from '../../src/bus/unique-dedup.js'
import { BusError } from '../../src/errors.js'
import { fakeClock } from '../helpers/fake-clock.js'
import { sleep } from '../helpers/ts-workers.js'

const open: LocalBus[] = []
function newBus(options?: EventBusOptions): LocalBus {
  const bus = new LocalBus(options)
  open.push(bus)
  return bus
}

afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(open.splice(0).map((bus) => bus.close()))
})

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {}
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

function timersAndImmediates(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout' || name === 'Immediate').length
}

describe('resolveBusOptions()', () => {
  it('applies the lua-resty-events defaults', () => {
    expect(resolveBusOptions()).toMatchObject({
      uniqueTimeout: DEFAULT_UNIQUE_TIMEOUT,
      maxPayloadLen: DEFAULT_MAX_PAYLOAD_LEN,
      maxQueueLen: DEFAULT_MAX_QUEUE_LEN,
    })
    expect([DEFAULT_UNIQUE_TIMEOUT, DEFAULT_MAX_PAYLOAD_LEN, DEFAULT_MAX_QUEUE_LEN]).toEqual([5000, 65_536, 10_240])
    expect(resolveBusOptions().clock).toBe(realTime)
    expect(resolveBusOptions({ clock: undefined } as unknown as EventBusOptions).clock).toBe(realTime)
    expect(resolveBusOptions({ maxPayloadLen: MAX_PAYLOAD_LEN }).maxPayloadLen).toBe(16_777_216)
  })

  it('rejects each invalid option with a message naming it', () => {
    const cases: Array<[unknown, ErrorConstructor, string]> = [
      [null, TypeError, 'options must be an object'],
      [{ uniqueTimeout: '5' }, TypeError, 'options.uniqueTimeout must be a number'],
      [{ uniqueTimeout: 0 }, RangeError, 'options.uniqueTimeout must be > 0'],
      [{ uniqueTimeout: -1 }, RangeError, 'options.uniqueTimeout must be >= 0'],
      [{ uniqueTimeout: Infinity }, RangeError, 'options.uniqueTimeout must be finite'],
      [{ maxPayloadLen: 0 }, RangeError, 'options.maxPayloadLen must be >= 1'],
      [{ maxPayloadLen: 1.5 }, RangeError, 'options.maxPayloadLen must be an integer'],
      [{ maxPayloadLen: MAX_PAYLOAD_LEN + 1 }, RangeError, 'options.maxPayloadLen must be <= 16777216'],
      [{ maxQueueLen: 0 }, RangeError, 'options.maxQueueLen must be >= 1'],
      [{ maxQueueLen: NaN }, TypeError, 'options.maxQueueLen must be a number'],
      [{ onError: 1 }, TypeError, 'options.onError must be a function'],
      [{ clock: 1_700_000_000_000 }, TypeError, 'options.clock must be a function'],
      [{ clock: null }, TypeError, 'options.clock must be a function'],
    ]
    for (const [options, type, message] of cases) {
      expect(() => new LocalBus(options as EventBusOptions)).toThrow(type)
      expect(() => new LocalBus(options as EventBusOptions)).toThrow(message)
    }
  })

  it('new LocalBus() rejects an unknown option name with a TypeError naming it, as MLCache does', () => {
    expect(() => new LocalBus({ maxQueueLength: 10 } as EventBusOptions)).toThrow(new TypeError('options.maxQueueLength is not a known option'))
    expect(() => new LocalBus({ ringBytes: 8192 } as EventBusOptions)).toThrow(new TypeError('options.ringBytes is not a known option'))
    expect(() => new LocalBus({ uniqueTimeout: 1, maxPayloadLen: 10, maxQueueLen: 1, onError: () => {}, clock: () => 0 })).not.toThrow()
  })
})

describe('realTime()', () => {
  it('answers epoch milliseconds that never go back', () => {
    const readings = Array.from({ length: 1_000 }, () => realTime())
    expect(readings).toEqual([...readings].sort((x, y) => x - y))
    // Epoch milliseconds, as every thread reads them (a thread's own performance.now() starts near 0):
    // the monotonic and wall clocks drift apart far less than a minute during a test run.
    expect(Math.abs((readings[0] ?? 0) - Date.now())).toBeLessThan(60_000)
  })
})

describe('UniqueDedup', () => {
  it('claim() refuses a hash until its window has elapsed, without extending it', () => {
    const dedup = new UniqueDedup(100)
    expect(dedup.claim('h', 1000)).toBe(true)
    expect(dedup.claim('h', 1050)).toBe(false)
    expect(dedup.claim('other', 1050)).toBe(true)
    expect(dedup.claim('h', 1099)).toBe(false)
    expect(dedup.claim('h', 1100)).toBe(true)
    expect(dedup.claim('h', 1150)).toBe(false)
  })

  it('claim() forgets the least recently used hash beyond its capacity, like the broker LRU', () => {
    const dedup = new UniqueDedup(100, 3)
    for (const hash of ['a', 'b', 'c', 'd']) expect(dedup.claim(hash, 0)).toBe(true)
    expect(dedup.claim('b', 1)).toBe(false)
    expect(dedup.claim('a', 1)).toBe(true) // evicted by 'd': the window is lost
  })
})

describe('LocalBus', () => {
  it('has workerId 0 and workers() [0], then [] after close()', async () => {
    const bus = newBus()
    expect(bus.workerId).toBe(0)
    expect(bus.workers()).toEqual([0])
    await bus.close()
    expect(bus.workers()).toEqual([])
  })

  it('publish() delivers every target from one FIFO queue in publish order', async () => {
    const bus = newBus()
    const seen: unknown[] = []
    bus.subscribe('s', 'e', (data, _event, _source, workerId) => void seen.push([data, workerId]))
    await bus.publish('all', 's', 'e', 1)
    await bus.publish('current', 's', 'e', 2)
    await bus.publish('hash', 's', 'e', 3)
    await bus.publish('all', 's', 'e', 4)
    await bus.drain()
    expect(seen).toEqual([[1, 0], [2, undefined], [3, 0], [4, 0]])
  })

  it("publish() copies an 'all' payload at publish time", async () => {
    const bus = newBus()
    const seen: unknown[] = []
    bus.subscribe('s', 'e', (data) => void seen.push(data))
    const data = { n: 1 }
    await bus.publish('all', 's', 'e', data)
    data.n = 2
    await bus.drain()
    expect(seen).toEqual([{ n: 1 }])
  })

  it("publish() neither copies nor size-checks 'current' payloads", async () => {
    const bus = newBus({ maxPayloadLen: 200 })
    const seen: unknown[] = []
    bus.subscribe('s', 'e', (data) => void seen.push(data))
    const big = { text: 'x'.repeat(1000) }
    const fn = () => 1
    await bus.publish('current', 's', 'e', big)
    await bus.publish('current', 's', 'e', fn)
    await bus.drain()
    expect(seen).toHaveLength(2)
    expect(seen[0]).toBe(big)
    expect(seen[1]).toBe(fn)
  })

  it('publish() enforces the default maxPayloadLen of 65536 bytes', async () => {
    const bus = newBus()
    await bus.publish('all', 's', 'e', 'x'.repeat(65_000))
    const error = await bus.publish('all', 's', 'e', 'x'.repeat(65_536)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BusError)
    expect(error).toHaveProperty('message', 'failed to publish event: payload exceeds the limitation (65536)')
  })

  it('publish() accepts maxQueueLen undelivered events of any target, then rejects until delivery', async () => {
    const bus = newBus({ maxQueueLen: 3 })
    const seen: unknown[] = []
    bus.subscribe('s', 'e', (data) => void seen.push(data))
    const results = await Promise.allSettled([
      bus.publish('all', 's', 'e', 1),
      bus.publish('current', 's', 'e', 2),
      bus.publish('hash', 's', 'e', 3),
      bus.publish('all', 's', 'e', 4),
      bus.publish('hash-2', 's', 'e', 5),
    ])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'rejected'])
    expect(results[3]).toMatchObject({ reason: { code: 'E_BUS', message: 'failed to publish event: queue overflow (3 events waiting)' } })
    await bus.drain()
    await bus.publish('hash-2', 's', 'e', 6) // the refused unique event did not use up its hash
    await bus.drain()
    expect(seen).toEqual([1, 2, 3, 6])
  })

  it('publish() resolves for a dropped duplicate unique event, and drain() does not wait for it', async () => {
    const bus = newBus()
    const seen: unknown[] = []
    bus.subscribe('*', '*', (data) => void seen.push(data))
    await bus.publish('hash', 's', 'e', 1)
    await bus.drain()
    await expect(bus.publish('hash', 's', 'e', 2)).resolves.toBeUndefined()
    await bus.drain()
    expect(seen).toEqual([1])
  })

  it('measures uniqueTimeout on the clock option: a hash is dropped until it has moved uniqueTimeout past the first publish', async () => {
    // A minute of the fake clock: real time cannot end the window during the test.
    const clock = fakeClock()
    const bus = newBus({ uniqueTimeout: 60_000, clock: clock.now })
    const seen: unknown[] = []
    bus.subscribe('*', '*', (data) => void seen.push(data))
    await bus.publish('job', 's', 'e', 'opens the window')
    clock.advance(59_999)
    await bus.publish('job', 's', 'e', '1 ms before its end')
    clock.advance(1)
    await bus.publish('job', 's', 'e', 'at its end: opens the next')
    await bus.publish('job', 's', 'e', 'inside the next')
    await bus.drain()
    expect(seen).toEqual(['opens the window', 'at its end: opens the next'])
  })

  it('reads no other time than the clock option: with that clock stopped, a window outlasts any real time', async () => {
    const clock = fakeClock()
    const bus = newBus({ uniqueTimeout: 1, clock: clock.now })
    const seen: unknown[] = []
    bus.subscribe('*', '*', (data) => void seen.push(data))
    await bus.publish('job', 's', 'e', 'first')
    // Real time moves well past uniqueTimeout; the injected clock does not.
    const past = realTime() + 20
    while (realTime() < past) await sleep(5)
    await bus.publish('job', 's', 'e', 'dropped')
    await bus.drain()
    expect(seen).toEqual(['first'])
  })

  it('publish() to a unique target rejects with a TypeError when the clock answers no finite time; other targets do not read it', async () => {
    for (const reading of [NaN, Infinity, '1700000000000']) {
      const bus = newBus({ clock: () => reading as number })
      const seen: unknown[] = []
      bus.subscribe('*', '*', (data) => void seen.push(data))
      await expect(bus.publish('job', 's', 'e', 'unique')).rejects.toThrow(new TypeError('options.clock must answer a finite number of milliseconds'))
      await bus.publish('all', 's', 'e', 'all')
      await bus.drain()
      expect(seen).toEqual(['all'])
    }
  })

  it('handles events one at a time, awaiting a handler promise before the next event', async () => {
    const bus = newBus()
    const gate = deferred()
    const log: string[] = []
    bus.subscribe('s', 'slow', async () => {
      log.push('slow start')
      await gate.promise
      log.push('slow end')
    })
    bus.subscribe('s', 'fast', () => void log.push('fast'))
    await bus.publish('all', 's', 'slow')
    await bus.publish('all', 's', 'fast')
    await vi.waitFor(() => expect(log).toEqual(['slow start']))
    await new Promise((resolve) => setImmediate(resolve))
    expect(log).toEqual(['slow start'])
    gate.resolve()
    await bus.drain()
    expect(log).toEqual(['slow start', 'slow end', 'fast'])
  })

  it('reports a failed handler through process.emitWarning by default, without the data', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const bus = newBus()
    bus.subscribe('s', 'e', () => {
      throw new Error('boom')
    })
    await bus.publish('all', 's', 'e', 'secret value')
    await bus.drain()
    expect(emitWarning).toHaveBeenCalledTimes(1)
    const [message, options] = emitWarning.mock.calls[0] ?? []
    expect(message).toBe('event handler failed; source=s, event=e: boom')
    expect(options).toMatchObject({ type: 'MLCacheBusWarning', detail: expect.stringContaining('boom') })
    expect(JSON.stringify(emitWarning.mock.calls)).not.toContain('secret value')
  })

  it('survives a throwing onError: reported through process.emitWarning, delivery goes on', async () => {
    const emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const bus = newBus({
      onError: () => {
        throw new Error('reporter broke')
      },
    })
    const seen: string[] = []
    bus.subscribe('s', '*', () => {
      throw new Error('handler broke')
    })
    bus.subscribe('s', '*', (_data, event) => void seen.push(event))
    await bus.publish('all', 's', 'one')
    await bus.publish('all', 's', 'two')
    await bus.drain()
    expect(seen).toEqual(['one', 'two'])
    expect(emitWarning).toHaveBeenCalledTimes(2)
    expect(emitWarning.mock.calls[0]?.[0]).toBe('options.onError failed; source=s, event=one: reporter broke')
  })

  it('skips a handler unsubscribed by an earlier one, and gives a handler subscribed during dispatch only later events', async () => {
    const bus = newBus()
    const log: string[] = []
    let second = 0
    bus.subscribe('s', '*', (_data, event) => {
      log.push(`first ${event}`)
      if (event === 'one') {
        bus.unsubscribe(second)
        bus.subscribe('s', '*', (_d, e) => void log.push(`third ${e}`))
      }
    })
    second = bus.subscribe('s', '*', (_data, event) => void log.push(`second ${event}`))
    await bus.publish('all', 's', 'one')
    await bus.publish('all', 's', 'two')
    await bus.drain()
    expect(log).toEqual(['first one', 'first two', 'third two'])
  })

  it("calls a subscription once for an event whose source or event is '*'", async () => {
    const bus = newBus()
    const log: string[] = []
    bus.subscribe('*', '*', () => void log.push('global'))
    bus.subscribe('*', 'e', () => void log.push('any source'))
    await bus.publish('all', '*', '*')
    await bus.publish('all', '*', 'e')
    await bus.drain()
    expect(log).toEqual(['global', 'global', 'any source'])
  })

  it('unsubscribe() throws a TypeError for an id that is not a number', () => {
    const bus = newBus()
    expect(() => bus.unsubscribe('1' as unknown as number)).toThrow('id must be a number')
  })

  it('drain() resolves after its timeout when a handler never settles, and validates the timeout', async () => {
    const bus = newBus()
    bus.subscribe('s', 'e', () => new Promise<void>(() => {}))
    await bus.publish('all', 's', 'e')
    await expect(bus.drain(10)).resolves.toBeUndefined()
    await expect(bus.drain(-1)).rejects.toThrow(RangeError)
    await expect(bus.drain('1' as unknown as number)).rejects.toThrow('timeout must be a number')
  })

  it('close() drops queued events, resolves pending drain() calls and leaves no timer or immediate behind', async () => {
    const before = timersAndImmediates()
    const bus = newBus()
    const seen: unknown[] = []
    bus.subscribe('*', '*', (data) => void seen.push(data))
    // Both events are queued when publish() returns; delivery starts from a later microtask.
    const published = [bus.publish('all', 's', 'e', 1), bus.publish('current', 's', 'e', 2)]
    const drained = bus.drain(60_000)
    const unbounded = bus.drain()
    const resolved: string[] = []
    void drained.then(() => resolved.push('drained'))
    void unbounded.then(() => resolved.push('unbounded'))
    expect(timersAndImmediates()).toBe(before + 1)
    const closing = bus.close()
    expect(timersAndImmediates()).toBe(before)
    await Promise.all([...published, closing])
    await new Promise((resolve) => setImmediate(resolve))
    // Both resolved by close() itself: neither could by delivery (nothing is delivered) nor by its timeout.
    expect(resolved.sort()).toEqual(['drained', 'unbounded'])
    expect(seen).toEqual([])
    await expect(bus.drain()).resolves.toBeUndefined()
  })

  it('close() inside a handler stops the remaining handlers and events without awaiting that handler', async () => {
    const bus = newBus()
    const log: string[] = []
    bus.subscribe('s', 'e', async (data) => {
      log.push(`closing ${String(data)}`)
      await bus.close()
      log.push('closed')
    })
    bus.subscribe('s', 'e', () => void log.push('after'))
    await Promise.all([bus.publish('all', 's', 'e', 1), bus.publish('all', 's', 'e', 2)])
    await vi.waitFor(() => expect(log).toEqual(['closing 1', 'closed']))
    await new Promise((resolve) => setImmediate(resolve))
    expect(log).toEqual(['closing 1', 'closed'])
  })

  it('subscribe() still answers ids after close(), and nothing is delivered', async () => {
    const bus = newBus()
    await bus.close()
    const id = bus.subscribe('s', 'e', () => {})
    expect(id).toBeGreaterThan(0)
    expect(bus.unsubscribe(id)).toBe(true)
  })

  it('delivers every accepted event to each matching subscription once, in dispatch then publish order', async () => {
    const name = fc.constantFrom('a', 'b', '*')
    const concrete = fc.constantFrom('a', 'b')
    const level = (s: string, e: string) => (s === '*' ? (e === '*' ? 0 : 2) : e === '*' ? 1 : 3)
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ source: name, event: name }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.record({ target: fc.constantFrom('all', 'current'), source: concrete, event: concrete }), {
          maxLength: 20,
        }),
        async (subscriptions, events) => {
          const bus = new LocalBus()
          const calls: Array<[number, number]> = []
          subscriptions.forEach(({ source, event }, sub) =>
            bus.subscribe(source, event, (data) => void calls.push([sub, data as number])),
          )
          await Promise.all(events.map(({ target, source, event }, i) => bus.publish(target, source, event, i)))
          await bus.drain()
          await bus.close()
          const expected = events.flatMap(({ source, event }, i) =>
            subscriptions
              .map((sub, index) => ({ ...sub, index }))
              .filter((sub) => (sub.source === '*' || sub.source === source) && (sub.event === '*' || sub.event === event))
              .sort((x, y) => level(x.source, x.event) - level(y.source, y.event) || x.index - y.index)
              .map((sub): [number, number] => [sub.index, i]),
          )
          expect(calls).toEqual(expected)
        },
      ),
      { numRuns: 100 },
    )
  })
})

describe('LocalBus backpressure', () => {
  it('publish() in a loop of 100,000 awaited calls delivers every event without overflowing', async () => {
    const bus = new LocalBus()
    let received = 0
    bus.subscribe('s', 'e', () => {
      received++
    })
    for (let i = 0; i < 100_000; i++) await bus.publish('all', 's', 'e', i)
    await bus.drain()
    expect(received).toBe(100_000)
    await bus.close()
  })
})

describe('durations that become timers', () => {
  it('drain(timeout) beyond 2^31 - 1 ms is a RangeError (Node would fire it after 1 ms), up to it a wait', async () => {
    const bus = newBus()
    await expect(bus.drain(2 ** 31)).rejects.toThrow(RangeError)
    await expect(bus.drain(2 ** 31 - 1)).resolves.toBeUndefined()
  })
})
