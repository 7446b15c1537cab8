/**
 * A scripted WorkerBus member for the cross-thread bus tests: attaches to the
 * bus in `workerData.handle` (with the shared fake clock in
 * `workerData.clock`, if any), records every event it receives (blocking in
 * the handler of a `workerData.hold` source), says
 * `{ ready: true }`, then runs the commands the test posts (see
 * `test/helpers/workers.ts`), answering `{ id, result }` or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { WorkerBus, type WorkerBusHandle } from '../../../src/bus/worker-bus.js'
import { sharedFakeClock } from '../../helpers/fake-clock.js'
import { StallSignal } from '../../helpers/stall-signal.js'
import { answerCommands } from '../../helpers/worker-commands.js'

/** One handler call, as the tests compare them. */
export interface Received {
  source: string
  event: string
  data: unknown
  workerId: number | undefined
}

/** The outcome of one publish: `ok`, or the error's name and code. */
export type Outcome = { ok: true } | { ok: false; name: string; code: unknown }

interface Command {
  id: number
  op: 'info' | 'publish' | 'received' | 'waitFor' | 'drain' | 'stall' | 'close' | 'crash' | 'release'
  target?: string
  /** stall: when given, publish one event of this source right after the stall, before yielding. */
  source?: string
  event?: string
  data?: unknown
  /** publish: publish `count` events with data `{ i, ...data }`, awaiting each. */
  count?: number
  /** publish: start them all before awaiting any (a synchronous burst). */
  burst?: boolean
  /** publish with `count`: a unique target of its own per event, `${target}:${i}`. */
  distinct?: boolean
  /** drain: timeout. */
  ms?: number
}

const { handle, stall, clock, hold, pend } = workerData as {
  handle: WorkerBusHandle
  stall?: SharedArrayBuffer
  clock?: SharedArrayBuffer
  /** Blocks this thread inside the handler of the first event of `source` (a member dying mid-handler), until released. */
  hold?: { source: string; buffer: SharedArrayBuffer }
  /** The handler of an event of this source records it, then never settles (a handler awaiting a slow promise). */
  pend?: string
}
const bus = WorkerBus.attach(handle, clock === undefined ? {} : { clock: sharedFakeClock(0, clock).now })
const received: Received[] = []
/** The pending `waitFor` commands, each checked on every event. */
const onReceive = new Set<() => void>()
bus.subscribe('*', '*', (data, event, source, workerId) => {
  if (hold !== undefined && source === hold.source) new StallSignal(hold.buffer).block()
  received.push({ source, event, data, workerId })
  for (const check of onReceive) check()
  if (source === pend) return new Promise<void>(() => {})
})

async function publishOne(command: Command, data: unknown, target = command.target ?? 'all'): Promise<Outcome> {
  try {
    await bus.publish(target, command.source ?? 'test', command.event ?? 'e', data)
    return { ok: true }
  } catch (error) {
    return { ok: false, name: (error as Error).name, code: (error as { code?: unknown }).code }
  }
}

async function publish(command: Command): Promise<Outcome[]> {
  if (command.count === undefined) return [await publishOne(command, command.data)]
  const dataOf = (i: number) => ({ i, ...(command.data as object | undefined) })
  const targetOf = (i: number) => (command.distinct === true ? `${command.target}:${i}` : command.target)
  const indexes = Array.from({ length: command.count }, (_, i) => i)
  if (command.burst === true) return Promise.all(indexes.map((i) => publishOne(command, dataOf(i), targetOf(i))))
  const outcomes: Outcome[] = []
  for (const i of indexes) outcomes.push(await publishOne(command, dataOf(i), targetOf(i)))
  return outcomes
}

/** Resolves once `count` events of `source` (and `event`, if given) were received. */
function waitFor(command: Command): Promise<Received[]> {
  const matching = () =>
    received.filter((r) => r.source === command.source && (command.event === undefined || r.event === command.event))
  return new Promise((resolve) => {
    const check = () => {
      if (matching().length < (command.count ?? 1)) return
      onReceive.delete(check)
      resolve(matching())
    }
    onReceive.add(check)
    check()
  })
}

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'info':
      return { workerId: bus.workerId, workers: bus.workers(), reach: bus.reach }
    case 'publish':
      return publish(command)
    case 'received':
      return received
    case 'waitFor':
      return waitFor(command)
    case 'drain':
      await bus.drain(command.ms)
      return received
    case 'stall':
      // Blocks this thread, as a long synchronous task would, until the test releases the stall.
      if (stall === undefined) throw new Error('stall needs workerData.stall')
      new StallSignal(stall).block()
      // With a source: publish at once, before this member could read anything.
      return command.source === undefined ? undefined : publishOne(command, command.data)
    case 'close':
      await bus.close()
      await new Promise((resolve) => setImmediate(resolve))
      return process.getActiveResourcesInfo()
    case 'crash':
      setImmediate(() => {
        throw new Error('scripted crash')
      })
      return undefined
    case 'release':
      // Lets the thread end by itself once nothing else keeps it alive.
      setImmediate(() => parentPort?.unref())
      return undefined
  }
}

answerCommands(run)
