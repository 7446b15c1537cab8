import { describe, expect, it } from 'vitest'
import { checkLinearizable, type HistoryOp, type SequentialModel } from '../../helpers/linearizability.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, useTsWorkers } from '../../helpers/ts-workers.js'
import type { HistoryRecord, RegisterInput, RegisterOutput } from './workers/history-worker.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()

const HISTORY = new URL('./workers/history-worker.ts', import.meta.url)

/**
 * One SharedDict key as a sequential object: a register holding a number
 * or nothing, with lua_shared_dict's `get`/`set`/`delete`/`add`/`incr`.
 */
const dictKey: SequentialModel<number | undefined, RegisterInput, RegisterOutput> = {
  init: undefined,
  step(state, input, output) {
    switch (input.kind) {
      case 'get':
      case 'read':
        return output === state ? { ok: true, state } : { ok: false }
      case 'set':
        return { ok: true, state: input.value }
      case 'delete':
        return { ok: true, state: undefined }
      case 'add':
        return output === (state === undefined) ? { ok: true, state: state ?? input.value } : { ok: false }
      case 'incr': {
        const base = state ?? input.init
        const expected = base === undefined ? 'not found' : base + input.step
        return output === expected ? { ok: true, state: base === undefined ? state : base + input.step } : { ok: false }
      }
    }
  },
}

/** A plain register: writes carry a value, reads answer one. */
type RegisterOp = HistoryOp<{ write?: number }, number | undefined>
const register: SequentialModel<number, { write?: number }, number | undefined> = {
  init: 0,
  step: (state, input, output) =>
    input.write !== undefined ? { ok: true, state: input.write } : output === state ? { ok: true, state } : { ok: false },
}
const write = (call: number, ret: number, value: number): RegisterOp => ({ call, ret, input: { write: value }, output: undefined })
const read = (call: number, ret: number, value: number): RegisterOp => ({ call, ret, input: {}, output: value })

describe('the linearizability checker', () => {
  it('accepts a sequential legal history and answers the order', () => {
    const history = [write(0, 1, 1), read(2, 3, 1), write(4, 5, 2), read(6, 7, 2)]
    expect(checkLinearizable(history, register)).toEqual({ linearizable: true, order: history })
  })

  it('accepts overlapping operations that some order explains, and finds that order', () => {
    // The read overlaps both writes and sees the second; the last read must then see 2 too.
    const history = [write(0, 10, 1), write(1, 11, 2), read(2, 12, 2), read(13, 14, 2)]
    const result = checkLinearizable(history, register)
    expect(result.linearizable).toBe(true)
    if (result.linearizable) expect(result.order.map((op) => op.input.write ?? `r${op.output}`)).toEqual([1, 2, 'r2', 'r2'])
  })

  it('rejects a stale read after a completed write', () => {
    const history = [write(0, 1, 1), write(2, 3, 2), read(4, 5, 1)]
    const result = checkLinearizable(history, register)
    expect(result.linearizable).toBe(false)
    if (!result.linearizable) expect(result.longestPrefix).toEqual(history.slice(0, 2))
  })

  it('rejects reads that see two concurrent writes in opposite orders (needs backtracking)', () => {
    const history = [write(0, 10, 1), write(1, 11, 2), read(12, 13, 1), read(14, 15, 2)]
    expect(checkLinearizable(history, register).linearizable).toBe(false)
    // Either order alone is fine.
    expect(checkLinearizable(history.slice(0, 3), register).linearizable).toBe(true)
    expect(checkLinearizable([...history.slice(0, 2), history[3]!], register).linearizable).toBe(true)
  })

  it('lets an operation that never returned take effect at any point after its call, or not at all', () => {
    expect(checkLinearizable([write(0, Infinity, 1), read(5, 6, 0), read(7, 8, 1)], register).linearizable).toBe(true)
    expect(checkLinearizable([write(0, Infinity, 1), read(5, 6, 0)], register).linearizable).toBe(true)
    expect(checkLinearizable([write(0, Infinity, 1), read(5, 6, 1), read(7, 8, 0)], register).linearizable).toBe(false)
  })

  it('checks the SharedDict key model: add and incr answers must agree with the register', () => {
    const op = (call: number, input: RegisterInput, output: RegisterOutput): HistoryOp<RegisterInput, RegisterOutput> => ({
      call,
      ret: call + 1,
      input,
      output,
    })
    const legal = [
      op(0, { kind: 'incr', step: 1, init: undefined }, 'not found'),
      op(2, { kind: 'add', value: 5 }, true),
      op(4, { kind: 'add', value: 6 }, false),
      op(6, { kind: 'incr', step: 2, init: 0 }, 7),
      op(8, { kind: 'delete' }, undefined),
      op(10, { kind: 'incr', step: 2, init: 0 }, 2),
      op(12, { kind: 'get' }, 2),
    ]
    expect(checkLinearizable(legal, dictKey).linearizable).toBe(true)
    const lostAdd = [op(0, { kind: 'add', value: 5 }, true), op(2, { kind: 'add', value: 6 }, true)]
    expect(checkLinearizable(lostAdd, dictKey).linearizable).toBe(false)
  })
})

/** Runs the history workers once on a fresh dict and answers every operation they recorded. */
async function recordHistory(workerCount: number, seed: number): Promise<HistoryRecord[]> {
  const dict = dicts.create({ size: '1m' })
  const ticks = new Int32Array(new SharedArrayBuffer(8))
  const common = { handle: dict.handle, workers: workerCount, rounds: 20, opsPerKey: 20, ticks, seed }
  const started = Array.from({ length: workerCount }, (_, index) => workers.spawn(HISTORY, { ...common, index }))
  try {
    return (await Promise.all(started.map((worker) => nextMessage<HistoryRecord[]>(worker)))).flat()
  } finally {
    await Promise.all(started.map((worker) => worker.terminate()))
  }
}

/** How many operations overlap in time with an operation of another thread. */
function countOverlapping(records: HistoryRecord[]): number {
  return records.filter((a) => records.some((b) => b !== a && b.call < a.ret && a.call < b.ret)).length
}

describe('SharedDict under concurrent workers', () => {
  it('get/set/delete/add/incr and lock-free readEntryInto on shared keys are linearizable, key by key', async () => {
    // On a busy 2-core machine the scheduler sometimes runs the workers one
    // at a time, and a history without overlapping operations proves
    // little: try again (up to 3 times) until operations did overlap.
    let overlapping = 0
    for (let attempt = 0; attempt < 3 && overlapping === 0; attempt++) {
      const seed = Math.floor(Math.random() * 2 ** 31)
      const records = await recordHistory(3, seed)
      const byKey = new Map<string, HistoryRecord[]>()
      for (const record of records) byKey.set(record.key, [...(byKey.get(record.key) ?? []), record])
      expect(byKey.size).toBe(60)
      for (const [key, history] of byKey) {
        expect(history).toHaveLength(60)
        const result = checkLinearizable(history, dictKey)
        expect(result.linearizable, `key ${key}, seed ${seed}: ${JSON.stringify(history)}`).toBe(true)
      }
      overlapping = countOverlapping(records)
    }
    expect(overlapping, 'no two operations ever overlapped').toBeGreaterThan(0)
  })
})
