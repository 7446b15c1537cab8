/**
 * A "host" for the relay tests: a child process with `threads` worker
 * threads (relay-thread.ts), each with an MLCache over this process's
 * SharedDict. With `mode: 'relay'` they share one WorkerBus whose main end
 * relays to one RedisBus; with `mode: 'per-thread'` each thread has a
 * RedisBus of its own. The bus connections are named `connectionName`.
 * Driven by the parent over IPC (test/helpers/relay-hosts.ts): each
 * `{ id, op, thread?, ... }` is run by worker `thread` (or by the host when
 * `thread` is absent) and answered `{ id, result }` or `{ id, error }`.
 */
import { Redis } from 'ioredis'
import { RedisBus } from '../../../src/bus/redis-bus.js'
import { SharedDict, WorkerBus } from '../../../src/index.js'
import { BenchWorker } from '../../../bench/workers/threads.js'
import type { RelayThreadData } from './relay-thread.js'

/** What the parent passes in `MLCACHE_CHILD` (JSON). */
export interface RelayHostConfig {
  url: string
  prefix: string
  threads: number
  mode: RelayThreadData['mode']
  connectionName: string
}

/** The requests the host itself answers (without `thread`). */
export type RelayHostRequest = { op: 'main-counts' } | { op: 'close' }

const ENTRY = new URL('./relay-thread.ts', import.meta.url)
const config = JSON.parse(process.env.MLCACHE_CHILD ?? '{}') as RelayHostConfig
const dict = SharedDict.create({ size: '4m' })
const client = config.mode === 'relay' ? new Redis(config.url, { connectionName: config.connectionName }) : undefined
const upstream = client === undefined ? undefined : new RedisBus({ client, prefix: config.prefix, heartbeatInterval: 200 })
const bus = WorkerBus.create(upstream === undefined ? {} : { upstream })
const mainCounts: Record<string, number> = {}
bus.subscribe('*', '*', (_data, event, source) => {
  mainCounts[`${source}:${event}`] = (mainCounts[`${source}:${event}`] ?? 0) + 1
})

const data: RelayThreadData = { mode: config.mode, dictHandle: dict.handle, busHandle: bus.handle, url: config.url, prefix: config.prefix, connectionName: config.connectionName }
const workers = await Promise.all(Array.from({ length: config.threads }, () => BenchWorker.start(ENTRY, { ...data })))

async function handle(request: { op: string; thread?: number } & Record<string, unknown>): Promise<unknown> {
  if (request.thread !== undefined) {
    const { thread, op, id: _id, ...args } = request
    const worker = workers[thread]
    if (worker === undefined) throw new Error(`no thread ${thread}`)
    return worker.call(op, args)
  }
  switch (request.op) {
    case 'main-counts':
      return mainCounts
    case 'close':
      await Promise.all(workers.map((worker) => worker.close()))
      await bus.close()
      await upstream?.close()
      client?.disconnect()
      return undefined
    default:
      throw new Error(`unknown op ${request.op}`)
  }
}

process.on('message', (message: { id: number; op: string; thread?: number }) => {
  handle(message).then(
    (result) => process.send?.({ id: message.id, result }),
    (error: unknown) => process.send?.({ id: message.id, error: { name: (error as Error).name, code: undefined, message: String((error as Error).message) } }),
  )
})
// Subscribed before the parent drives it: a RedisBus does not see what was published before its first subscription.
await upstream?.drain()
process.send?.({ ready: true, workerId: upstream?.workerId ?? -1 })
