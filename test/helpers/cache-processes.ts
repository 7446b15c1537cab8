/**
 * Child processes each running one MLCache over RedisStore and RedisBus
 * (test/redis/children/cache-process.ts), for the tests across processes:
 * every process started during a test is killed after it.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { afterEach } from 'vitest'
import type { CacheProcessConfig, CacheProcessRequest } from '../redis/children/cache-process.js'

const ENTRY = new URL('../redis/children/cache-process.ts', import.meta.url)

/** A failure the child reported. */
export interface ChildError {
  name: string
  code: string | undefined
  message: string
}

/** One child process and its cache. */
export interface CacheProcess<Request = CacheProcessRequest> {
  readonly child: ChildProcess
  /** The child's RedisBus `workerId`. */
  readonly workerId: number
  /** Sends a request; resolves with its result, rejects with the child's {@link ChildError}. */
  call<T = unknown>(request: Request): Promise<T>
  /** Resolves with the next unsolicited message of the child (`{ loading }`, `{ handled }`). */
  nextEvent(): Promise<Record<string, unknown>>
  /** Sends `signal` (default SIGKILL) and resolves once the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
}

/**
 * Registers the cleanup; answers the function that starts a child and waits
 * until its cache is ready. `entry` is another child script speaking the
 * same protocol (its config in `MLCACHE_CHILD`, `{ ready, workerId }` first).
 */
export function useCacheProcesses<Config = CacheProcessConfig, Request = CacheProcessRequest>(entry: URL = ENTRY): (config: Config) => Promise<CacheProcess<Request>> {
  const started: ChildProcess[] = []
  afterEach(async () => {
    await Promise.all(started.splice(0).map((child) => exit(child, 'SIGKILL')))
  })
  return async (config) => {
    const child = fork(entry, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, MLCACHE_CHILD: JSON.stringify(config) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    started.push(child)
    const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>()
    const events: Record<string, unknown>[] = []
    const eventWaiters: ((event: Record<string, unknown>) => void)[] = []
    let nextId = 0
    const ready = new Promise<number>((resolve, reject) => {
      child.once('exit', (code, signal) => reject(new Error(`the cache process exited before it was ready (${signal ?? code})`)))
      child.on('message', (message: Record<string, unknown>) => {
        if (message.ready === true) resolve(message.workerId as number)
        else if (typeof message.id === 'number') {
          const call = pending.get(message.id)
          pending.delete(message.id)
          if (message.error !== undefined) call?.reject(message.error)
          else call?.resolve(message.result)
        } else {
          const waiter = eventWaiters.shift()
          if (waiter === undefined) events.push(message)
          else waiter(message)
        }
      })
    })
    const workerId = await ready
    return {
      child,
      workerId,
      call<T>(request: Request) {
        const id = nextId++
        return new Promise<T>((resolve, reject) => {
          pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
          child.send({ id, ...request })
        })
      },
      nextEvent() {
        const event = events.shift()
        return event === undefined ? new Promise((resolve) => eventWaiters.push(resolve)) : Promise.resolve(event)
      },
      kill: (signal = 'SIGKILL') => exit(child, signal),
    }
  }
}

/** Signals `child` and resolves once it has exited (at once if it already has). */
function exit(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}
