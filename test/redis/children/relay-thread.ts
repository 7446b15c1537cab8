/**
 * A worker thread of a relay host (relay-host.ts): one MLCache `users` over
 * the host's SharedDict and either the host's relaying WorkerBus (`mode:
 * 'relay'`) or a RedisBus of its own (`mode: 'per-thread'`, what relaying
 * saves). It counts every event its bus delivers and answers the host's
 * commands (the protocol of `test/helpers/worker-commands.ts`).
 */
import { threadId, workerData } from 'node:worker_threads'
import { Redis } from 'ioredis'
import { RedisBus } from '../../../src/bus/redis-bus.js'
import { MLCache, SharedDict, WorkerBus } from '../../../src/index.js'
import type { EventBus, SharedDictHandle, WorkerBusHandle } from '../../../src/index.js'
import { answerCommands } from '../../helpers/worker-commands.js'

/** What the host passes in `workerData`. */
export interface RelayThreadData {
  mode: 'relay' | 'per-thread'
  dictHandle: SharedDictHandle
  busHandle: WorkerBusHandle
  url: string
  prefix: string
  /** The Redis client name of the bus's connections (so tests can count them). */
  connectionName: string
}

/** The commands of a relay thread. */
export type RelayThreadCommand =
  | { op: 'lookup'; key: string }
  | { op: 'set'; key: string; value: unknown }
  | { op: 'delete'; key: string }
  | { op: 'purge' }
  | { op: 'update' }
  | { op: 'publish'; event: string; data?: unknown }
  | { op: 'counts' }
  | { op: 'info' }
  | { op: 'close' }

const { mode, dictHandle, busHandle, url, prefix, connectionName } = workerData as RelayThreadData
const dict = SharedDict.attach(dictHandle)
const client = mode === 'per-thread' ? new Redis(url, { connectionName }) : undefined
const bus: EventBus = client === undefined ? WorkerBus.attach(busHandle) : new RedisBus({ client, prefix, heartbeatInterval: 200 })
const cache = new MLCache<unknown>('users', { store: dict, bus })

/** Deliveries per `source:event`, and the publishers of the `test` events. */
const counts: Record<string, number> = {}
const testFrom: (number | undefined)[] = []
bus.subscribe('*', '*', (data, event, source, workerId) => {
  counts[`${source}:${event}`] = (counts[`${source}:${event}`] ?? 0) + 1
  if (source === 'test') testFrom.push(workerId)
})

let loads = 0

async function run(command: { id: number } & RelayThreadCommand): Promise<unknown> {
  switch (command.op) {
    case 'lookup': {
      const found = await cache.lookup(command.key, (key) => ({ key, loadedBy: threadId, load: ++loads }))
      return { value: found.value, hitLevel: found.hitLevel }
    }
    case 'set':
      return cache.set(command.key, command.value)
    case 'delete':
      return cache.delete(command.key)
    case 'purge':
      return cache.purge()
    case 'update':
      return cache.update()
    case 'publish':
      return bus.publish('all', 'test', command.event, command.data)
    case 'counts':
      return { counts, testFrom }
    case 'info':
      return { workerId: bus.workerId, reach: bus.reach, threadId }
    case 'close':
      await cache.close()
      await bus.close()
      client?.disconnect()
      return undefined
  }
}

answerCommands(run)
