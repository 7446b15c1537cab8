/**
 * The plumbing of the worker_threads scenarios (and of the tests' scripted
 * workers), for both sides: the main thread starts a {@link BenchWorker} on a
 * TypeScript entry (booted through
 * `ts-worker.mjs`) and calls its commands; the entry answers them with
 * {@link serve}. A {@link StartBarrier} releases every worker of a round at
 * the same moment.
 *
 * `performance.now()` is comparable across the threads of one process
 * (`performance.timeOrigin` is the process's), so workers answer raw
 * `performance.now()` readings and the main thread subtracts them.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

const BOOT = new URL('../../src/internal/ts-worker.mjs', import.meta.url)

/** A command to a worker: `op` names the handler, the other fields are its arguments. */
interface Command {
  id: number
  op: string
  [arg: string]: unknown
}

interface Reply {
  id?: number
  ready?: boolean
  result?: unknown
  error?: string
}

/** The main thread's side of one benchmark worker. */
export class BenchWorker {
  readonly worker: Worker
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  readonly #ready: Promise<void>
  /** Why the worker is gone, once it has exited. */
  #exited: Error | undefined

  private constructor(worker: Worker) {
    this.worker = worker
    let ready: { resolve: () => void; reject: (error: Error) => void } | undefined
    this.#ready = new Promise((resolve, reject) => {
      ready = { resolve, reject }
    })
    worker.on('message', (reply: Reply) => {
      if (reply.ready === true) ready?.resolve()
      if (reply.id === undefined) return
      const pending = this.#pending.get(reply.id)
      this.#pending.delete(reply.id)
      if (reply.error !== undefined) pending?.reject(new Error(reply.error))
      else pending?.resolve(reply.result)
    })
    // A reply posted just before the worker died may reach this thread after
    // its 'error' event (they travel on different ports), but always before
    // its 'exit' event: Node drains the ports first. So calls still waiting
    // fail on 'exit' only, with the error that killed the worker if any, and
    // a call that was answered resolves whatever the order of the events.
    let fatal: Error | undefined
    worker.on('error', (error) => {
      fatal ??= error
    })
    worker.on('exit', (code) => {
      const error = fatal ?? new Error(`worker exited with code ${code}`)
      this.#exited = error
      ready?.reject(error) // no effect once it was ready
      for (const { reject } of this.#pending.values()) reject(error)
      this.#pending.clear()
    })
  }

  /**
   * Starts a worker on `entry` with `data` (as `workerData`) and waits until
   * it is ready; rejects if the worker dies first, with the error that
   * killed it.
   */
  static async start(entry: URL, data: Record<string, unknown> = {}): Promise<BenchWorker> {
    const worker = new BenchWorker(new Worker(BOOT, { workerData: { entry: entry.href, ...data } }))
    await worker.#ready
    return worker
  }

  /** Runs one command in the worker; resolves with its result, rejects at once if the worker has exited. */
  call<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.#exited !== undefined) return Promise.reject(this.#exited)
    const id = ++this.#nextId
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      this.worker.postMessage({ ...args, id, op } satisfies Command)
    })
  }

  /** Runs the worker's `close` command (its own cleanup), then terminates it. */
  async close(): Promise<void> {
    try {
      await this.call('close')
    } finally {
      await this.terminate()
    }
  }

  /** Terminates the worker as a crash would (no cleanup runs in it). */
  async terminate(): Promise<void> {
    await this.worker.terminate()
  }
}

/**
 * Starts `count` workers on `entry`; `data(i)` is the `workerData` of worker
 * `i`. If one fails to start, the others are terminated before it rejects.
 */
export async function startWorkers(count: number, entry: URL, data: (index: number) => Record<string, unknown>): Promise<BenchWorker[]> {
  const outcomes = await Promise.allSettled(Array.from({ length: count }, (_, index) => BenchWorker.start(entry, data(index))))
  const started = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []))
  const failed = outcomes.find((outcome) => outcome.status === 'rejected')
  if (failed === undefined) return started
  await Promise.all(started.map((worker) => worker.worker.terminate()))
  throw (failed as PromiseRejectedResult).reason
}

/** Closes every worker, even when some fail to close. */
export async function closeWorkers(workers: readonly BenchWorker[]): Promise<void> {
  const outcomes = await Promise.allSettled(workers.map((worker) => worker.close()))
  const failed = outcomes.find((outcome) => outcome.status === 'rejected')
  if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
}

/** A handler of a worker command; `args` is the command without `id` and `op`. */
export type Handler = (args: Record<string, unknown>) => unknown

/**
 * The worker's side: answers every command with its handler's result (or
 * error) and tells the main thread it is ready. Commands run one at a time,
 * in arrival order. A `close` handler is expected.
 */
export function serve(handlers: Record<string, Handler>): void {
  if (isMainThread || parentPort === null) throw new Error('serve() runs in a worker thread')
  const port = parentPort
  let queue: Promise<unknown> = Promise.resolve()
  port.on('message', ({ id, op, ...args }: Command) => {
    queue = queue.then(async () => {
      try {
        const handler = handlers[op]
        if (handler === undefined) throw new Error(`unknown command ${op}`)
        port.postMessage({ id, result: await handler(args) } satisfies Reply)
      } catch (error) {
        port.postMessage({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies Reply)
      }
    })
  })
  port.postMessage({ ready: true } satisfies Reply)
}

/** The `workerData` of this worker (without the bootstrap's `entry`). */
export function data<T>(): T {
  return workerData as T
}

const GENERATION = 0
const ARRIVED = 1

/**
 * Releases the workers of a round together through a shared Int32Array:
 * each worker arrives and blocks (`Atomics.wait`, allowed off the main
 * thread) until the main thread bumps the generation once all have arrived.
 */
export class StartBarrier {
  readonly buffer: SharedArrayBuffer
  readonly #i32: Int32Array

  constructor(buffer = new SharedArrayBuffer(8)) {
    this.buffer = buffer
    this.#i32 = new Int32Array(buffer)
  }

  /** The generation the next {@link StartBarrier.release} starts: pass it to the workers' `arriveAndWait`. */
  get next(): number {
    return Atomics.load(this.#i32, GENERATION) + 1
  }

  /** Worker side: counts this worker in, then blocks until `generation` is released. */
  arriveAndWait(generation: number): void {
    Atomics.add(this.#i32, ARRIVED, 1)
    for (let seen = Atomics.load(this.#i32, GENERATION); seen < generation; seen = Atomics.load(this.#i32, GENERATION)) {
      Atomics.wait(this.#i32, GENERATION, seen)
    }
  }

  /**
   * Main side: waits (without blocking the event loop) until `parties`
   * workers have arrived, releases them and answers the release time
   * (`performance.now()`). Throws after `timeout` ms without them.
   */
  async release(parties: number, timeout = 30_000): Promise<number> {
    const deadline = performance.now() + timeout
    while (Atomics.load(this.#i32, ARRIVED) < parties) {
      if (performance.now() > deadline) throw new Error(`only ${Atomics.load(this.#i32, ARRIVED)} of ${parties} workers reached the barrier`)
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    Atomics.store(this.#i32, ARRIVED, 0)
    const releasedAt = performance.now()
    Atomics.add(this.#i32, GENERATION, 1)
    Atomics.notify(this.#i32, GENERATION)
    return releasedAt
  }
}
