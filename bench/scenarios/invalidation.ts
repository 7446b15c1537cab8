/**
 * Invalidation latency across worker_threads: workers A and B share a
 * SharedDict and a WorkerBus, each with an MLCache of the same name. B
 * holds a key in its L1 and is otherwise idle; A deletes it. The latency
 * runs from A calling `delete` to the first probe of B's L1 that misses the
 * key (see `workers/invalidation.ts`); one key per iteration, with the main
 * thread driving the iterations one at a time.
 */
import { SharedDict, WorkerBus } from '../../src/index.js'
import { percentile, scaled } from '../harness.js'
import type { Report } from '../report.js'
import type { InvalidationData } from '../workers/invalidation.js'
import { BenchWorker, closeWorkers } from '../workers/threads.js'

const ENTRY = new URL('../workers/invalidation.ts', import.meta.url)
const NAME = 'bench-invalidation'
const WARMUP = scaled(100, 5)
const ITERATIONS = scaled(2_000, 50)

export async function invalidation(report: Report): Promise<void> {
  const title = 'Invalidation latency: A deletes a key, until B\'s L1 misses it (2 worker_threads, WorkerBus)'
  report.heading(title)
  const dict = SharedDict.create({ size: '16m' })
  const bus = WorkerBus.create()
  const workerData = { dict: dict.handle, bus: bus.handle, name: NAME } satisfies InvalidationData
  const workers: BenchWorker[] = []
  try {
    workers.push(await BenchWorker.start(ENTRY, workerData), await BenchWorker.start(ENTRY, workerData))
    const [a, b] = workers as [BenchWorker, BenchWorker]
    const latencies: number[] = []
    for (let i = 0; i < WARMUP + ITERATIONS; i++) {
      const key = `invalidation:${i}`
      await b.call('hold', { key })
      const deletedAt = await a.call<number>('delete', { key })
      const missedAt = await b.call<number>('missed')
      if (i >= WARMUP) latencies.push(missedAt - deletedAt)
    }
    const p50 = percentile(latencies, 50)
    const p99 = percentile(latencies, 99)
    const max = Math.max(...latencies)
    const ms = (value: number) => value.toFixed(3)
    const note =
      `${ITERATIONS} deletes after ${WARMUP} unmeasured; from A calling delete() to the first probe of B's L1 (cache.lookup) that misses, ` +
      `probed on every bus delivery; B otherwise idle`
    report.table({ title, header: ['measure', 'p50 ms', 'p99 ms', 'max ms'], rows: [['A delete -> B L1 miss', ms(p50), ms(p99), ms(max)]], note })
    report.check(title, 'invalidation latency p50, A delete -> B L1 miss', Number(p50.toFixed(3)), 'ms', 'max', 0)
    report.check(title, 'invalidation latency p99, A delete -> B L1 miss (idle)', Number(p99.toFixed(3)), 'ms', 'max', 5)
  } finally {
    await closeWorkers(workers)
    await bus.close()
  }
}
