/**
 * Stampede across processes over Redis: 4 child processes each fire 250
 * concurrent gets of one cold key with a 50 ms loader, released at one
 * agreed instant. Each process has its own cache of each library over the
 * same redis-server, as the processes of a deployment would: MLCache over
 * RedisStore (whose loader lock lives in Redis and so spans the processes),
 * bentocache (memory L1 + Redis L2) and cache-manager (an LRU + Redis
 * through Keyv), whose locks are per process. Loaders count their calls
 * with `INCR` on a Redis key; the scenario reports the calls of all
 * processes together and the wall time from the start instant to the last
 * settled get, medians over rounds, a fresh key each round. Without
 * `redis-server` on PATH the scenario is skipped with a notice.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Redis } from 'ioredis'
import { median, scaled } from '../harness.js'
import { startBenchRedis } from '../redis-readers.js'
import type { RedisServer } from '../redis-server.js'
import type { Report } from '../report.js'
import type { ChildResult, FromChild, ToChild } from '../workers/redis-stampede.js'

export const LIBRARIES = ['mlcache', 'bentocache', 'cache-manager'] as const
export type Library = (typeof LIBRARIES)[number]

const ENTRY = fileURLToPath(new URL('../workers/redis-stampede.ts', import.meta.url))
/** tsx's loader, by absolute URL: the children load TypeScript whatever their working directory and however this process was started. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const PROCESSES = 4
const GETS = 250
const LOADER_MS = 50
const ROUNDS = scaled(5, 1)
/**
 * How far after `go` is sent the gets start: time for the message to reach
 * every child on a busy machine, so that they start together rather than
 * in the order the messages arrive (a late child reports how late it was).
 */
const START_LEAD_MS = 30
/** How long a child may take to load and connect. */
const START_TIMEOUT_MS = 60_000
/** How long a child may take to answer one command. */
const REPLY_TIMEOUT_MS = 30_000
/** How long a child may take to close before it is killed. */
const CLOSE_TIMEOUT_MS = 5_000

/** Milliseconds since the epoch with sub-millisecond precision, comparable across the processes of one machine. */
export function epochNow(): number {
  return performance.timeOrigin + performance.now()
}

/** The parent's side of one child process: one command at a time, each answered by one message. */
class Child {
  readonly #process: ChildProcess
  #waiting: { op: FromChild['op']; resolve: (message: FromChild) => void; reject: (error: Error) => void } | undefined
  /** Why the child is gone, once it has exited. */
  #gone: Error | undefined
  /** Settles when the child said `ready` (or died first). */
  readonly ready: Promise<unknown>

  constructor(url: string) {
    this.#process = fork(ENTRY, [url], { execArgv: ['--import', TSX], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.#process.on('message', (message: FromChild) => {
      const waiting = this.#waiting
      this.#waiting = undefined
      if (message.op === 'error') waiting?.reject(new Error(`child ${this.#process.pid}: ${message.message}`))
      else if (message.op === waiting?.op) waiting.resolve(message)
      else waiting?.reject(new Error(`child ${this.#process.pid} answered ${message.op}, not ${waiting?.op}`))
    })
    this.#process.on('error', (error) => this.#fail(error))
    this.#process.on('exit', (code, signal) => this.#fail(new Error(`child ${this.#process.pid} exited (${signal ?? `exit code ${code}`})`)))
    this.ready = this.#expect('ready', START_TIMEOUT_MS)
  }

  get running(): boolean {
    return this.#process.exitCode === null && this.#process.signalCode === null
  }

  /** Fires the child's gets at `command.at`; resolves when they settled. */
  async go(command: Extract<ToChild, { op: 'go' }>): Promise<ChildResult> {
    const reply = this.#expect('done', REPLY_TIMEOUT_MS)
    this.#process.send(command)
    return ((await reply) as Extract<FromChild, { op: 'done' }>).result
  }

  /** Asks the child to close its caches and exit; kills it if it does not within 5 s, or at once if asking fails. */
  async close(): Promise<void> {
    if (!this.running) return
    const exited = new Promise<void>((resolve) => this.#process.once('exit', () => resolve()))
    try {
      this.#process.send({ op: 'close' } satisfies ToChild)
      const timer = setTimeout(() => this.kill(), CLOSE_TIMEOUT_MS)
      await exited
      clearTimeout(timer)
    } finally {
      this.kill()
    }
  }

  /** SIGKILL, if it still runs. */
  kill(): void {
    if (this.running) this.#process.kill('SIGKILL')
  }

  #expect(op: FromChild['op'], timeout: number): Promise<FromChild> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined
        reject(new Error(`child ${this.#process.pid} did not answer ${op} within ${timeout} ms`))
      }, timeout)
      const settle = () => clearTimeout(timer)
      this.#waiting = {
        op,
        resolve: (message) => {
          settle()
          resolve(message)
        },
        reject: (error) => {
          settle()
          reject(error)
        },
      }
    })
  }

  #fail(error: Error): void {
    this.#gone ??= error
    const waiting = this.#waiting
    this.#waiting = undefined
    waiting?.reject(error)
  }
}

