/**
 * Worker threads running TypeScript entry files (through `ts-worker.mjs`),
 * for tests: every worker started during a test is terminated after it.
 */
import { Worker } from 'node:worker_threads'
import { afterEach } from 'vitest'

const BOOT = new URL('../../src/internal/ts-worker.mjs', import.meta.url)
const RELAY = new URL('./unsupervised-relay.mjs', import.meta.url)

/** A worker started by {@link TsWorkers.spawnUnsupervised}. */
export interface UnsupervisedWorker {
  /** The relay thread: the worker's messages come through it, both ways. */
  readonly relay: Worker
  /** The worker's own thread id. */
  readonly threadId: number
  /** Resolves with the worker's exit code. */
  readonly exited: Promise<number>
  /** Terminates the worker (the relay stays) and resolves once it has exited. */
  terminate(): Promise<void>
}

/** What {@link useTsWorkers} returns. */
export interface TsWorkers {
  /**
   * Starts a worker on the TypeScript file `entry` with `data` as its
   * `workerData` (plus `entry`). It is terminated after the test if it is
   * still running.
   */
  spawn(entry: URL, data?: Record<string, unknown>): Worker
  /**
   * Starts a worker on `entry` through a relay thread that never loads
   * mlcache, so that nothing supervises it: when it dies, nobody reaps it.
   * Its messages come through `relay` (`nextMessage(relay)`), `exited`
   * resolves with its exit code, and `terminate()` kills it (not the relay,
   * whose own exit would be reaped), resolving once it has exited.
   */
  spawnUnsupervised(entry: URL, data?: Record<string, unknown>): Promise<UnsupervisedWorker>
}

/**
 * Registers an `afterEach` (call it at the top level of a test file) that
 * terminates every worker spawned during the test. Tests should still end
 * their workers themselves before checking shared state.
 */
export function useTsWorkers(): TsWorkers {
  const workers: Worker[] = []
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.terminate()))
  })
  return {
    spawn(entry, data = {}) {
      const worker = new Worker(BOOT, { workerData: { ...data, entry: entry.href } })
      workers.push(worker)
      return worker
    },
    async spawnUnsupervised(entry, data = {}) {
      const relay = new Worker(RELAY, { workerData: { boot: BOOT.href, data: { ...data, entry: entry.href } } })
      workers.push(relay)
      const { relayed } = await nextMessage<{ relayed: number }>(relay)
      const exited = new Promise<number>((resolve) => {
        const onMessage = (message: { relayExit?: number }): void => {
          if (message?.relayExit === undefined) return
          relay.off('message', onMessage)
          resolve(message.relayExit)
        }
        relay.on('message', onMessage)
      })
      return {
        relay,
        threadId: relayed,
        exited,
        async terminate() {
          relay.postMessage({ relayTerminate: true })
          await exited
        },
      }
    },
  }
}

/**
 * The next message `worker` posts. Rejects if the worker dies without
 * posting one (with the uncaught error that killed it, if any), so a broken
 * worker fails the test instead of hanging it. A message posted just before
 * the worker died may arrive after its `'error'` event (another port) but
 * always before its `'exit'` event (Node drains the ports first): waiting
 * for `'exit'` makes the answer independent of that order.
 */
export function nextMessage<T>(worker: Worker): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let fatal: Error | undefined
    const onMessage = (message: T): void => {
      cleanup()
      resolve(message)
    }
    const onError = (error: Error): void => {
      fatal ??= error
    }
    const onExit = (code: number): void => {
      cleanup()
      reject(fatal ?? new Error(`the worker exited with code ${code} before answering`))
    }
    function cleanup(): void {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit)
    }
    worker.on('message', onMessage).on('error', onError).on('exit', onExit)
  })
}

/** Resolves after `ms` milliseconds. */
export { setTimeout as sleep } from 'node:timers/promises'

/**
 * Races `promise` against a generous guard and answers whether it settled
 * first: a hang fails an assertion instead of the test timing out. Asserts
 * nothing about time.
 */
export async function settles(promise: Promise<unknown>, guardMs = 10_000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), guardMs)
  })
  try {
    return await Promise.race([promise.then(() => true), guard])
  } finally {
    clearTimeout(timer)
  }
}
