/**
 * Drives scripted worker threads from tests: each worker runs a TypeScript
 * entry (booted through ts-worker.mjs), says `{ ready: true }`, then answers
 * every `{ id, op, ... }` command with `{ id, result }` or `{ id, error }`.
 * Workers are terminated when the test finishes.
 */
import { Worker } from 'node:worker_threads'
import { onTestFinished } from 'vitest'

const BOOT = new URL('../../src/internal/ts-worker.mjs', import.meta.url)

interface Reply {
  id?: number
  ready?: boolean
  result?: unknown
  error?: string
}

export class ScriptedWorker {
  readonly worker: Worker
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()

  private constructor(worker: Worker) {
    this.worker = worker
    worker.on('message', (reply: Reply) => {
      if (reply.id === undefined) return
      const pending = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      if (reply.error !== undefined) pending?.reject(new Error(reply.error))
      else pending?.resolve(reply.result)
    })
    worker.on('exit', () => {
      for (const { reject } of this.#pending.values()) reject(new Error('worker exited'))
      this.#pending.clear()
    })
  }

  /** Starts a worker on `entry` with `data` and waits until it is ready. */
  static async start(entry: URL, data: Record<string, unknown>): Promise<ScriptedWorker> {
    const worker = new Worker(BOOT, { workerData: { entry: entry.href, ...data } })
    onTestFinished(() => worker.terminate().then(() => undefined))
    await new Promise<void>((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        if (reply.ready === true) {
          worker.off('message', onMessage)
          worker.off('error', reject)
          resolve()
        }
      }
      worker.on('message', onMessage)
      worker.once('error', reject)
    })
    return new ScriptedWorker(worker)
  }

  /** Runs one command in the worker and resolves with its result. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.#nextId
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.worker.postMessage({ id, op, ...args })
    })
  }

  /** Terminates the worker as a crash would (no cleanup runs in it). */
  async terminate(): Promise<void> {
    await this.worker.terminate()
  }
}
