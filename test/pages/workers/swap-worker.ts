/**
 * A scripted worker for the page swapping tests across worker_threads:
 * attaches to the SharedDict and the WorkerBus of the test, makes an MLCache
 * of the given name over them, and runs the commands the test posts,
 * answering each with `{ id, result }` or `{ id, error }` (the protocol of
 * `test/helpers/workers.ts`). Commands run concurrently, unlike the
 * benchmark's `serve()`: a swap whose `fill` waits for the test must not
 * keep the `release` that ends the wait from running.
 */
import { threadId, workerData } from 'node:worker_threads'
import { MLCache, MLCacheError, SharedDict, WorkerBus } from '../../../src/index.js'
import type { WorkerBusHandle } from '../../../src/index.js'
import { StallSignal } from '../../helpers/stall-signal.js'
import { answerCommands } from '../../helpers/worker-commands.js'

/** How a swap in this worker ended: the name and code of its error when it rejected. */
export type SwapOutcome = { outcome: 'resolved'; page: number } | { outcome: 'rejected'; name: string; code: string | undefined; message: string; page: number }

/** What a reader loop saw: snapshots and bulk reads, and how many of them mixed generations. */
export interface ReadReport {
  /** Snapshots taken and read through. */
  snapshots: number
  /** `getBulk` calls on the cache itself. */
  bulks: number
  /** Reads (snapshot or bulk) whose keys answered two different generations. */
  mixed: number
  /** Reads with a key that had to be loaded (its page's entries were gone). */
  missing: number
  /** Snapshot reads that rejected with `PageRetiredError`. */
  retired: number
  /** Every generation seen, sorted. */
  generations: number[]
  /** Pages the snapshots were pinned to, sorted. */
  pages: number[]
}

/** What the readers' loader answers: no generation is negative. */
const SENTINEL = -1

interface Command {
  id: number
  op: 'lookup' | 'lookupAll' | 'page' | 'warmup' | 'swap' | 'filling' | 'release' | 'read' | 'stall' | 'threadId' | 'close'
  key?: string
  /** swap, lookupAll, read: keys `k0` .. `k{count - 1}`. */
  count?: number
  /** swap, warmup: the value every key gets. */
  generation?: number
  /** swap, warmup, lookupAll: the prefix of the keys (`k` unless given). */
  prefix?: string
  /** swap: `fill` writes half its keys, then waits for a `release` command before the rest. */
  hold?: boolean
  /** swap: `fill` writes half its keys, then throws. */
  fail?: boolean
  timeout?: number
  grace?: number
}

const { dictHandle, busHandle, name, stop, stall } = workerData as {
  dictHandle: Parameters<typeof SharedDict.attach>[0]
  busHandle: WorkerBusHandle
  name: string
  /** read: the loop ends once the test stores 1 in word 0. */
  stop?: SharedArrayBuffer
  stall?: SharedArrayBuffer
}
const dict = SharedDict.attach(dictHandle)
const bus = WorkerBus.attach(busHandle)
const cache = new MLCache<number>(name, { store: dict, bus })

