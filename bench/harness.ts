/**
 * A small harness over tinybench: every scenario runs its tasks side by side
 * in one process for several rounds and keeps the median ops/s of each task,
 * so ratios between a task and its baseline share the same machine noise.
 */
import { Bench } from 'tinybench'

/** The functions of one scenario, measured together. */
export type Tasks = Record<string, () => unknown>

export interface MeasureOptions {
  /** Rounds per scenario; the median is kept. */
  rounds?: number
  /** Milliseconds per task per round. */
  time?: number
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

/** Measures every task for `rounds` rounds; answers the median ops/s by task name. */
export async function measure(tasks: Tasks, { rounds = 7, time = 250 }: MeasureOptions = {}): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(Object.keys(tasks).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time, warmupTime: 50 })
    for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn)
    await bench.run()
    for (const task of bench.tasks) {
      const result = task.result
      if (result.state !== 'completed') throw new Error(`task ${task.name} did not complete: ${result.state}`)
      samples.get(task.name)?.push(result.throughput.mean)
    }
  }
  return new Map([...samples].map(([name, values]) => [name, median(values)]))
}

/** A comparison the benchmark reports: `subject` ops/s over `baseline` ops/s, against a target ratio. */
export interface Ratio {
  scenario: string
  subject: string
  baseline: string
  ratio: number
  target: number
}

export function formatOps(ops: number): string {
  if (ops >= 1e6) return `${(ops / 1e6).toFixed(2)}M`
  if (ops >= 1e3) return `${(ops / 1e3).toFixed(1)}k`
  return ops.toFixed(0)
}
