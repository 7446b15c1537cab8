/**
 * Page swapping across real worker_threads sharing one SharedDict and one
 * WorkerBus (the main thread's end of the bus is a member too, answering
 * flips with nothing to switch). No outcome depends on timing: a fill that
 * must be caught midway waits for the test's `release`, and a worker that
 * must not answer is blocked on a signal the test raises.
 */
import type { Worker } from 'node:worker_threads'
import { describe, expect, it, onTestFinished } from 'vitest'
import { SharedDict, WorkerBus } from '../../src/index.js'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { readCurrentPage } from '../../src/pages/page-table.js'
import { StallSignal } from '../helpers/stall-signal.js'
import { ScriptedWorker } from '../helpers/workers.js'
import { nextMessage, settles, sleep, useTsWorkers } from '../helpers/ts-workers.js'
import type { ReadReport, SwapOutcome } from './workers/swap-worker.js'

const ENTRY = new URL('./workers/swap-worker.ts', import.meta.url)
const NAME = 'routes'
const KEYS = 20

interface Lookup {
  value: unknown
  hitLevel: number
}

async function setup(count: number, data: Record<string, unknown> = {}) {
  const dict = SharedDict.create({ size: '4m' })
  const bus = WorkerBus.create()
  onTestFinished(() => bus.close())
  const shared = { dictHandle: dict.handle, busHandle: bus.handle, name: NAME, ...data }
  const start = (): Promise<ScriptedWorker> => ScriptedWorker.start(ENTRY, shared)
  const workers = await Promise.all(Array.from({ length: count }, start))
  return { dict, bus, workers, start, shared }
}

const tsWorkers = useTsWorkers()

/**
 * Runs command `op` in a worker reached through a relay (see
 * `spawnUnsupervised`), with the protocol of `ScriptedWorker`.
 */
async function relayCall<T>(relay: Worker, id: number, op: string, args: Record<string, unknown> = {}): Promise<T> {
  const answer = new Promise<T>((resolve, reject) => {
    const onMessage = (message: { id?: number; result?: T; error?: string }): void => {
      if (message?.id !== id) return
      relay.off('message', onMessage)
      if (message.error === undefined) resolve(message.result as T)
      else reject(new Error(message.error))
    }
    relay.on('message', onMessage)
  })
  relay.postMessage({ ...args, id, op })
  return answer
}

/**
 * The user keys of the dict by L2 namespace (`${length}:${namespace}:${key}`),
 * leaving out the page table; locks are never listed by `keys()`.
 */
function keysByNamespace(dict: SharedDict): Map<string, string[]> {
  const byNamespace = new Map<string, string[]>()
  for (const stored of dict.keys(0)) {
    const colon = stored.indexOf(':')
    const length = Number(stored.slice(0, colon))
    const namespace = stored.slice(colon + 1, colon + 1 + length)
    if (namespace === '\u0000pages') continue
    byNamespace.set(namespace, [...(byNamespace.get(namespace) ?? []), stored.slice(colon + 2 + length)].sort())
  }
  return byNamespace
}

