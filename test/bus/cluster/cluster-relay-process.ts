/**
 * A node:cluster application whose worker processes each share one
 * ClusterBus member among their worker threads: in each worker process a
 * WorkerBus relays to `ClusterBus.attach()` (`upstream`), and `threads`
 * scripted members (test/bus/workers/bus-worker.ts) attach to it. The
 * primary forks `processes` workers, then relays the test's commands
 * `{ id, on, thread, op, ... }` to thread `thread` of worker process `on`,
 * answering `{ id, result }` or `{ id, error }`.
 */
import cluster from 'node:cluster'
import { ClusterBus, isClusterBusMessage } from '../../../src/bus/cluster-bus.js'
import { WorkerBus } from '../../../src/bus/worker-bus.js'
import { BenchWorker } from '../../../bench/workers/threads.js'

/** The configuration the test passes in `MLCACHE_CLUSTER_RELAY` (JSON). */
export interface ClusterRelayConfig {
  processes: number
  threads: number
}

/** A command for thread `thread` of worker process `on` (see bus-worker.ts for `op`). */
export type ClusterRelayCommand = { on: number; thread: number; op: string } & Record<string, unknown>

interface Answer {
  id: number
  result?: unknown
  error?: string
}

const config = JSON.parse(process.env.MLCACHE_CLUSTER_RELAY ?? '{}') as ClusterRelayConfig

if (cluster.isPrimary) {
  ClusterBus.create()
  const pending = new Map<number, (answer: Answer) => void>()
  const ids = await Promise.all(
    Array.from(
      { length: config.processes },
      () =>
        new Promise<number>((resolve, reject) => {
          const worker = cluster.fork()
          worker.once('exit', (code) => reject(new Error(`worker process exited (${code})`)))
          worker.on('message', (message: { ready?: boolean } & Answer) => {
            if (isClusterBusMessage(message)) return
            if (message.ready === true) resolve(worker.id)
            else pending.get(message.id)?.(message)
          })
        }),
    ),
  )
  process.on('message', (command: ClusterRelayCommand & { id: number }) => {
    const worker = cluster.workers?.[command.on]
    if (worker === undefined) return process.send?.({ id: command.id, error: `no worker process ${command.on}` })
    pending.set(command.id, (answer) => {
      pending.delete(command.id)
      process.send?.(answer)
    })
    worker.send(command)
  })
  process.send?.({ ready: true, processes: ids })
} else {
  const upstream = ClusterBus.attach()
  await upstream.drain() // welcomed by the broker before the test publishes
  const bus = WorkerBus.create({ upstream })
  const threads = await Promise.all(
    Array.from({ length: config.threads }, () => BenchWorker.start(new URL('../workers/bus-worker.ts', import.meta.url), { handle: bus.handle })),
  )
  process.on('message', (message: ClusterRelayCommand & { id: number }) => {
    if (isClusterBusMessage(message)) return
    const { id, on: _on, thread, op, ...args } = message
    const worker = threads[thread]
    if (worker === undefined) return process.send?.({ id, error: `no thread ${thread}` })
    worker.call(op, args).then(
      (result) => process.send?.({ id, result }),
      (error: unknown) => process.send?.({ id, error: String(error) }),
    )
  })
  process.send?.({ ready: true })
}
