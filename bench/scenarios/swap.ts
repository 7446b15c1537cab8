/**
 * Page swapping (`MLCache.swap`, a DB-less reload) on the embedded default:
 *
 * - **Swap time**: replacing a generation of 100,000 entries (the ~100-byte
 *   user object) through `swap()` on a 256 MiB SharedDict with a LocalBus,
 *   beside writing the same entries into an empty page with `set()` (one
 *   call each) and with `warmup()`; median of the rounds, as ms and
 *   entries/s. The swap's figure includes what it does besides writing:
 *   the lock, the commit, the flip and purging the old generation.
 * - **Readers during a swap**: reader worker_threads on a WorkerBus (each
 *   its own MLCache, reading 1,000 hot keys that every generation holds,
 *   mostly L1 hits) count their reads while the main thread swaps 100,000
 *   entries, and over a window as long with no swap; the ratio says how
 *   much a swap slows the readers. A third window, with the main thread
 *   spinning on nothing shared, separates what only taking a core costs
 *   (on a small VM the vCPUs may be one physical core's hyperthreads). A
 *   swap waits for every reader to switch, so the readers' flips are part
 *   of it.
 */
import { availableParallelism } from 'node:os'
import { LocalBus, MLCache, SharedDict, WorkerBus } from '../../src/index.js'
import { USER } from '../fixtures.js'
import { formatOps, measureRounds, median, scaled } from '../harness.js'
import type { Report } from '../report.js'
import type { SwapReaderData } from '../workers/swap-reader.js'
import { closeWorkers, startWorkers } from '../workers/threads.js'

const ENTRY = new URL('../workers/swap-reader.ts', import.meta.url)
const ENTRIES = scaled(100_000, 2_000)
const HOT = Math.min(1_000, ENTRIES)
const ROUNDS = measureRounds()
/** One reader per core left to the swapping thread (at least one, at most 2). */
const READERS = Math.max(1, Math.min(2, availableParallelism() - 1))
const DICT_SIZE = scaled(256, 16) * 1024 * 1024

const keys = Array.from({ length: ENTRIES }, (_, i) => `user:${i}`)

/** Runs `write` and answers the milliseconds it took. */
async function timed(write: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await write()
  return performance.now() - start
}

export async function swap(report: Report): Promise<void> {
  await swapTime(report)
  await readersDuringSwap(report)
}

/** (a) A swap of ENTRIES entries against set() and warmup() of the same entries. */
async function swapTime(report: Report): Promise<void> {
  const count = ENTRIES.toLocaleString('en-US')
  const title = `Swap: replace ${count} entries (user object) on a SharedDict + LocalBus`
  report.heading(title)
  const dict = SharedDict.create({ size: DICT_SIZE })
  const bus = new LocalBus()
  // Each writer its own name, so none overwrites another's entries; no expiry, as a DB-less generation.
  const swapped = new MLCache<typeof USER>('bench-swap', { store: dict, bus, ttl: 0 })
  const setOne = new MLCache<typeof USER>('bench-swap-set', { store: dict, bus, ttl: 0 })
  const warmed = new MLCache<typeof USER>('bench-swap-warmup', { store: dict, bus, ttl: 0 })
  const runs = { swap: [] as number[], set: [] as number[], warmup: [] as number[] }
  try {
    // Round 0 is unmeasured: it warms the code paths up, and leaves a generation for the next swap to replace.
    for (let round = 0; round <= ROUNDS; round++) {
      const swapMs = await timed(() =>
        swapped.swap((page) => {
          for (const key of keys) page.set(key, USER)
        }),
      )
      // set() and warmup() write into an emptied page, as the swap writes into an empty shadow page.
      await setOne.purge({ flushExpired: true })
      const setMs = await timed(async () => {
        for (const key of keys) await setOne.set(key, USER)
      })
      await warmed.purge({ flushExpired: true })
      const warmupMs = await timed(() => warmed.warmup(keys.map((key) => [key, USER] as const)))
      if (round === 0) continue
      runs.swap.push(swapMs)
      runs.set.push(setMs)
      runs.warmup.push(warmupMs)
    }
    const stats = dict.stats()
    if (stats.noMemory > 0 || stats.forcibleEvictions > 0) throw new Error(`the dict was too small: ${JSON.stringify(stats)}`)
  } finally {
    await Promise.all([swapped.close(), setOne.close(), warmed.close()])
  }
  const label = { swap: 'MLCache.swap (fill page.set)', set: 'MLCache.set, one await each', warmup: 'MLCache.warmup' } as const
  const rate = (ms: number): number => (ENTRIES * 1_000) / ms
  const rows = (Object.keys(runs) as (keyof typeof runs)[]).map((method) => {
    const ms = median(runs[method])
    return [label[method], ms.toFixed(1), formatOps(rate(ms)), runs[method].map((value) => value.toFixed(0)).join(', ')]
  })
  report.table({
    title,
    header: ['method', 'median ms', 'entries/s', 'rounds ms'],
    rows,
    note:
      `${count} entries of the ~100-byte user object, no expiry, one ${DICT_SIZE / 2 ** 20} MiB SharedDict, LocalBus; median of ${ROUNDS} rounds after an ` +
      `unmeasured one. swap: lock, fill of the shadow page, commit, flip and purge of the replaced generation; set and warmup write into a page emptied first`,
  })
  const measured = new Map((Object.keys(runs) as (keyof typeof runs)[]).map((method) => [`${label[method]} (entries/s)`, rate(median(runs[method]))]))
  report.results.set(title, measured)
  report.compare(measured, title, `${label.swap} (entries/s)`, `${label.set} (entries/s)`, 0)
  report.compare(measured, title, `${label.swap} (entries/s)`, `${label.warmup} (entries/s)`, 0)
}

