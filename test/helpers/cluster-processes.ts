/**
 * A node:cluster application in a child process (test/bus/cluster/cluster-process.ts),
 * driven over the child's IPC channel: every application started during a
 * test is killed after it, its workers with it.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { deserialize } from 'node:v8'
import { afterEach } from 'vitest'
import type { ClusterCommand, ClusterTestConfig, Delivery } from '../bus/cluster/cluster-process.js'

const ENTRY = new URL('../bus/cluster/cluster-process.ts', import.meta.url)

/** A failure a member reported. */
export interface MemberError {
  name: string
  code?: string
  message: string
}

/** Answers of one command, in order (a stall answers twice). */
type Replies = (answer: { result?: unknown; error?: MemberError }) => void

/** One running cluster application. */
export interface ClusterApp {
  readonly child: ChildProcess
  /** Sends a command; resolves with its (first) result, rejects with the member's {@link MemberError}. */
  call<T = unknown>(command: ClusterCommand): Promise<T>
  /** Forks a worker that attaches; resolves with its workerId once attached. */
  spawn(): Promise<number>
  /** The deliveries member `on` recorded, in order. */
  events(on: number): Promise<Delivery[]>
  /** Blocks member `on`'s event loop until `release` is called; resolves once it is blocked. */
  stall(on: number): Promise<{ release(): Promise<void> }>
}

/** Registers the cleanup; answers the function that starts an application and waits until its primary's bus is open. */
export function useClusterApps(): (config?: ClusterTestConfig) => Promise<ClusterApp> {
  const started: ChildProcess[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => killGroup(child)))
  })
  return async (config = {}) => {
    const child = fork(ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, MLCACHE_CLUSTER_TEST: JSON.stringify(config) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true, // its own process group: the cleanup kills its workers too
    })
    started.push(child)
    const replies = new Map<number, Replies>()
    let nextId = 0
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`the cluster primary exited before it was ready (${signal ?? code})`)))
      child.on('message', (message: { ready?: boolean; id?: number; result?: unknown; error?: MemberError }) => {
        if (message.ready === true) resolve()
        else if (message.id !== undefined) replies.get(message.id)?.(message)
      })
    })
    const stream = (command: ClusterCommand, onReply: Replies): void => {
      const id = nextId++
      replies.set(id, onReply)
      child.send({ id, ...command })
    }
    const call = <T>(command: ClusterCommand): Promise<T> =>
      new Promise<T>((resolve, reject) => {
        stream(command, (answer) => (answer.error === undefined ? resolve(answer.result as T) : reject(answer.error)))
      })
    return {
      child,
      call,
      spawn: () => call<number>({ cmd: 'spawn' }),
      events: async (on) => deserialize(Buffer.from(await call<string>({ cmd: 'events', on }), 'base64')) as Delivery[],
      async stall(on) {
        const { mkdtempSync, writeFileSync } = await import('node:fs')
        const { tmpdir } = await import('node:os')
        const { join } = await import('node:path')
        const flag = join(mkdtempSync(join(tmpdir(), 'mlcache-stall-')), 'release')
        let resumed: Promise<void> = Promise.resolve()
        await new Promise<void>((stalling, reject) => {
          let replies = 0
          resumed = new Promise<void>((resume) => {
            stream({ cmd: 'stall', on, flag }, (answer) => {
              if (answer.error !== undefined) reject(answer.error)
              else if (++replies === 1) stalling()
              else resume()
            })
          })
        })
        return {
          release() {
            writeFileSync(flag, '')
            return resumed
          },
        }
      },
    }
  }
}

/** Kills the primary's process group (the primary and its workers) and waits for the primary. */
async function killGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      process.kill(-child.pid!, 'SIGKILL')
    } catch {
      child.kill('SIGKILL')
    }
    await exited
  }
}
