/**
 * Stampede across worker_threads: 4 workers each fire 1,000 concurrent gets
 * of one cold key with a 50 ms loader, released together by a start
 * barrier. mlcache shares one SharedDict (and its loader lock) between the
 * workers; the peers run one instance per worker, as their users would.
 * Counts the loader calls of all workers together and the wall time from
 * the release to the last settled get. The same in one thread is a sanity
 * row: every library coalesces the gets of one thread into one load.
 */
import { SharedDict } from '../../src/index.js'
import { median, scaled } from '../harness.js'
import type { Report } from '../report.js'
import type { StampedeData, StampedeResult } from '../workers/stampede.js'
import { StartBarrier, closeWorkers, startWorkers } from '../workers/threads.js'

const ENTRY = new URL('../workers/stampede.ts', import.meta.url)
const LIBRARIES = ['mlcache', 'bentocache', 'cache-manager', 'cacheable', 'lru-cache'] as const
export type Library = (typeof LIBRARIES)[number]
const THREADS = [1, 4] as const
const GETS = 1_000
const LOADER_MS = 50
const ROUNDS = scaled(5, 1)

interface Run {
  loaderCalls: number
  wallMs: number
}

/** `3`, or `1-2` when the rounds disagree. */
function span(values: readonly number[]): string {
  const min = Math.min(...values)
  const max = Math.max(...values)
  return min === max ? String(min) : `${min}-${max}`
}

export async function stampede(report: Report): Promise<void> {
  const title = `Stampede: N worker_threads x ${GETS.toLocaleString('en-US')} concurrent gets of one cold key, ${LOADER_MS} ms loader`
  report.heading(title)
  const dict = SharedDict.create({ size: '16m' })
  const barrier = new StartBarrier()
  const counter = new Int32Array(new SharedArrayBuffer(4))
  const maxThreads = Math.max(...THREADS)
  const workers = await startWorkers(maxThreads, ENTRY, () => ({
    dict: dict.handle,
    barrier: barrier.buffer,
    loaderCalls: counter.buffer as SharedArrayBuffer,
  }) satisfies StampedeData)

  let sequence = 0
  const run = async (library: Library, threads: number): Promise<Run> => {
    const key = `stampede:${library}:${threads}:${++sequence}`
    Atomics.store(counter, 0, 0)
    const generation = barrier.next
    const pending = Promise.all(
      workers.slice(0, threads).map((worker) => worker.call<StampedeResult>('stampede', { library, key, gets: GETS, loaderMs: LOADER_MS, generation })),
    )
    const releasedAt = await barrier.release(threads)
    const results = await pending
    const loaderCalls = Atomics.load(counter, 0)
    if (library === 'mlcache') {
      const counted = results.reduce((sum, result) => sum + result.mlcacheLoaderCalls, 0)
      if (counted !== loaderCalls) throw new Error(`mlcache stats.loaderCalls say ${counted}, the loaders counted ${loaderCalls}`)
    }
    return { loaderCalls, wallMs: Math.max(...results.map((result) => result.settledAt)) - releasedAt }
  }

  try {
    // One unmeasured round of every library warms the code paths up.
    for (const library of LIBRARIES) await run(library, maxThreads)
    const runs = new Map<string, Run[]>()
    for (let round = 0; round < ROUNDS; round++) {
      for (const threads of THREADS) {
        for (const library of LIBRARIES) {
          const id = `${library}/${threads}`
          runs.set(id, [...(runs.get(id) ?? []), await run(library, threads)])
        }
      }
    }
    const rows: string[][] = []
    for (const threads of THREADS) {
      for (const library of LIBRARIES) {
        const measured = runs.get(`${library}/${threads}`) ?? []
        const calls = measured.map((r) => r.loaderCalls)
        rows.push([library, String(threads), span(calls), median(measured.map((r) => r.wallMs)).toFixed(1)])
        if (library === 'mlcache' && threads > 1) {
          report.check(title, `mlcache loader calls, ${threads} threads x ${GETS} gets of one key (worst round)`, Math.max(...calls), '', 'max', 1)
        }
      }
    }
    report.table({
      title,
      header: ['library', 'threads', 'loader calls', 'wall ms'],
      rows,
      note:
        `loader calls: all threads together, every round (a range when rounds differ); wall ms: from the release to the last settled get, ` +
        `median of ${ROUNDS} rounds; mlcache: one SharedDict shared by the threads; peers: one instance per thread (bentocache memory L1 ` +
        `getOrSet, cache-manager createCache() default memory store wrap, cacheable new Cacheable() getOrSet, lru-cache fetch with the ` +
        `loader passed as its fetch context).`,
    })
  } finally {
    await closeWorkers(workers)
  }
}