/** The L2 namespace of page `page` (page 1 is the name itself). */
const pageOf = (page: number): string => (page === 1 ? NAME : `${NAME}\u0000${page}`)
const keys = (count: number, prefix = 'k'): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`).sort()

/** The values of `lookupAll`, and whether each came from the level expected. */
async function served(worker: ScriptedWorker, count = KEYS, prefix = 'k'): Promise<{ values: unknown[]; levels: number[] }> {
  const lookups = await worker.call<Lookup[]>('lookupAll', { count, prefix })
  return { values: [...new Set(lookups.map((l) => l.value))], levels: [...new Set(lookups.map((l) => l.hitLevel))] }
}

/** Waits until the dict's record names page `page` as current (the swap committed). */
async function committed(dict: SharedDict, page: number): Promise<void> {
  while (readCurrentPage(dict, NAME) !== page) await sleep(5)
}

/**
 * Waits until page `page` is the only one left in the dict: the older one
 * was reclaimed. Gives up after a generous guard (far below the swaps'
 * `grace`), so a reclamation that waits for a release it missed fails an
 * assertion instead of timing the test out.
 */
async function reclaimed(dict: SharedDict, page: number, guardMs = 5_000): Promise<void> {
  const deadline = performance.now() + guardMs
  while (keysByNamespace(dict).size > 1 && performance.now() < deadline) await sleep(5)
  expect([...keysByNamespace(dict).keys()], `page ${page - 1} reclaimed`).toEqual([pageOf(page)])
}

describe('MLCache page swapping across worker_threads', () => {
  it('swap() switches every worker thread and resolves once all of them answered', async () => {
    const { dict, workers } = await setup(3)
    const [a] = workers as [ScriptedWorker, ...ScriptedWorker[]]
    await a.call('warmup', { generation: 1, count: KEYS })
    for (const worker of workers) {
      await served(worker)
      // Generation 1 is now in every worker's L1: only a switch of page makes it go.
      expect(await served(worker)).toEqual({ values: [1], levels: [1] })
      expect(await worker.call('page')).toBe(1)
    }
    expect(await a.call<SwapOutcome>('swap', { generation: 2, count: KEYS })).toEqual({ outcome: 'resolved', page: 2 })
    for (const worker of workers) {
      expect(await worker.call('page')).toBe(2)
      // From L2 of page 2: the new page starts with an empty L1 in every worker.
      expect(await served(worker)).toEqual({ values: [2], levels: [2] })
    }
    // Page 1 was reclaimed at once: no snapshot pinned it.
    expect(keysByNamespace(dict)).toEqual(new Map([[pageOf(2), keys(KEYS)]]))
    checkSharedDictInvariants(dict)
  })

  it('swap() does not resolve while a worker has not answered the flip, and resolves once it did', async () => {
    const signal = new StallSignal()
    const { dict, workers } = await setup(2, { stall: signal.buffer })
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    await a.call('warmup', { generation: 1, count: KEYS })
    const stalled = b.call('stall')
    await signal.stalled(stalled)
    let settled = false
    const swapped = a.call<SwapOutcome>('swap', { generation: 2, count: KEYS }).finally(() => (settled = true))
    await committed(dict, 2)
    // B's event loop is blocked: it cannot have answered, whatever the time waited.
    await sleep(200)
    expect(settled).toBe(false)
    // Page 1 stays while a live worker may still read it.
    expect(keysByNamespace(dict).get(pageOf(1))).toEqual(keys(KEYS))
    signal.release()
    await stalled
    expect(await swapped).toEqual({ outcome: 'resolved', page: 2 })
    expect(await b.call('page')).toBe(2)
    expect(keysByNamespace(dict)).toEqual(new Map([[pageOf(2), keys(KEYS)]]))
  })

  it('a worker started after swap() opens on the new page, without any event', async () => {
    const { dict, workers, start } = await setup(1)
    const [a] = workers as [ScriptedWorker]
    await a.call('warmup', { generation: 1, count: KEYS })
    expect(await a.call<SwapOutcome>('swap', { generation: 2, count: KEYS })).toEqual({ outcome: 'resolved', page: 2 })
    const late = await start()
    expect(await late.call('page')).toBe(2)
    expect(await served(late)).toEqual({ values: [2], levels: [2] })
    checkSharedDictInvariants(dict)
  })

  it('swap() whose fill throws midway leaves every worker on the current page and reclaims the shadow page', async () => {
    const { dict, workers } = await setup(2)
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    await a.call('warmup', { generation: 1, count: KEYS })
    await served(b)
    expect(await a.call<SwapOutcome>('swap', { generation: 2, count: KEYS, fail: true })).toMatchObject({
      outcome: 'rejected',
      message: 'the source of the new generation failed',
      page: 1,
    })
    for (const worker of workers) {
      expect(await worker.call('page')).toBe(1)
      expect((await served(worker)).values).toEqual([1])
    }
    expect(keysByNamespace(dict)).toEqual(new Map([[pageOf(1), keys(KEYS)]]))
    // The lock went with the failed swap: the next one runs at once.
    expect(await b.call<SwapOutcome>('swap', { generation: 3, count: KEYS })).toEqual({ outcome: 'resolved', page: 2 })
    expect(await served(a)).toEqual({ values: [3], levels: [2] })
    checkSharedDictInvariants(dict)
  })

  it('swap() completes when another worker is terminated while fill writes, and leaves only the new page in the dict', async () => {
    const { dict, workers } = await setup(3)
    const [a, b, doomed] = workers as [ScriptedWorker, ScriptedWorker, ScriptedWorker]
    await a.call('warmup', { generation: 1, count: KEYS })
    const swapped = a.call<SwapOutcome>('swap', { generation: 2, count: KEYS, hold: true, timeout: 5_000 })
    await a.call('filling')
    await doomed.terminate()
    await a.call('release')
    // The supervisor (this thread) reaped the dead worker's bus slot: the swap does not wait for it.
    expect(await settles(swapped)).toBe(true)
    expect(await swapped).toEqual({ outcome: 'resolved', page: 2 })
    expect(await b.call('page')).toBe(2)
    expect(keysByNamespace(dict)).toEqual(new Map([[pageOf(2), keys(KEYS)]]))
    checkSharedDictInvariants(dict)
  })

  it('the worker running swap() is terminated while fill writes: the lock is reaped, the next swap succeeds and reclaims its shadow page', async () => {
    const { dict, workers } = await setup(3)
    const [swapper, b, c] = workers as [ScriptedWorker, ScriptedWorker, ScriptedWorker]
    await b.call('warmup', { generation: 1, count: KEYS })
    const dying = swapper.call<SwapOutcome>('swap', { generation: 2, count: KEYS, prefix: 'dead', hold: true })
    await swapper.call('filling')
    // Half of the dying swap's keys are in its shadow page, which no reader sees.
    expect(keysByNamespace(dict).get(pageOf(2))).toEqual(keys(KEYS / 2, 'dead'))
    await swapper.terminate()
    await expect(dying).rejects.toThrow(/exited/)
    // Nothing was committed: every live worker still serves generation 1 from page 1.
    for (const worker of [b, c]) {
      expect(await worker.call('page')).toBe(1)
      expect((await served(worker)).values).toEqual([1])
    }
    // Its lock's lease is 10 s, but the supervisor released it with the thread's other locks.
    expect(await b.call<SwapOutcome>('swap', { generation: 3, count: 5, prefix: 'n' })).toEqual({ outcome: 'resolved', page: 2 })
    expect(await c.call('page')).toBe(2)
    expect(await served(c, 5, 'n')).toEqual({ values: [3], levels: [2] })
    // The dead swap's half-written keys went with the purge of the shadow page before the fill.
    expect(keysByNamespace(dict)).toEqual(new Map([[pageOf(2), keys(5, 'n')]]))
    checkSharedDictInvariants(dict)
  })

  it('the worker running swap() dies while fill writes and nothing reaps it: swap() elsewhere rejects with BusyError while its lease runs', async () => {
    const { dict, workers, shared } = await setup(1)
    const [b] = workers as [ScriptedWorker]
    await b.call('warmup', { generation: 1, count: KEYS })
    // Started through a thread that never loads mlcache: its death frees nothing (a plain library's worker).
    const swapper = await tsWorkers.spawnUnsupervised(ENTRY, shared)
    expect(await nextMessage(swapper.relay)).toEqual({ ready: true })
    void relayCall(swapper.relay, 1, 'swap', { generation: 2, count: KEYS, prefix: 'dead', hold: true }).catch(() => undefined)
    await relayCall(swapper.relay, 2, 'filling')
    await swapper.terminate()
    // Its lock stays until its 10 s lease ends (the next swap then succeeds and purges the dead
    // swap's shadow page first, as the test above shows): meanwhile every swap is refused at once.
    // (A short timeout: were it not refused, it would wait for the dead member the bus still lists.)
    const refused = await b.call<SwapOutcome>('swap', { generation: 3, count: KEYS, timeout: 2_000 })
    expect(refused).toMatchObject({ outcome: 'rejected', name: 'BusyError', code: 'E_BUSY', page: 1 })
    expect((await served(b)).values).toEqual([1])
    // Nothing of the refused swap was written; the dead one's half page waits for the next swap.
    expect(keysByNamespace(dict)).toEqual(
      new Map([
        [pageOf(1), keys(KEYS)],
        [pageOf(2), keys(KEYS / 2, 'dead')],
      ]),
    )
    checkSharedDictInvariants(dict)
  })

  it('snapshot() reads never mix two generations while another worker runs 20 swaps in a row', async () => {
    const stop = new SharedArrayBuffer(4)
    const { dict, workers } = await setup(3, { stop })
    const [swapper, ...readers] = workers as [ScriptedWorker, ScriptedWorker, ScriptedWorker]
    await swapper.call('warmup', { generation: 1, count: KEYS })
    const reading = readers.map((reader) => reader.call<ReadReport>('read', { count: KEYS }))
    for (let generation = 2; generation <= 21; generation++) {
      // A grace far beyond the test: only the readers' releases let the old page go.
      expect(await swapper.call<SwapOutcome>('swap', { generation, count: KEYS, grace: 60_000 })).toEqual({ outcome: 'resolved', page: generation })
      // A page stays readable until its snapshots are released (or its grace ends) or the next swap
      // starts, which reclaims it whatever pins it: the next swap waits until it went on its own.
      await reclaimed(dict, generation)
    }
    Atomics.store(new Int32Array(stop), 0, 1)
    const reports = await Promise.all(reading)
    const seen = new Set<number>()
    for (const report of reports) {
      expect(report).toMatchObject({ mixed: 0, missing: 0, retired: 0 })
      expect(report.snapshots).toBeGreaterThan(0)
      for (const generation of report.generations) seen.add(generation)
    }
    // The readers ran across swaps, not only before or after them.
    expect(seen.size).toBeGreaterThan(1)
    for (const reader of readers) expect(await reader.call('page')).toBe(21)
    checkSharedDictInvariants(dict)
  })

  it('swap() in a second worker rejects with BusyError while one runs in another, and succeeds after it', async () => {
    const { workers } = await setup(2)
    const [a, b] = workers as [ScriptedWorker, ScriptedWorker]
    const first = a.call<SwapOutcome>('swap', { generation: 2, count: KEYS, hold: true })
    await a.call('filling')
    expect(await b.call<SwapOutcome>('swap', { generation: 3, count: KEYS })).toMatchObject({ outcome: 'rejected', name: 'BusyError', code: 'E_BUSY', page: 1 })
    await a.call('release')
    expect(await first).toEqual({ outcome: 'resolved', page: 2 })
    expect(await b.call<SwapOutcome>('swap', { generation: 3, count: KEYS })).toEqual({ outcome: 'resolved', page: 3 })
    expect(await a.call('page')).toBe(3)
    expect(await served(a)).toEqual({ values: [3], levels: [2] })
  })
})
