/**
 * Worker entry for the linearizability test: in each of `rounds` rounds it
 * waits at a barrier for the other workers, then runs `opsPerKey` random
 * operations on each of the round's 3 keys (interleaved), stamping each
 * with the logical time of its call and of its return from a shared
 * counter (`Atomics.add` on `ticks[0]`; `ticks[1]` is the barrier). Posts
 * the {@link HistoryRecord}s at the end. The keys are namespaced (`1:n:…`)
 * so that `read`, the L2Store read `readEntryInto` that takes no mutex, sees
 * the same entries as `get` and the writes.
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { EntryView } from '../../../../src/l2/l2-store.js'
import { SharedDict, type SharedDictHandle } from '../../../../src/l2/shared-dict/shared-dict.js'
import { seededRandom as random } from '../../../helpers/seeded-random.js'

/** The `workerData` of this entry. */
export interface HistoryWorkerData {
  readonly handle: SharedDictHandle
  /** This worker's index, 0..workers-1. */
  readonly index: number
  readonly workers: number
  readonly rounds: number
  readonly opsPerKey: number
  /** `[logical clock, barrier arrivals]`, over a SharedArrayBuffer of their own. */
  readonly ticks: Int32Array
  readonly seed: number
}

/** An operation on one key, as the register model reads it. */
export type RegisterInput =
  | { readonly kind: 'get' | 'read' | 'delete' }
  | { readonly kind: 'set' | 'add'; readonly value: number }
  | { readonly kind: 'incr'; readonly step: number; readonly init: number | undefined }

/**
 * What an operation answered: `get` and `read` the value (`undefined` when missing),
 * `set` and `delete` nothing, `add` whether it stored, `incr` the new value
 * or `'not found'`.
 */
export type RegisterOutput = number | boolean | 'not found' | undefined

/** One operation as recorded. */
export interface HistoryRecord {
  readonly key: string
  readonly call: number
  readonly ret: number
  readonly input: RegisterInput
  readonly output: RegisterOutput
}


/** The namespace of `read`: the stored key of name `name` is `1:n:${name}`. */
const NAMESPACE = 'n'
const PREFIX = `${NAMESPACE.length}:${NAMESPACE}:`

const view: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }

function pickInput(rand: () => number, unique: number): RegisterInput {
  const r = rand()
  if (r < 0.15) return { kind: 'get' }
  if (r < 0.3) return { kind: 'read' }
  if (r < 0.5) return { kind: 'set', value: unique }
  if (r < 0.6) return { kind: 'delete' }
  if (r < 0.8) return { kind: 'add', value: unique }
  return { kind: 'incr', step: 1 + Math.floor(rand() * 5), init: rand() < 0.5 ? 0 : undefined }
}

function run(dict: SharedDict, key: string, input: RegisterInput): RegisterOutput {
  switch (input.kind) {
    case 'get': {
      const value = dict.get(key)?.value
      if (value !== undefined && typeof value !== 'number') throw new Error(`non-number value ${String(value)}`)
      return value
    }
    case 'read': {
      // Numbers are stored as their float64 bytes; a torn read would show a value nobody wrote.
      if (!dict.readEntryInto(NAMESPACE, key.slice(PREFIX.length), view) || view.stale) return undefined
      if (view.end - view.start !== 8) throw new Error(`read ${view.end - view.start} bytes of a number`)
      return view.bytes.readDoubleLE(view.start)
    }
    case 'set':
      if (!dict.set(key, input.value).ok) throw new Error('set failed')
      return undefined
    case 'delete':
      dict.delete(key)
      return undefined
    case 'add':
      return dict.add(key, input.value).ok
    case 'incr': {
      const result = dict.incr(key, input.step, input.init)
      if (result.err !== undefined && result.err !== 'not found') throw new Error(`incr: ${result.err}`)
      return result.value ?? 'not found'
    }
  }
}

const data = workerData as HistoryWorkerData
const dict = SharedDict.attach(data.handle)
const rand = random(data.seed + data.index)
const { ticks } = data
const records: HistoryRecord[] = []
for (let round = 0; round < data.rounds; round++) {
  const arrived = Atomics.add(ticks, 1, 1) + 1
  const everyone = data.workers * (round + 1)
  if (arrived === everyone) Atomics.notify(ticks, 1)
  for (let seen = arrived; seen < everyone; seen = Atomics.load(ticks, 1)) Atomics.wait(ticks, 1, seen, 50)
  const keys = [0, 1, 2].map((k) => `${PREFIX}r${round}k${k}`)
  for (let i = 0; i < data.opsPerKey * keys.length; i++) {
    const key = keys[i % keys.length]!
    const input = pickInput(rand, (data.index + 1) * 1_000_000 + round * 1_000 + i)
    const call = Atomics.add(ticks, 0, 1)
    const output = run(dict, key, input)
    const ret = Atomics.add(ticks, 0, 1)
    records.push({ key, call, ret, input, output })
    // A pause of up to 20 µs: a round then outlasts the wake-ups from the
    // barrier, so the workers' operations really overlap.
    for (const until = performance.now() + rand() * 0.02; performance.now() < until; );
  }
}
parentPort!.postMessage(records)
