/**
 * Page swapping on a WorkerBus that relays to a RedisBus: two "hosts" of
 * this process (a SharedDict, a relaying WorkerBus and swap workers each)
 * on one real redis-server. A swap waits for the members of its own
 * WorkerBus; the answers the other host's members send back through
 * upstream are not theirs and must not count.
 */
import { describe, expect, it, onTestFinished } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { SharedDict, WorkerBus } from '../../src/index.js'
import { CACHE_EVENT_SOURCE, PAGE_SWITCHED_EVENT } from '../../src/pages/page-events.js'
import { readCurrentPage } from '../../src/pages/page-table.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'
import { StallSignal } from '../helpers/stall-signal.js'
import { settles, sleep } from '../helpers/ts-workers.js'
import { ScriptedWorker } from '../helpers/workers.js'
import type { SwapOutcome } from './workers/swap-worker.js'

const ENTRY = new URL('./workers/swap-worker.ts', import.meta.url)
const NAME = 'routes'
const KEYS = 10

describe.runIf(redisServerInstalled)('MLCache page swapping on a relaying WorkerBus', () => {
  const server = useRedisServer()
  let run = 0

  async function host(prefix: string, data: Record<string, unknown> = {}) {
    const upstream = new RedisBus({ url: server().url, prefix, heartbeatInterval: 200 })
    onTestFinished(() => upstream.close())
    await upstream.drain() // subscribed
    const dict = SharedDict.create({ size: '4m' })
    const bus = WorkerBus.create({ upstream })
    onTestFinished(() => bus.close())
    const shared = { dictHandle: dict.handle, busHandle: bus.handle, name: NAME, ...data }
    const workers = await Promise.all([0, 1].map(() => ScriptedWorker.start(ENTRY, shared)))
    return { dict, bus, workers }
  }

  async function committed(dict: SharedDict, page: number): Promise<void> {
    while (readCurrentPage(dict, NAME) !== page) await sleep(5)
  }

  it("swap() on a relaying bus waits for its own workers only: another host's relayed page-switched answers do not count", async () => {
    const prefix = `swaprelay${++run}:`
    const signal = new StallSignal()
    const a = await host(prefix, { stall: signal.buffer })
    const b = await host(prefix)
    const [first, second] = a.workers as [ScriptedWorker, ScriptedWorker]
    // The other host's three members (two workers, the main end) answer the flip through upstream.
    let relayedAnswers = 0
    const answered = new Promise<void>((resolve) => {
      a.bus.subscribe(CACHE_EVENT_SOURCE, PAGE_SWITCHED_EVENT, (_data, _event, _source, workerId) => {
        if (workerId === undefined && ++relayedAnswers === 3) resolve()
      })
    })
    await first.call('warmup', { generation: 1, count: KEYS })
    const stalled = second.call('stall')
    await signal.stalled(stalled)
    let settled = false
    const swapped = first.call<SwapOutcome>('swap', { generation: 2, count: KEYS }).finally(() => (settled = true))
    await committed(a.dict, 2)
    expect(await settles(answered)).toBe(true)
    // The stalled worker cannot have answered; the other host's answers were all handled here.
    expect(settled).toBe(false)
    signal.release()
    await stalled
    expect(await swapped).toEqual({ outcome: 'resolved', page: 2 })
    expect(await second.call('page')).toBe(2)
    // The other host has its own SharedDict: its pages did not move.
    for (const worker of b.workers) expect(await worker.call('page')).toBe(1)
  })
})
