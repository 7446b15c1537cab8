/**
 * WorkerBus in one thread: argument checks, several members of one bus in
 * the same thread, the shared unique-hash table, and recovery of the append
 * mutex from a dead or stuck owner.
 */
import { once } from 'node:events'
import { Worker } from 'node:worker_threads'
import { lockWordOf } from '../../src/internal/robust-mutex.js'
import { describe, expect, it, onTestFinished } from 'vitest'
import { BusError } from '../../src/errors.js'
import { BUS_RESYNC_EVENT, BUS_SOURCE } from '../../src/bus/event-bus.js'
import { WorkerBus, type WorkerBusAttachOptions, type WorkerBusOptions } from '../../src/bus/worker-bus.js'
import { H_MUTEX, MAX_MEMBERS, openBusBuffer } from '../../src/bus/worker-bus-layout.js'
import { stealFromThread } from '../../src/bus/worker-bus-mutex.js'
import { claimUniqueHash, hashPair } from '../../src/bus/worker-bus-unique.js'

function newBus(options?: WorkerBusOptions): WorkerBus {
  const bus = WorkerBus.create(options)
  onTestFinished(() => bus.close())
  return bus
}

function attach(bus: WorkerBus, options?: WorkerBusAttachOptions): WorkerBus {
  const member = WorkerBus.attach(bus.handle, options)
  onTestFinished(() => member.close())
  return member
}

/** Timers of this thread (a pending publish holds one while it waits for room). */
function timers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length
}

/** Resolves with the data of the next `source` event `bus` receives. */
function next(bus: WorkerBus, source: string): Promise<unknown> {
  return new Promise((resolve) => {
    const id = bus.subscribe(source, '*', (data) => {
      bus.unsubscribe(id)
      resolve(data)
    })
  })
}