/** (b) Readers' ops/s while a swap of ENTRIES entries runs, against a window as long without one. */
async function readersDuringSwap(report: Report): Promise<void> {
  const count = ENTRIES.toLocaleString('en-US')
  const title = `Swap: reads of ${READERS} reader worker_thread(s) during a swap of ${count} entries vs none (SharedDict + WorkerBus)`
  report.heading(title)
  const name = 'bench-swap-readers'
  const dict = SharedDict.create({ size: DICT_SIZE })
  const bus = WorkerBus.create()
  const cache = new MLCache<typeof USER>(name, { store: dict, bus, ttl: 0 })
  const fill = (page: { set(key: string, value: typeof USER): unknown }): void => {
    for (const key of keys) page.set(key, USER)
  }
  await cache.swap(fill)
  const counters = new BigInt64Array(new SharedArrayBuffer(16))
  const reads = (): number => Number(Atomics.load(counters, 0))
  const workers = await startWorkers(READERS, ENTRY, () => ({
    dict: dict.handle,
    bus: bus.handle,
    name,
    hot: keys.slice(0, HOT),
    counters: counters.buffer as SharedArrayBuffer,
  }) satisfies SwapReaderData)
  const reading = workers.map((worker) => worker.call<number>('read'))
  const during: number[] = []
  const idle: number[] = []
  const busy: number[] = []
  try {
    // Unmeasured: the readers' code gets optimized and their L1s fill.
    await new Promise((resolve) => setTimeout(resolve, scaled(300, 20)))
    await cache.swap(fill)
    for (let round = 0; round < ROUNDS; round++) {
      let before = reads()
      let start = performance.now()
      await cache.swap(fill)
      const swapMs = performance.now() - start
      during.push(((reads() - before) * 1_000) / swapMs)
      // The same length of time without a swap: this thread sleeps, the readers read.
      before = reads()
      start = performance.now()
      await new Promise((resolve) => setTimeout(resolve, swapMs))
      idle.push(((reads() - before) * 1_000) / (performance.now() - start))
      // And with this thread spinning as long, touching nothing shared: what merely taking a core
      // from the readers costs (on a small VM the vCPUs may share one physical core).
      before = reads()
      start = performance.now()
      while (performance.now() - start < swapMs) {
        // Busy: reading the clock is the work.
      }
      busy.push(((reads() - before) * 1_000) / (performance.now() - start))
    }
  } finally {
    Atomics.store(counters, 1, 1n)
    const missing = await Promise.all(reading)
    await closeWorkers(workers)
    await cache.close()
    await bus.close()
    if (missing.some((n) => n > 0)) throw new Error(`readers missed hot keys: ${missing.join(', ')}`)
  }
  const duringLabel = `reads/s of ${READERS} reader(s) during a swap`
  const idleLabel = `reads/s of ${READERS} reader(s) without a swap`
  const busyLabel = `reads/s of ${READERS} reader(s) without a swap, main thread spinning`
  const measured = new Map([
    [duringLabel, median(during)],
    [idleLabel, median(idle)],
    [busyLabel, median(busy)],
  ])
  report.record(title, measured)
  report.line(`(rounds during: ${during.map(formatOps).join(', ')}; without: ${idle.map(formatOps).join(', ')}; spinning: ${busy.map(formatOps).join(', ')})`)
  report.notes.push(
    `*${title}*: each reader its own MLCache (L1 of ${HOT}) reading ${HOT} hot keys every generation holds, yielding every 256 reads; ` +
      `the main thread swaps ${count} entries, then sleeps as long, then spins as long; reads/s summed over the readers, median of ${ROUNDS} rounds ` +
      `on ${availableParallelism()} cores.`,
  )
  report.compare(measured, title, duringLabel, idleLabel, 0)
  report.compare(measured, title, duringLabel, busyLabel, 0)
}
