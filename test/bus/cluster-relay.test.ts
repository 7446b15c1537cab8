/**
 * A WorkerBus relaying to a ClusterBus: a real node:cluster application
 * (cluster/cluster-relay-process.ts) whose worker processes each hold one
 * ClusterBus member shared by their worker threads. No assertion depends on
 * timing: every check follows a drain, which covers upstream.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import type { ClusterRelayCommand, ClusterRelayConfig } from './cluster/cluster-relay-process.js'
import type { Received } from './workers/bus-worker.js'

const ENTRY = new URL('./cluster/cluster-relay-process.ts', import.meta.url)

const started: ChildProcess[] = []
afterEach(async () => {
  for (const child of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue
    const exited = new Promise((resolve) => child.once('exit', resolve))
    process.kill(-(child.pid as number), 'SIGKILL') // its own process group: its workers too
    await exited
  }
})

/** Starts the application; answers its worker processes' ids and a command sender. */
async function startApp(config: ClusterRelayConfig) {
  const child = fork(ENTRY, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, MLCACHE_CLUSTER_RELAY: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true })
  started.push(child)
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  let nextId = 0
  const processes = await new Promise<number[]>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the application exited before it was ready (${code})`)))
    child.on('message', (message: { ready?: boolean; processes?: number[]; id?: number; result?: unknown; error?: string }) => {
      if (message.ready === true) return resolve(message.processes ?? [])
      const call = pending.get(message.id ?? -1)
      pending.delete(message.id ?? -1)
      if (message.error !== undefined) call?.reject(new Error(message.error))
      else call?.resolve(message.result)
    })
  })
  const call = <T>(command: ClusterRelayCommand): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++nextId
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      child.send({ ...command, id })
    })
  return { processes, call }
}

describe('WorkerBus relaying to a ClusterBus', () => {
  it("publish() in a worker thread reaches every thread of another cluster process once through its main thread's ClusterBus member, and every thread of its own once", async () => {
    const threads = 2
    const {
      processes: [p1, p2],
      call,
    } = await startApp({ processes: 2, threads })
    if (p1 === undefined || p2 === undefined) throw new Error('two worker processes expected')
    const { workerId, reach } = await call<{ workerId: number; reach: string }>({ on: p1, thread: 0, op: 'info' })
    expect(reach).toBe('host')
    expect(await call({ on: p1, thread: 0, op: 'publish', source: 'test', event: 'e', data: 'from p1' })).toEqual([{ ok: true }])
    const test = (received: Received[]) => received.filter((r) => r.source === 'test').map((r) => [r.data, r.workerId ?? 'none'])
    for (let thread = 0; thread < threads; thread++) {
      expect(test(await call<Received[]>({ on: p2, thread, op: 'drain' }))).toEqual([['from p1', 'none']])
      expect(test(await call<Received[]>({ on: p1, thread, op: 'drain' }))).toEqual([['from p1', workerId]])
    }
  })
})
