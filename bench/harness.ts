/**
 * A small harness over tinybench: every scenario runs its tasks side by side
 * in one process for several rounds and keeps the median ops/s of each task,
 * so ratios between a task and its baseline share the same machine noise.
 */
import { Bench } from 'tinybench'

/**
 * A smoke run (`npm run bench:smoke`, in CI): tiny iteration counts, so that
 * every scenario's code runs end to end in seconds and cannot rot. Its
 * figures mean nothing and nothing is written. Worker threads inherit the
 * environment variable.
 */
export const SMOKE = process.env.MLCACHE_BENCH_SMOKE === '1'

/** `full` in a real run, `smoke` in a smoke run. */
export function scaled(full: number, smoke: number): number {
  return SMOKE ? smoke : full
}

/**
 * The rounds `measure()` and the worker scaling take: 7, or 3 in the quick headline run
 * (`npm run bench` without `--full`: the parent sets MLCACHE_BENCH_QUICK=1
 * for its scenario processes), 1 in a smoke run. Read at call time, since the
 * parent decides after parsing its arguments.
 */
export function measureRounds(): number {
  return SMOKE ? 1 : process.env.MLCACHE_BENCH_QUICK === '1' ? 3 : 7
}

/** The functions of one scenario, measured together. */
export type Tasks = Record<string, () => unknown>

export interface MeasureOptions {
  /** Rounds per scenario; the median is kept. */
  rounds?: number
  /** Milliseconds per task per round. */
  time?: number
}

/** The median of `values` (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Measures every task for `rounds` rounds; answers the median ops/s by task name. */
export async function measure(tasks: Tasks, { rounds = measureRounds(), time = scaled(250, 10) }: MeasureOptions = {}): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(Object.keys(tasks).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time, warmupTime: scaled(50, 5) })
    for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn)
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result
      if (result.state !== 'completed') throw new Error(`task ${task.name} did not complete: ${result.state}`)
      // Iterations over total time, not tinybench's `throughput.mean` (the mean of every iteration's own
      // rate): with a mix of fast and slow iterations (L1 and L2 hits) that mean follows the fast ones.
      samples.get(task.name)?.push(1_000 / result.period)
    }
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]))
}

/** The `p`-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)))
  return sorted[rank - 1] as number
}

/**
 * A comparison the benchmark reports: `subject` ops/s over `baseline` ops/s,
 * against a target ratio (`target` 0: information only). Without a
 * `baseline` it is an absolute figure in `unit` (a count, a latency), and
 * `bound: 'max'` makes the target an upper bound.
 */
export interface Ratio {
  scenario: string
  subject: string
  baseline?: string
  ratio: number
  target: number
  /** `'min'` (default): `ratio >= target`; `'max'`: `ratio <= target`. */
  bound?: 'min' | 'max'
  /** The unit of `ratio` and `target`: `'x'` (a ratio) when absent, `''` for a count. */
  unit?: string
}

/** What the ratio compares, for the tables. */
export function ratioLabel(r: Ratio): string {
  return r.baseline === undefined ? r.subject : `${r.subject} / ${r.baseline}`
}

/** Whether the ratio has a target and misses it. */
export function missesTarget(r: Ratio): boolean {
  if (r.target === 0) return false
  return r.bound === 'max' ? r.ratio > r.target : r.ratio < r.target
}

/** `value` with `unit`: `0.41x`, `31x`, `1.23 ms`, or a bare count (`unit` ''). */
function withUnit(value: number, unit: string, digits: number): string {
  if (unit === 'x') return `${value.toFixed(digits)}x`
  const figure = Number.isInteger(value) ? String(value) : value.toFixed(2)
  return unit === '' ? figure : `${figure} ${unit}`
}

/** The measured figure with its unit: `0.41x`, `31x`, `1.23 ms`, `4`. */
export function formatRatio(r: Ratio, digits = r.ratio < 10 ? 2 : 0): string {
  return withUnit(r.ratio, r.unit ?? 'x', digits)
}

/** The target: `>= 0.4x`, `<= 5 ms`, or `(info)`. */
export function formatTarget(r: Ratio): string {
  if (r.target === 0) return '(info)'
  const unit = r.unit ?? 'x'
  return `${r.bound === 'max' ? '<=' : '>='} ${r.target}${unit === 'x' || unit === '' ? unit : ` ${unit}`}`
}

export function formatOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}k`
  return ops.toFixed(0)
}
