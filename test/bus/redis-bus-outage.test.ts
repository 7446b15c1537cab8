/**
 * RedisBus while its redis-server is killed, paused and restarted: publish
 * fails fast and never hangs, the bus comes back by itself and says that it
 * may have lost events (resync), and close() leaves nothing running.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BUS_RESYNC_EVENT, BUS_SOURCE } from '../../src/bus/event-bus.js'
import { RedisBus, type RedisBusOptions } from '../../src/bus/redis-bus.js'
import { decodeFrame, FRAME_GOODBYE } from '../../src/bus/redis-bus-wire.js'
import { BusError } from '../../src/errors.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

/** Long enough for anything that should happen; only a hang reaches it. */
const SETTLES = { timeout: 10_000, interval: 20 }

/** Rejects if `promise` has not settled after 10 s: a hang fails the test instead of timing it out. */
function settles<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('did not settle within 10 s')), 10_000)
  })
  return Promise.race([promise, hang]).finally(() => clearTimeout(timer))
}

/** The reasons of the resync events `bus` delivers. */
function resyncs(bus: RedisBus): unknown[] {
  const reasons: unknown[] = []
  bus.subscribe(BUS_SOURCE, BUS_RESYNC_EVENT, (data) => void reasons.push((data as { reason: unknown }).reason))
  return reasons
}

describe.runIf(redisServerInstalled)('RedisBus outage', () => {
  const server = useRedisServer()
  const open: RedisBus[] = []
  let prefixes = 0
  afterEach(async () => {
    server().resume()
    await Promise.all(open.splice(0).map((bus) => bus.close()))
    await settles(server().restart()) // fresh and running for the next test
  }, 20_000)

  /** How many clients the server has, counting the one that asks. */
  async function clients(): Promise<number> {
    const raw = new Redis(server().url)
    try {
      return Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))?.[1])
    } finally {
      raw.disconnect()
    }
  }

  async function member(options: RedisBusOptions = {}): Promise<RedisBus> {
    const bus = new RedisBus({ url: server().url, prefix: `outage${prefixes}:`, commandTimeout: 200, heartbeatInterval: 100, ...options })
    open.push(bus)
    await bus.drain()
    return bus
  }

  it('publish() rejects with BusError and a cause while Redis is down, and a burst of 300 publishes all settle', async () => {
    prefixes++
    const bus = await member()
    await server().kill()
    const error = await settles(bus.publish('all', 's', 'e', 1).catch((e: unknown) => e))
    expect(error).toBeInstanceOf(BusError)
    expect((error as BusError).cause).toBeDefined()
    const burst = await settles(Promise.allSettled(Array.from({ length: 300 }, (_, i) => bus.publish(i % 2 === 0 ? 'all' : `hash-${i}`, 's', 'e', i))))
    for (const result of burst) {
      expect(result.status).toBe('rejected')
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(BusError)
      expect((result as PromiseRejectedResult).reason.cause).toBeDefined()
    }
  })

  it('publish() rejects with BusError while Redis is paused instead of hanging', async () => {
    prefixes++
    const bus = await member()
    server().pause()
    const results = await settles(Promise.allSettled([bus.publish('all', 's', 'e'), bus.publish('hash', 's', 'e')]))
    expect(results.map((result) => result.status === 'rejected' && result.reason instanceof BusError)).toEqual([true, true])
  })

  it('after a restart every member resubscribes by itself, delivers the resync event, and events flow between them again', async () => {
    prefixes++
    const [a, b] = [await member(), await member()]
    const [atA, atB] = [resyncs(a), resyncs(b)]
    const received: unknown[] = []
    a.subscribe('s', 'e', (data) => void received.push(data))
    await server().restart()
    // 'reconnect', or 'silence' if the restart took three heartbeat intervals (one resync covers both).
    await vi.waitFor(() => expect([atA.length > 0, atB.length > 0]).toEqual([true, true]), SETTLES)
    // b's breaker may still be open for a moment: publish until one gets through.
    await vi.waitFor(async () => {
      await b.publish('all', 's', 'e', 'back')
      await a.drain(1_000)
      expect(received).toContain('back')
    }, SETTLES)
  })

  it('a paused server makes the bus resync when its own heartbeats stop coming back, and again once they flow', async () => {
    prefixes++
    const bus = await member()
    const reasons = resyncs(bus)
    server().pause()
    await vi.waitFor(() => expect(reasons).toEqual(['silence']), SETTLES)
    server().resume()
    await vi.waitFor(() => expect(reasons.slice(0, 2)).toEqual(['silence', 'silence']), SETTLES)
  })

  it('close() publishes a goodbye, then nothing: no heartbeat after it, and its connections end', async () => {
    prefixes++
    const bus = await member()
    const watcher = new Redis(server().url)
    try {
      const frames: Array<{ kind: number; publisher: number }> = []
      watcher.on('messageBuffer', (_channel: Buffer, bytes: Buffer) => {
        const frame = decodeFrame(bytes)
        if (frame?.publisher === bus.workerId) frames.push(frame)
      })
      await watcher.subscribe(`outage${prefixes}:bus`)
      await vi.waitFor(() => expect(frames.length).toBeGreaterThan(0), SETTLES) // heartbeats flow
      await bus.close()
      const after = frames.length
      expect(frames.at(-1)?.kind).toBe(FRAME_GOODBYE)
      // Ten heartbeat intervals: a ticker left running would have published by now.
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      expect(frames.length).toBe(after)
      await vi.waitFor(async () => expect(await clients()).toBe(2), SETTLES) // the watcher, and the client that asks
    } finally {
      watcher.disconnect()
    }
  })

  it('a process that closes its bus exits by itself: no timer, immediate or connection is left', async () => {
    prefixes++
    const script = `
      const { RedisBus } = await import('./src/bus/redis-bus.ts')
      const bus = new RedisBus({ url: process.argv[1], prefix: 'outage${prefixes}:', heartbeatInterval: 20 })
      bus.subscribe('s', 'e', () => new Promise(() => {})) // a handler that never finishes
      await bus.publish('all', 's', 'e')
      await bus.publish('all', 's', 'e')
      void bus.drain() // pending at close
      void bus.drain(60_000) // with a timeout to clear
      await new Promise((resolve) => setTimeout(resolve, 200)) // heartbeats flow
      await bus.close()
      process.stdout.write('closed')`
    const root = fileURLToPath(new URL('../..', import.meta.url))
    // The bound only detects a process kept alive; exiting takes well under a second.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, server().url], { cwd: root, timeout: 15_000 })
    expect(stdout).toBe('closed')
  }, 20_000)

  it('close() while Redis is down settles, and the closed bus never reconnects', async () => {
    prefixes++
    const bus = await member()
    await server().kill()
    await settles(bus.close())
    await expect(bus.publish('all', 's', 'e')).rejects.toThrow(/bus is closed/)
    await server().restart()
    // Past the longest reconnect backoff (1 s): a connection still retrying would be back by now.
    await new Promise((resolve) => setTimeout(resolve, 1_300))
    expect(await clients()).toBe(1) // the client that asks
  })
})