const keys = (count: number, prefix = 'k'): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`)

/** The fill of a held swap: `reached` resolves once it waits, `open()` lets it go on. */
let gate: { reached: Promise<void>; arrived: () => void; open: () => void; opened: Promise<void> } | undefined
function newGate(): NonNullable<typeof gate> {
  let arrived: () => void = () => undefined
  let open: () => void = () => undefined
  const reached = new Promise<void>((resolve) => (arrived = resolve))
  const opened = new Promise<void>((resolve) => (open = resolve))
  return { reached, arrived, open, opened }
}

async function swap(command: Command): Promise<SwapOutcome> {
  const all = keys(command.count ?? 20, command.prefix)
  const generation = command.generation ?? 0
  const held = command.hold === true ? (gate = newGate()) : undefined
  try {
    await cache.swap(
      async (page) => {
        for (const [i, key] of all.entries()) {
          if (command.fail === true && i === all.length >> 1) throw new Error('the source of the new generation failed')
          if (held !== undefined && i === all.length >> 1) {
            held.arrived()
            await held.opened
          }
          await page.set(key, generation)
        }
      },
      { ...(command.timeout === undefined ? {} : { timeout: command.timeout }), ...(command.grace === undefined ? {} : { grace: command.grace }) },
    )
    return { outcome: 'resolved', page: cache.page }
  } catch (error) {
    const { name: errorName, message } = error instanceof Error ? error : new Error(String(error))
    return { outcome: 'rejected', name: errorName, code: error instanceof MLCacheError ? error.code : undefined, message, page: cache.page }
  }
}

/**
 * Reads the `count` keys over and over until the test raises `stop`: each
 * round through a snapshot, key by key with a turn of the event loop
 * between them (a flip may land anywhere in between), then with one
 * `getBulk` of the cache.
 * Every key is in L2 from the fill that wrote its page, so the loader must
 * never run: it answers {@link SENTINEL}, counted as missing (a key whose
 * page lost its entries).
 */
async function read(count: number): Promise<ReadReport> {
  if (stop === undefined) throw new Error('read needs workerData.stop')
  const flag = new Int32Array(stop)
  const all = keys(count)
  const report = { snapshots: 0, bulks: 0, mixed: 0, missing: 0, retired: 0 }
  const generations = new Set<number>()
  const pages = new Set<number>()
  const loader = (): number => SENTINEL
  const check = (values: readonly (number | undefined)[]): void => {
    const seen = new Set(values.filter((value): value is number => value !== undefined && value !== SENTINEL))
    if (values.some((value) => value === undefined || value === SENTINEL)) report.missing++
    if (seen.size > 1) report.mixed++
    for (const value of seen) generations.add(value)
  }
  while (Atomics.load(flag, 0) === 0) {
    const snapshot = cache.snapshot()
    pages.add(snapshot.page)
    try {
      const values: (number | undefined)[] = []
      for (const key of all) {
        values.push(await snapshot.get(key, loader))
        // A turn of the event loop between reads, as a request doing I/O: the SharedDict answers
        // synchronously, so without it no flip could land in the middle of a snapshot.
        await new Promise((resolve) => setImmediate(resolve))
      }
      check(values)
      report.snapshots++
    } catch (error) {
      if ((error as MLCacheError).code !== 'E_PAGE_RETIRED') throw error
      report.retired++
    } finally {
      snapshot.release()
    }
    const bulk = await cache.getBulk(all.map((key) => ({ key, loader })))
    for (const result of bulk) if (result.error !== undefined) throw result.error
    check(bulk.map((result) => result.value))
    report.bulks++
  }
  return { ...report, generations: [...generations].sort((a, b) => a - b), pages: [...pages].sort((a, b) => a - b) }
}

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'lookup':
      // No loader: what this worker serves from its L1 or L2, and from which.
      return cache.lookup(command.key ?? 'k')
    case 'lookupAll':
      return Promise.all(keys(command.count ?? 20, command.prefix).map((key) => cache.lookup(key)))
    case 'page':
      return cache.page
    case 'warmup':
      // Generation `generation` on the current page, without a swap (what a cache serves before its first one).
      return cache.warmup(keys(command.count ?? 20, command.prefix).map((key) => [key, command.generation ?? 0] as const))
    case 'swap':
      return swap(command)
    case 'filling':
      // Resolves once the held swap's fill waits (half its keys written).
      if (gate === undefined) throw new Error('no held swap')
      return gate.reached
    case 'release':
      gate?.open()
      return undefined
    case 'read':
      return read(command.count ?? 20)
    case 'stall':
      // Blocks this thread's event loop until the test releases it: no bus event is handled meanwhile.
      if (stall === undefined) throw new Error('stall needs workerData.stall')
      new StallSignal(stall).block()
      return undefined
    case 'threadId':
      return threadId
    case 'close':
      await cache.close()
      await bus.close()
      return undefined
  }
}

answerCommands(run)