describe('WorkerBus in one thread', () => {
  it('create() refuses a ring smaller than maxPayloadLen and a maxQueueLen beyond 2^20, naming the option', () => {
    expect(() => WorkerBus.create({ maxPayloadLen: 100_000, ringBytes: 65_536 })).toThrow(/^options\.ringBytes must be >= 100000/)
    expect(() => WorkerBus.create({ ringBytes: 2 ** 31 })).toThrow(RangeError)
    expect(() => WorkerBus.create({ ringBytes: 1.5e6 + 0.5 })).toThrow(/options\.ringBytes/)
    expect(() => WorkerBus.create({ maxQueueLen: 2 ** 20 + 1 })).toThrow(/^options\.maxQueueLen must be <= 1048576/)
  })

  it('attach() refuses what is not a WorkerBus handle with a TypeError, and a bad onError', () => {
    for (const handle of [undefined, null, {}, { buffer: new ArrayBuffer(1024) }, { buffer: new SharedArrayBuffer(1024) }]) {
      expect(() => WorkerBus.attach(handle as never)).toThrow(/^handle must be the handle of a WorkerBus/)
    }
    const bus = newBus()
    expect(() => WorkerBus.attach(bus.handle, { onError: 'log' as never })).toThrow(/^options\.onError must be a function/)
    expect(() => WorkerBus.attach(bus.handle, 1 as never)).toThrow(TypeError)
  })

  it('create() and attach() reject an unknown option name with a TypeError naming it, and attach() the bus-wide ones', () => {
    expect(() => WorkerBus.create({ ringSize: 8192 } as WorkerBusOptions)).toThrow(new TypeError('options.ringSize is not a known option'))
    const bus = newBus({ ringBytes: 65_536 })
    expect(() => WorkerBus.attach(bus.handle, { onErorr: () => {} } as WorkerBusAttachOptions)).toThrow(
      new TypeError('options.onErorr is not a known option'),
    )
    // The bus's limits are fixed by create(): an attach() that names one would silently not get it.
    expect(() => WorkerBus.attach(bus.handle, { maxQueueLen: 8 } as WorkerBusAttachOptions)).toThrow(
      new TypeError('options.maxQueueLen is not a known option'),
    )
    expect(bus.workers()).toEqual([0]) // the refused attach left no member behind
  })

  it('create() and attach() refuse a clock that is not a function with a TypeError naming it', () => {
    expect(() => WorkerBus.create({ clock: 0 as never })).toThrow(new TypeError('options.clock must be a function'))
    const bus = newBus()
    expect(() => WorkerBus.attach(bus.handle, { clock: 'Date.now' as never })).toThrow(new TypeError('options.clock must be a function'))
    expect(bus.workers()).toEqual([0]) // the refused attach left no member behind
  })

  it('each member measures the shared unique windows with its own clock', async () => {
    // Far below the default clock's epoch readings: a member ignoring its clock would see every window over.
    let mainTime = 1_000_000
    let otherTime = 1_000_000
    const bus = newBus({ uniqueTimeout: 60_000, clock: () => mainTime })
    const other = attach(bus, { clock: () => otherTime })
    const handled: unknown[] = []
    for (const member of [bus, other]) member.subscribe('u', '*', (data) => void handled.push(data))
    const publish = async (member: WorkerBus, data: string) => {
      await member.publish('job', 'u', 'e', data)
      await Promise.all([bus.drain(), other.drain()])
    }
    await publish(bus, 'main opens a window until 1,060,000')
    otherTime += 59_999
    await publish(other, 'other at 1,059,999: dropped')
    otherTime += 1
    await publish(other, 'other opens a window until 1,120,000')
    await publish(bus, 'main at 1,000,000: dropped') // main's clock never moved
    mainTime += 119_999
    await publish(bus, 'main at 1,119,999: dropped')
    mainTime += 1
    await publish(bus, 'main at 1,120,000')
    expect(handled).toEqual(['main opens a window until 1,060,000', 'other opens a window until 1,120,000', 'main at 1,120,000'])
  })

  it('members of one thread get distinct workerIds, up to 64 members in all, then attach() fails with BusError', async () => {
    const bus = newBus()
    const members = Array.from({ length: MAX_MEMBERS - 1 }, () => attach(bus))
    expect(members.map((m) => m.workerId)).toEqual(Array.from({ length: MAX_MEMBERS - 1 }, (_, i) => i + 1))
    expect(bus.workers()).toHaveLength(MAX_MEMBERS)
    expect(() => WorkerBus.attach(bus.handle)).toThrow(BusError)
    await members[9]?.close()
    expect(bus.workers()).toEqual(Array.from({ length: MAX_MEMBERS }, (_, i) => i).filter((id) => id !== 10))
    expect(attach(bus).workerId).toBe(10) // the lowest free slot
  })

  it("members of one thread share the log: 'all' reaches each, a unique hash only one", async () => {
    const bus = newBus()
    const other = attach(bus)
    const handled: number[] = []
    for (const member of [bus, other]) member.subscribe('u', '*', () => void handled.push(member.workerId))
    const both = Promise.all([next(bus, 'a'), next(other, 'a')])
    await other.publish('all', 'a', 'e', 'hello')
    expect(await both).toEqual(['hello', 'hello'])
    await bus.publish('hash', 'u', 'e')
    await other.publish('hash', 'u', 'e') // dropped: the window is shared
    await Promise.all([bus.drain(), other.drain()])
    expect(handled).toHaveLength(1)
  })

  it('a loop of awaited publishes never overflows the queue: publish() yields to the reader when half full', async () => {
    const bus = newBus({ maxQueueLen: 64 })
    const seen: unknown[] = []
    bus.subscribe('s', '*', (data) => void seen.push(data))
    for (let i = 0; i < 1_000; i++) await bus.publish(i % 3 === 0 ? 'current' : 'all', 's', 'e', i)
    await bus.drain()
    expect(seen).toEqual(Array.from({ length: 1_000 }, (_, i) => i))
  })

  it('publish() waits while a live member has not read what it would overwrite, and rejects with BusError if its member closes meanwhile, leaving no timer behind', async () => {
    const bus = newBus({ maxQueueLen: 8, stallTimeout: 60_000 })
    const slow = attach(bus) // its handler holds the first event until released: its cursor stays put
    let release = (): void => {}
    slow.subscribe('s', '*', () => new Promise<void>((resolve) => (release = resolve)))
    const seen: unknown[] = []
    bus.subscribe('s', '*', (data) => void seen.push(data))
    const timersBefore = timers()
    let published = 0
    const loop = (async () => {
      for (let i = 0; i < 20; i++) {
        await bus.publish('all', 's', 'e', i)
        published++
      }
    })()
    const outcome = loop.catch((error: unknown) => error)
    // The ring keeps 8 records and `slow` read none of them: the 9th publish waits, not overwrites.
    while (seen.length < 8) await new Promise((resolve) => setImmediate(resolve))
    await bus.drain()
    expect(published).toBe(8)
    await bus.close()
    expect(await outcome).toBeInstanceOf(BusError)
    expect(published).toBe(8)
    for (let turn = 0; turn < 100 && timers() > timersBefore; turn++) await new Promise((resolve) => setTimeout(resolve, 1))
    // At most as many as before: a timer some earlier test left running may end meanwhile.
    expect(timers()).toBeLessThanOrEqual(timersBefore)
    release()
  })

  it('a member whose handler holds an event gets every event once it lets go: publishers waited instead of overwriting', async () => {
    const bus = newBus({ maxQueueLen: 8, stallTimeout: 60_000 })
    const slow = attach(bus)
    let release = (): void => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    const got: number[] = []
    slow.subscribe('s', '*', async (data) => {
      if (data === 0) await held
      got.push(data as number)
    })
    const seen: unknown[] = []
    bus.subscribe('s', '*', (data) => void seen.push(data))
    let published = 0
    const loop = (async () => {
      for (let i = 0; i < 40; i++) {
        await bus.publish('all', 's', 'e', i)
        published++
      }
    })()
    // Give the publisher every chance to run past the ring (an overwriting bus gets there in a few turns).
    for (let turn = 0; turn < 50 && published < 40; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(published).toBeLessThanOrEqual(8)
    release()
    await loop
    await slow.drain()
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i)) // no resync, no gap
  })

  it('create() refuses a stallTimeout that is not a duration, naming it', () => {
    expect(() => WorkerBus.create({ stallTimeout: -1 })).toThrow(new RangeError('options.stallTimeout must be >= 0'))
    expect(() => WorkerBus.create({ stallTimeout: Infinity })).toThrow(new RangeError('options.stallTimeout must be finite'))
    expect(() => WorkerBus.create({ stallTimeout: '1s' as never })).toThrow(new TypeError('options.stallTimeout must be a number'))
  })

  it('with stallTimeout 0 a publish never waits: a member that holds an event is overwritten and resyncs', async () => {
    const bus = newBus({ maxQueueLen: 8, stallTimeout: 0 })
    const slow = attach(bus)
    let release = (): void => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    const got: unknown[] = []
    slow.subscribe('*', '*', async (data, event, source) => {
      if (data === 0) await held
      got.push(source === BUS_SOURCE ? event : data)
    })
    for (let i = 0; i < 40; i++) await bus.publish('all', 's', 'e', i) // completes while `slow` holds event 0
    release()
    await slow.drain()
    expect(got.slice(0, 2)).toEqual([0, BUS_RESYNC_EVENT])
    expect(got.at(-1)).toBe(39)
  })

  it("a 'current' event published while an earlier publish waits for room is delivered after it: publish order holds across targets", async () => {
    const bus = newBus({ maxQueueLen: 8, stallTimeout: 60_000 })
    const slow = attach(bus)
    let release = (): void => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    slow.subscribe('s', '*', async (data) => {
      if (data === 0) await held
    })
    const seen: number[] = []
    bus.subscribe('s', '*', (data) => void seen.push(data as number))
    for (let i = 0; i < 8; i++) await bus.publish('all', 's', 'e', i) // fills the ring: `slow` read none
    const waiting = bus.publish('all', 's', 'e', 8) // waits for `slow`
    const local = bus.publish('current', 's', 'e', 9) // published after it: delivered after it
    // (drain() would wait for the 'current' event too.) Give a wrong order every chance to show.
    for (let turn = 0; turn < 50 && seen.length < 9; turn++) await new Promise((resolve) => setImmediate(resolve))
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    release()
    await Promise.all([waiting, local])
    await bus.drain()
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('the unique table drops a hash within its window only, whatever else is stored, and never grows', () => {
    const views = openBusBuffer(newBus().handle)
    expect(claimUniqueHash(views, 'h', 100, 1_000)).toBe(true)
    expect(claimUniqueHash(views, 'h', 100, 1_050)).toBe(false)
    expect(claimUniqueHash(views, 'other', 100, 1_050)).toBe(true)
    expect(claimUniqueHash(views, 'h', 100, 1_100)).toBe(true) // the window is over
    // Many more live hashes than entries: the soonest to expire are forgotten, nothing fails.
    for (let i = 0; i < 5_000; i++) expect(claimUniqueHash(views, `key-${i}`, 60_000, 2_000 + i)).toBe(true)
    expect(claimUniqueHash(views, 'key-4999', 60_000, 8_000)).toBe(false)
    expect(hashPair('key-1')).not.toEqual(hashPair('key-2'))
    expect(hashPair('ab')).not.toEqual(hashPair('ba'))
  })

  it('the append mutex of a dead thread is freed at once by stealFromThread, and only that thread', async () => {
    const bus = newBus()
    const { i32 } = openBusBuffer(bus.handle)
    Atomics.store(i32, H_MUTEX, lockWordOf(777, false))
    stealFromThread(i32, 778)
    expect(Atomics.load(i32, H_MUTEX)).toBe(lockWordOf(777, false))
    stealFromThread(i32, 777)
    expect(Atomics.load(i32, H_MUTEX)).toBe(0)
    const received = next(bus, 's')
    await bus.publish('all', 's', 'e', 1)
    expect(await received).toBe(1)
  })

  it('a publisher takes over an append mutex an unsupervised owner holds with no progress for ownerDeadAfter (a dead thread)', async () => {
    const bus = newBus({ ownerDeadAfter: 200 })
    const { i32 } = openBusBuffer(bus.handle)
    Atomics.store(i32, H_MUTEX, lockWordOf(999, false))
    const received = next(bus, 's')
    await bus.publish('all', 's', 'e', 'through')
    expect(await received).toBe('through')
    expect(Atomics.load(i32, H_MUTEX)).toBe(0)
  })

  it('a publisher never takes over an append mutex a supervised owner holds, however long: it waits for the release', async () => {
    const bus = newBus({ ownerDeadAfter: 100 })
    const { i32 } = openBusBuffer(bus.handle)
    const owner = lockWordOf(999, true)
    Atomics.store(i32, H_MUTEX, owner)
    // Plays the owner, paused 10 times ownerDeadAfter: it then checks that
    // its word is still there and releases.
    const releaser = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads')
      const i32 = new Int32Array(workerData.buffer)
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000)
      const word = Atomics.load(i32, workerData.index)
      Atomics.store(i32, workerData.index, 0)
      Atomics.notify(i32, workerData.index)
      parentPort.postMessage(word)`,
      { eval: true, workerData: { buffer: bus.handle.buffer, index: H_MUTEX } },
    )
    onTestFinished(async () => {
      await releaser.terminate()
    })
    const seen = once(releaser, 'message')
    const received = next(bus, 's')
    await bus.publish('all', 's', 'e', 'after the pause')
    expect(await received).toBe('after the pause')
    // The word the owner found when it resumed: its own (with the contended bit the publisher set).
    expect(await seen).toEqual([owner | 1])
  })
})

describe('WorkerBus durations that become timers', () => {
  it('drain(timeout) and stallTimeout beyond 2^31 - 1 ms are a RangeError (Node would fire them after 1 ms)', async () => {
    expect(() => WorkerBus.create({ stallTimeout: 2 ** 31 })).toThrow(RangeError)
    const bus = newBus({ stallTimeout: 2 ** 31 - 1 })
    await expect(bus.drain(2 ** 31)).rejects.toThrow(RangeError)
    await expect(bus.drain(2 ** 31 - 1)).resolves.toBeUndefined()
  })

  it('create() and attach() take ownerDeadAfter > 0 (Infinity for never) and reject anything else', () => {
    const bus = newBus({ ownerDeadAfter: Number.POSITIVE_INFINITY })
    for (const bad of [0, -5, Number.NaN, '1']) {
      expect(() => WorkerBus.create({ ownerDeadAfter: bad as number })).toThrow(/ownerDeadAfter/)
      expect(() => WorkerBus.attach(bus.handle, { ownerDeadAfter: bad as number })).toThrow(/ownerDeadAfter/)
    }
  })
})
