/**
 * Throughput with 1, 2 and 4 worker_threads sharing one SharedDict, each
 * worker reading through its own MLCache with an L1 of 1k for a fixed window
 * after a start barrier: L1 hits of one hot key (`threadsL1Hit`), or L2 hits
 * of the 10k keys of the L2 scenario read in order, every read missing L1
 * (`threadsL2Hit`). The figure of a configuration is the
 * sum of its workers' ops/s, median of the rounds; configurations take turns
 * within each round so they share the machine's noise, and a scaling ratio
 * is the median of the rounds' own ratios (windows a second apart) rather
 * than a ratio of medians. The process's CPU time over each window says how
 * many cores the workers actually got: on a busy 2-core machine 2 workers
 * may not get 2 cores, which is not the dict's doing.
 */
import { availableParallelism, cpus, loadavg } from 'node:os'
import { MLCache, SharedDict } from '../../src/index.js'
import { KEY, SHORT, USER, l2Keys } from '../fixtures.js'
import { formatOps, measureRounds, median, scaled } from '../harness.js'
import type { Report } from '../report.js'
import type { ReadMode, ReaderData, WindowResult } from '../workers/reader.js'
import { StartBarrier, closeWorkers, startWorkers } from '../workers/threads.js'

const ENTRY = new URL('../workers/reader.ts', import.meta.url)
const CONFIGURATIONS = [1, 2, 4] as const
const ROUNDS = measureRounds()
const WINDOW_MS = scaled(1_000, 100)
const WARMUP_MS = scaled(500, 50)

/** Milliseconds every CPU of the machine spent busy so far (all processes), per `os.cpus()`. */
function machineBusyMs(): number {
  return cpus().reduce((sum, { times }) => sum + times.user + times.nice + times.sys + times.irq, 0)
}

/** What each mode reads, for the titles and notes. */
const MODES = {
  l1: { what: 'L1 hit', title: 'L1 hit across worker_threads, each its own L1', reads: `one hot key (\`${KEY}\`, the short string), every read an L1 hit` },
  l2: { what: 'L2 hit', title: 'L2 hit across worker_threads, one shared SharedDict', reads: 'the 10k keys of the L2 scenario in order, every read an L2 hit' },
} as const

/** T4 for T1: L1 hits in 1, 2 and 4 workers (each its own L1, no shared state on the path). */
export const threadsL1Hit = (report: Report): Promise<void> => threadScaling(report, 'l1')
/** T4 for T2: L2 hits in 1, 2 and 4 workers, all reading the one SharedDict. */
export const threadsL2Hit = (report: Report): Promise<void> => threadScaling(report, 'l2')

async function threadScaling(report: Report, mode: ReadMode): Promise<void> {
  const { what, title, reads } = MODES[mode]
  const label = (workers: number) => `MLCache.get (${what}), ${workers} worker${workers === 1 ? '' : 's'}`
  report.heading(title)
  const name = `bench-threads-${mode}`
  const dict = SharedDict.create({ size: '64m' })
  const filler = new MLCache(name, { lruSize: 1_000, store: dict, ttl: 0 })
  const keys = l2Keys()
  if (mode === 'l2') for (const key of keys) await filler.set(key, USER)
  else await filler.set(KEY, SHORT)
  await filler.close()

  const barrier = new StartBarrier()
  const maxWorkers = Math.max(...CONFIGURATIONS)
  const workers = await startWorkers(maxWorkers, ENTRY, (index) => ({
    dict: dict.handle,
    barrier: barrier.buffer,
    name,
    mode,
    offset: Math.floor((index * keys.length) / maxWorkers),
  }) satisfies ReaderData)
  try {
    // Other processes taking cores skew the scaling figures: say so.
    const [load = 0] = loadavg()
    const loaded = load > availableParallelism() - 0.5
    report.line(`(load average ${load.toFixed(2)} on ${availableParallelism()} cores before the rounds${loaded ? ': the machine is busy, expect poor scaling' : ''})`)
    // Every worker warms up alone, then checks where its reads are served from.
    for (const worker of workers) await worker.call('warmup', { ms: WARMUP_MS })
    const levels = await Promise.all(workers.map((worker) => worker.call<number>('hitLevel')))
    const expected = mode === 'l1' ? 1 : 2
    if (levels.some((level) => level !== expected)) throw new Error(`expected ${what}s, got hit levels ${levels.join(', ')}`)

    // By configuration, one entry per round: ops/s (summed over the workers), cores this process
    // kept busy, and cores other processes kept busy meanwhile.
    const ops = new Map<number, number[]>(CONFIGURATIONS.map((n) => [n, []]))
    const cores = new Map<number, number[]>(CONFIGURATIONS.map((n) => [n, []]))
    const others = new Map<number, number[]>(CONFIGURATIONS.map((n) => [n, []]))
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order of the configurations from round to round.
      for (let i = 0; i < CONFIGURATIONS.length; i++) {
        const n = CONFIGURATIONS[(round + i) % CONFIGURATIONS.length] as number
        const generation = barrier.next
        const windows = Promise.all(workers.slice(0, n).map((worker) => worker.call<WindowResult>('window', { generation, ms: WINDOW_MS })))
        const releasedAt = await barrier.release(n)
        const cpu = process.cpuUsage()
        const machine = machineBusyMs()
        const results = await windows
        const used = process.cpuUsage(cpu)
        const wall = performance.now() - releasedAt
        const ours = (used.user + used.system) / 1_000 / wall
        ops.get(n)?.push(results.reduce((sum, window) => sum + (window.ops * 1_000) / window.elapsed, 0))
        cores.get(n)?.push(ours)
        others.get(n)?.push(Math.max(0, (machineBusyMs() - machine) / wall - ours))
      }
    }
    const measured = new Map(CONFIGURATIONS.map((n) => [label(n), median(ops.get(n) ?? [])]))
    report.record(title, measured)
    const busy = (n: number) => `${median(cores.get(n) ?? []).toFixed(2)} cores busy, other processes ${median(others.get(n) ?? []).toFixed(2)}`
    for (const n of CONFIGURATIONS) report.line(`(${label(n)}: ${busy(n)}; rounds ${(ops.get(n) ?? []).map(formatOps).join(', ')})`)
    report.notes.push(
      `*${title}*: each worker its own MLCache (L1 of 1k) over one 64 MiB SharedDict, reading ${reads}; ` +
        `ops/s summed over the workers, median of ${ROUNDS} windows of ${WINDOW_MS / 1_000} s; scaling ratios are the ` +
        `median of the rounds' own ratios. During the windows (medians): ${CONFIGURATIONS.map((n) => `${n} worker(s) ${busy(n)}`).join('; ')}.`,
    )
    // 2 workers on 2 cores: the aggregate should come close to double; 4 workers on 2 cores no worse than 2.
    const checks = [[2, 1, mode === 'l2' ? 1.9 : 1.5], [4, 1, 0], [4, 2, mode === 'l2' ? 1 : 0]] as const
    for (const [n, base, target] of checks) {
      const perRound = (ops.get(n) ?? []).map((value, round) => value / ((ops.get(base) ?? [])[round] ?? Number.NaN))
      report.ratios.push({ scenario: title, subject: label(n), baseline: label(base), ratio: median(perRound), target })
    }
  } finally {
    await closeWorkers(workers)
  }
}
