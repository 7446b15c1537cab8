/**
 * One upstream connection per process: real child processes ("hosts"), each
 * with worker threads whose MLCaches share the host's SharedDict and one
 * WorkerBus relaying to one RedisBus (children/relay-host.ts), on a real
 * redis-server. Counts connections, deliveries and loads; nothing depends
 * on timing (every check follows an `update()`, which drains through the
 * relay, or waits for the event it checks).
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CacheProcess, useCacheProcesses } from '../helpers/cache-processes.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'
import { settles, sleep } from '../helpers/ts-workers.js'
import type { RelayHostConfig, RelayHostRequest } from './children/relay-host.js'
import type { RelayThreadCommand } from './children/relay-thread.js'

const ENTRY = new URL('./children/relay-host.ts', import.meta.url)

type HostRequest = RelayHostRequest | (RelayThreadCommand & { thread: number })
type Host = CacheProcess<HostRequest>

interface Lookup {
  value: { key: string; loadedBy: number } | unknown
  hitLevel: number
}
interface Counts {
  counts: Record<string, number>
  testFrom: (number | undefined)[]
}

// Hosts start 3 to 16 worker threads each, every one loading the sources through tsx: slow on a busy machine.
describe.runIf(redisServerInstalled)('WorkerBus relaying to a RedisBus: one upstream per process', { timeout: 60_000 }, () => {
  const server = useRedisServer()
  const start = useCacheProcesses<RelayHostConfig, HostRequest>(ENTRY)
  let admin: Redis
  let run = 0
  beforeAll(() => {
    admin = new Redis(server().url)
  })
  afterAll(() => admin.disconnect())

  /** Hosts on one prefix of their own; the bus connections of host `i` are named `${name}-${i}`. */
  async function hosts(count: number, threads: number, mode: RelayHostConfig['mode'] = 'relay'): Promise<{ all: Host[]; names: string[] }> {
    const prefix = `relay${++run}:`
    const names = Array.from({ length: count }, (_, i) => `${prefix.slice(0, -1)}-${mode}-${i}`)
    const all = await Promise.all(names.map((connectionName) => start({ url: server().url, prefix, threads, mode, connectionName })))
    return { all, names }
  }

  /** Runs `op` in every thread of `host`, one after the other (in thread order). */
  async function inEachThread<T>(host: Host, threads: number, command: RelayThreadCommand): Promise<T[]> {
    const results: T[] = []
    for (let thread = 0; thread < threads; thread++) results.push(await host.call<T>({ ...command, thread }))
    return results
  }

  /** The connections named `name` in `CLIENT LIST`. */
  async function connectionsNamed(name: string): Promise<number> {
    const list = (await admin.call('CLIENT', 'LIST')) as string
    return list.split('\n').filter((line) => line.includes(` name=${name} `)).length
  }

  /** Lookups of `key` in every thread: each loads it once (or finds it in the host's SharedDict), then holds it in L1. */
  async function warm(host: Host, threads: number, key: string): Promise<void> {
    await inEachThread(host, threads, { op: 'lookup', key })
    const again = await inEachThread<Lookup>(host, threads, { op: 'lookup', key })
    expect(again.map((found) => found.hitLevel)).toEqual(Array(threads).fill(1))
  }

  it('8 worker threads of a process use the 2 connections of one RedisBus through the relaying WorkerBus, where a RedisBus per thread takes 16', async () => {
    const [
      {
        all: [relaying],
        names: [relayName],
      },
      {
        all: [perThread],
        names: [perThreadName],
      },
    ] = await Promise.all([hosts(1, 8, 'relay'), hosts(1, 8, 'per-thread')])
    if (relaying === undefined || perThread === undefined || relayName === undefined || perThreadName === undefined) throw new Error('two hosts expected')
    // Every thread has published and drained: every connection it uses is open.
    await Promise.all(
      [relaying, perThread].flatMap((host) =>
        Array.from({ length: 8 }, async (_, thread) => {
          await host.call({ op: 'set', key: 'k', value: 1, thread })
          await host.call({ op: 'update', thread })
        }),
      ),
    )
    expect(await connectionsNamed(relayName)).toBe(2)
    expect(await connectionsNamed(perThreadName)).toBe(16)
  })

  it('delete(), set() and purge() in a thread of one host make every thread of another host load again after update(), each event delivered once per thread', async () => {
    const threads = 3
    const {
      all: [a, b],
    } = await hosts(2, threads)
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    const steps: { op: RelayThreadCommand; event: string }[] = [
      { op: { op: 'delete', key: 'k' }, event: 'mlcache:invalidate:users' },
      { op: { op: 'set', key: 'k', value: 'set on a' }, event: 'mlcache:invalidate:users' },
      { op: { op: 'purge' }, event: 'mlcache:purge:users' },
    ]
    for (const [round, step] of steps.entries()) {
      await warm(a, threads, 'k')
      await warm(b, threads, 'k')
      await a.call({ ...step.op, thread: 1 } as HostRequest)
      await inEachThread(b, threads, { op: 'update' })
      await inEachThread(a, threads, { op: 'update' })
      // Not its L1, not the stale copy of its SharedDict: the first thread of b loads, the others read what it loaded.
      const found = await inEachThread<Lookup>(b, threads, { op: 'lookup', key: 'k' })
      expect(found.map((lookup) => lookup.hitLevel)).toEqual([3, ...Array(threads - 1).fill(2)])
      expect(new Set(found.map((lookup) => JSON.stringify(lookup.value))).size).toBe(1)
      // Once per thread on both hosts (no echo through upstream), and once in each main end.
      for (const host of [a, b]) {
        const counts = await inEachThread<Counts>(host, threads, { op: 'counts' })
        const expected = steps.slice(0, round + 1).filter((s) => s.event === step.event).length
        expect(counts.map((c) => c.counts[step.event])).toEqual(Array(threads).fill(expected))
        expect((await host.call<Record<string, number>>({ op: 'main-counts' }))[step.event]).toBe(expected)
      }
    }
  })

  it("publish() in a worker thread reaches another process once through the main thread's upstream, and each thread of its own process once", async () => {
    const threads = 3
    const {
      all: [a, b],
    } = await hosts(2, threads)
    if (a === undefined || b === undefined) throw new Error('two hosts expected')
    const publisher = await a.call<{ workerId: number }>({ op: 'info', thread: 2 })
    await a.call({ op: 'publish', event: 'hello', data: 1, thread: 2 })
    await inEachThread(b, threads, { op: 'update' })
    await inEachThread(a, threads, { op: 'update' })
    for (const counts of await inEachThread<Counts>(b, threads, { op: 'counts' })) {
      expect(counts.counts['test:hello']).toBe(1)
      // Its publisher is no member of b's WorkerBus: no workerId (undefined, null once through IPC's JSON).
      expect(counts.testFrom.map((id) => id ?? 'none')).toEqual(['none'])
    }
    for (const counts of await inEachThread<Counts>(a, threads, { op: 'counts' })) {
      expect(counts.counts['test:hello']).toBe(1)
      expect(counts.testFrom).toEqual([publisher.workerId])
    }
  })

  it('an upstream resync (its subscriber connection killed) reaches every thread once and clears their L1 and the SharedDict copy', async () => {
    const threads = 3
    const {
      all: [host],
      names: [name],
    } = await hosts(1, threads)
    if (host === undefined || name === undefined) throw new Error('one host expected')
    await warm(host, threads, 'k')
    expect(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')).toBe(1)
    const resynced = async (): Promise<boolean> => {
      const counts = await inEachThread<Counts>(host, threads, { op: 'counts' })
      return counts.every((c) => (c.counts['bus:resync'] ?? 0) >= 1)
    }
    const waited = (async () => {
      while (!(await resynced())) await sleep(20)
    })()
    expect(await settles(waited)).toBe(true)
    const counts = await inEachThread<Counts>(host, threads, { op: 'counts' })
    expect(counts.map((c) => c.counts['bus:resync'])).toEqual(Array(threads).fill(1))
    const found = await inEachThread<Lookup>(host, threads, { op: 'lookup', key: 'k' })
    expect(found.map((lookup) => lookup.hitLevel)).toEqual([3, ...Array(threads - 1).fill(2)])
    expect(await connectionsNamed(name)).toBe(2) // the bus subscribed again
  })

  it("reach: every worker thread of a relaying WorkerBus reports its upstream's 'network'", async () => {
    const {
      all: [relaying],
    } = await hosts(1, 2, 'relay')
    if (relaying === undefined) throw new Error('one host expected')
    expect((await inEachThread<{ reach: string }>(relaying, 2, { op: 'info' })).map((info) => info.reach)).toEqual(['network', 'network'])
    // A plain WorkerBus ('process') is checked in test/bus/worker-bus-relay.test.ts.
  })
})