interface Run {
  loaderCalls: number
  wallMs: number
  /** The latest any child fired its gets after the start instant. */
  lateMs: number
}

/** `3`, or `1-2` when the rounds disagree. */
function span(values: readonly number[]): string {
  const min = Math.min(...values)
  const max = Math.max(...values)
  return min === max ? String(min) : `${min}-${max}`
}

export async function redisStampede(report: Report): Promise<void> {
  const title = `Stampede across processes over Redis: ${PROCESSES} processes x ${GETS} concurrent gets of one cold key, ${LOADER_MS} ms loader`
  report.heading(title)
  let redis: RedisServer | undefined
  let client: Redis | undefined
  const children: Child[] = []
  try {
    redis = await startBenchRedis(report)
    if (redis === undefined) return
    const url = redis.url
    client = new Redis(url)
    for (let i = 0; i < PROCESSES; i++) children.push(new Child(url))
    await Promise.all(children.map((child) => child.ready))

    let sequence = 0
    const run = async (library: Library): Promise<Run> => {
      const id = ++sequence
      const counter = `bench:stampede:loader-calls:${library}:${id}`
      const at = epochNow() + START_LEAD_MS
      const command = { op: 'go', library, key: `stampede:${library}:${id}`, counter, gets: GETS, loaderMs: LOADER_MS, at } as const
      const results = await Promise.all(children.map((child) => child.go(command)))
      const loaderCalls = Number((await client?.get(counter)) ?? 0)
      if (library === 'mlcache') {
        const counted = results.reduce((sum, result) => sum + result.mlcacheLoaderCalls, 0)
        if (counted !== loaderCalls) throw new Error(`mlcache stats.loaderCalls say ${counted}, the loaders counted ${loaderCalls}`)
      }
      return {
        loaderCalls,
        wallMs: Math.max(...results.map((result) => result.settledAt)) - at,
        lateMs: Math.max(...results.map((result) => result.lateMs)),
      }
    }

    // One unmeasured round of every library warms the code paths and the connections up.
    for (const library of LIBRARIES) await run(library)
    const runs = new Map<Library, Run[]>(LIBRARIES.map((library) => [library, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const library of LIBRARIES) runs.get(library)?.push(await run(library))
    }
    const rows: string[][] = []
    for (const library of LIBRARIES) {
      const measured = runs.get(library) ?? []
      const calls = measured.map((r) => r.loaderCalls)
      rows.push([library, String(PROCESSES), span(calls), median(measured.map((r) => r.wallMs)).toFixed(1)])
      if (library === 'mlcache') {
        report.check(title, `mlcache loader calls, ${PROCESSES} processes x ${GETS} gets of one key over Redis (worst round)`, Math.max(...calls), '', 'max', 1)
      }
    }
    // A child wakes on a timer at the start instant; on a busy machine it may wait a few ms for a core.
    const late = [...runs.values()].flat().map((r) => r.lateMs)
    report.table({
      title,
      header: ['library', 'processes', 'loader calls', 'wall ms'],
      rows,
      note:
        `loader calls: all processes together (an INCR on a Redis key), every round (a range when rounds differ); wall ms: from the start ` +
        `instant to the last settled get in any process, median of ${ROUNDS} rounds, a fresh key each round (the last process to start ` +
        `its gets did so ${median(late).toFixed(1)} ms after that instant, median of every round, worst ${Math.max(...late).toFixed(1)} ms); each process its own cache of each library over one redis-server ` +
        `${redis.version}: MLCache over RedisStore (get with the loader; its lock is in Redis), bentocache memory L1 + Redis L2 getOrSet, ` +
        `cache-manager LRU + Keyv Redis wrap.`,
    })
  } finally {
    // Every child goes, even if closing another failed; a child still running after that is killed.
    await Promise.allSettled(children.map((child) => child.close()))
    for (const child of children) child.kill()
    client?.disconnect()
    await redis?.stop()
  }
}
