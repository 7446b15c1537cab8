/**
 * A node:cluster application for cluster-bus.test.ts, run with tsx as a
 * child of the test. In the primary: `ClusterBus.create`, forks workers on
 * request (this same file) and relays the test's commands to the member
 * they name. In a worker: `ClusterBus.attach` and answers commands. Every
 * member records every delivery. Commands travel as the application's own
 * IPC messages on the channel the bus uses, so they also check that the bus
 * leaves them alone.
 */
import cluster, { type Worker } from 'node:cluster'
import { existsSync } from 'node:fs'
import { serialize } from 'node:v8'
import { ClusterBus, isClusterBusMessage } from '../../../src/bus/cluster-bus.js'
import type { EventBusTarget } from '../../../src/bus/event-bus.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../../src/mlcache.js'

/** The configuration the test passes in `MLCACHE_CLUSTER_TEST` (JSON). */
export interface ClusterTestConfig {
  serialization?: 'json' | 'advanced'
  /** Options of `ClusterBus.create`. */
  create?: { maxQueueLen?: number; maxPayloadLen?: number }
  /** Options of `ClusterBus.attach`. */
  attach?: { maxQueueLen?: number; maxPayloadLen?: number }
  /** The primary forks first and creates its bus on the `create` command (on 0). */
  deferCreate?: boolean
  /** Where the `cache` commands' MLCache (named 'routes', over a RedisStore and the member's bus) keeps L2. */
  redis?: { url: string; prefix: string }
  /** The `cache` commands' MLCache keeps L2 in a SharedDict of this process instead (Kong's per-host L2). */
  sharedDict?: boolean
}

/** A command of the test; `on` names the member (a workerId, 0 for the primary). */
export type ClusterCommand =
  | { cmd: 'spawn' }
  | { cmd: 'kill'; on: number; signal: NodeJS.Signals }
  /** `rich` adds values JSON cannot carry (a bigint, a Map) to `data`. */
  | { cmd: 'publish'; on: number; target: EventBusTarget; source: string; event: string; data?: unknown; rich?: boolean }
  | { cmd: 'burst'; on: number; count: number; event: string }
  | { cmd: 'events'; on: number }
  | { cmd: 'workers'; on: number }
  | { cmd: 'drain'; on: number }
  /** Subscribes a handler to source `slow` that takes a few ms, then records `slow-done`. */
  | { cmd: 'slow'; on: number }
  | { cmd: 'close'; on: number }
  | { cmd: 'exit'; on: number; code: number }
  | { cmd: 'create'; on: number }
  /** The member's process id. */
  | { cmd: 'pid'; on: number }
  /** Blocks the member's event loop until file `flag` exists (answered before it blocks, then again after). */
  | { cmd: 'stall'; on: number; flag: string }
  /**
   * MLCache 'routes' of the member (made on first use, see `redis` and `sharedDict`): a lookup (`load`:
   * with a loader answering `loaded <n> by <pid>`), a set, a delete of `entry`, a purge, an update, the
   * loader calls made in this process (`loads`), a swap to `values`, or its page. (`entry`, not `key`: the
   * primary relays commands under a `key` of its own.)
   */
  | {
      cmd: 'cache'
      on: number
      op: 'lookup' | 'load' | 'set' | 'delete' | 'purge' | 'update' | 'loads' | 'swap' | 'page'
      entry?: string | undefined
      value?: unknown
      values?: Record<string, unknown>
    }

/** One delivery a member recorded. */
export interface Delivery {
  source: string
  event: string
  data: unknown
  workerId: number | undefined
}

type Answer = { id: number; result?: unknown; error?: { name: string; code?: string; message: string } }

const config = JSON.parse(process.env.MLCACHE_CLUSTER_TEST ?? '{}') as ClusterTestConfig
const deliveries: Delivery[] = []

/** The primary's `onError`: failures are recorded as deliveries of source `onError`. */
function recordError(error: unknown, names: { source: string; event: string }): void {
  deliveries.push({ source: 'onError', event: `${names.source}/${names.event}`, data: (error as Error).message, workerId: undefined })
}

function record(bus: ClusterBus): void {
  bus.subscribe('*', '*', (data, event, source, workerId) => void deliveries.push({ data, event, source, workerId }))
}

function failure(error: unknown): NonNullable<Answer['error']> {
  const { name, message, code } = error as { name: string; message: string; code?: string }
  return { name, message, ...(code === undefined ? {} : { code }) }
}

/** Runs a member command here; `reply` may be called twice (stall: before and after). */
async function runHere(bus: ClusterBus | undefined, command: ClusterCommand, reply: (result: unknown) => void): Promise<unknown> {
  if (command.cmd === 'create') {
    if (bus === undefined) return null // the primary creates it (deferCreate)
    ClusterBus.create()
    return null
  }
  if (bus === undefined) throw new Error('no bus yet')
  switch (command.cmd) {
    case 'cache':
      return cacheCommand(await cacheOf(bus), command)
    case 'publish':
      await bus.publish(command.target, command.source, command.event, command.rich === true ? { ...(command.data as object), rich: [1n, new Map([[1, 2]])] } : command.data)
      return null
    case 'burst':
      for (let i = 0; i < command.count; i++) await bus.publish('all', 'burst', command.event, i)
      return null
    case 'events':
      return serialize(deliveries).toString('base64') // the test's channel is JSON: keep bigints and Maps
    case 'workers':
      return bus.workers()
    case 'pid':
      return process.pid
    case 'drain':
      await bus.drain()
      return null
    case 'slow':
      bus.subscribe('slow', '*', async (data, event) => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        deliveries.push({ source: 'slow-done', event, data, workerId: undefined })
      })
      return null
    case 'close':
      await bus.close()
      return null
    case 'exit':
      setImmediate(() => process.exit(command.code))
      return null
    case 'stall': {
      reply('stalling')
      const sleeper = new Int32Array(new SharedArrayBuffer(4))
      while (!existsSync(command.flag)) Atomics.wait(sleeper, 0, 0, 10)
      return 'resumed'
    }
    default:
      throw new Error(`not a member command: ${command.cmd}`)
  }
}

let cache: Promise<MLCache> | undefined
/** Loader calls of the `load` commands in this process. */
let loads = 0

/** This member's MLCache over Redis (or a SharedDict of its own) and its bus, made on first use. */
function cacheOf(bus: ClusterBus): Promise<MLCache> {
  cache ??= (async () => {
    if (config.sharedDict === true) return new MLCache('routes', { store: SharedDict.create({ size: '4m' }), bus })
    if (config.redis === undefined) throw new Error('cache commands need config.redis or config.sharedDict')
    const { RedisStore } = await import('../../../src/l2/redis/redis-store.js')
    return new MLCache('routes', { store: new RedisStore(config.redis), bus })
  })()
  return cache
}

async function cacheCommand(routes: MLCache, command: Extract<ClusterCommand, { cmd: 'cache' }>): Promise<unknown> {
  switch (command.op) {
    case 'lookup':
    case 'load': {
      const loader = command.op === 'load' ? () => `loaded ${++loads} by ${process.pid}` : undefined
      const { value, hitLevel } = await routes.lookup(command.entry ?? '', loader)
      return { value: value ?? null, hitLevel, page: routes.page }
    }
    case 'set':
      await routes.set(command.entry ?? '', command.value)
      return null
    case 'delete':
      await routes.delete(command.entry ?? '')
      return null
    case 'purge':
      await routes.purge()
      return null
    case 'update':
      await routes.update()
      return null
    case 'loads':
      return loads
    case 'swap':
      await routes.swap((page) => {
        for (const [key, value] of Object.entries(command.values ?? {})) void page.set(key, value)
      })
      return routes.page
    case 'page':
      return routes.page
  }
}

async function answer(id: number, run: (reply: (result: unknown) => void) => Promise<unknown>, send: (answer: Answer) => void): Promise<void> {
  try {
    send({ id, result: await run((result) => send({ id, result })) })
  } catch (error) {
    send({ id, error: failure(error) })
  }
}

if (cluster.isPrimary) {
  if (config.serialization !== undefined) cluster.setupPrimary({ serialization: config.serialization })
  let bus: ClusterBus | undefined
  const create = (): void => {
    bus = ClusterBus.create({ ...config.create, onError: recordError })
    record(bus)
  }
  if (config.deferCreate !== true) create()
  const workers = new Map<number, Worker>()
  const pending = new Map<string, (answer: Answer) => void>()
  let relayed = 0

  const spawn = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const worker = cluster.fork({ MLCACHE_CLUSTER_TEST: JSON.stringify(config) })
      workers.set(worker.id, worker)
      worker.once('exit', (code, signal) => reject(new Error(`worker exited before it was ready (${signal ?? code})`)))
      worker.on('message', (message: { ready?: boolean; key?: string } & Answer) => {
        if (isClusterBusMessage(message)) return
        if (message.ready === true) resolve(worker.id)
        else if (message.key !== undefined) pending.get(message.key)?.(message)
      })
    })

  const relay = (command: ClusterCommand & { on: number }, send: (answer: Answer) => void, id: number): void => {
    const worker = workers.get(command.on)
    if (worker === undefined) return send({ id, error: { name: 'Error', message: `no worker ${command.on}` } })
    const key = `${++relayed}`
    pending.set(key, (reply) => send({ ...reply, id }))
    worker.send({ key, ...command })
  }

  const kill = (on: number, signal: NodeJS.Signals): Promise<unknown> =>
    new Promise((resolve) => {
      const worker = workers.get(on)
      if (worker === undefined || worker.isDead()) return resolve(null)
      worker.once('exit', (code, signal) => resolve({ code, signal }))
      worker.process.kill(signal)
    })

  process.on('message', (message: ClusterCommand & { id: number }) => {
    const send = (reply: Answer): void => void process.send?.(reply)
    const { id } = message
    if (message.cmd === 'spawn') return void answer(id, () => spawn(), send)
    if (message.cmd === 'kill') return void answer(id, () => kill(message.on, message.signal), send)
    if (message.cmd === 'create' && message.on === 0 && bus === undefined) return void answer(id, async () => create(), send)
    if (message.on === 0) return void answer(id, (reply) => runHere(bus, message, reply), send)
    relay(message, send, id)
  })
  process.send?.({ ready: true })
} else {
  const bus = ClusterBus.attach(config.attach)
  record(bus)
  process.on('message', (message: ClusterCommand & { key: string }) => {
    if (isClusterBusMessage(message)) return // the bus's own traffic: not for the application
    const send = (reply: Answer): void => void process.send?.({ key: message.key, ...reply })
    void answer(0, (reply) => runHere(bus, message, reply), send)
  })
  process.send?.({ ready: true })
}
