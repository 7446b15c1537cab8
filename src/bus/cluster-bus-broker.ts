/**
 * The broker of a ClusterBus, in the primary: lua-resty-events' broker
 * process, with node:cluster's IPC channels in place of its unix socket.
 * It routes the events of every member (the primary's own end included)
 * and announces members joining and leaving.
 */
import cluster, { type Worker } from 'node:cluster'
import { WORKER_SOURCE } from './event-bus.js'
import { readBusClock, type ResolvedBusOptions } from './bus-options.js'
import { MemberQueue } from './cluster-bus-member-queue.js'
import { fromWire, isCurrentWire, tagged, toWire, type ToBroker, type ToMember, wireLength } from './cluster-bus-wire.js'
import { decodeEvent, encodeEvent } from './payload.js'
import { UniqueDedup } from './unique-dedup.js'
import { BusError } from '../errors.js'

/** The primary's member. */
export const PRIMARY_WORKER_ID = 0

/** The broker open in this process, if any: two would both answer every worker. */
let openBroker: ClusterBroker | undefined

/**
 * Routes messages between members: `'all'` to every member (the publisher
 * included), a unique hash to one (the publisher, or the lowest live
 * `workerId` if it has left) unless that hash was routed within
 * `uniqueTimeout`. Each member has a {@link MemberQueue}. A worker process
 * is a member from its `hello` to its `bye` (`close()`), or until cluster
 * reports it gone: `'disconnect'` before a `bye`, or `'exit'` with a signal
 * or a non-zero code, make an `'exit'` with `crashed: true`.
 */
export class ClusterBroker {
  readonly #options: ResolvedBusOptions
  readonly #dedup: UniqueDedup
  readonly #members = new Map<number, MemberQueue>()
  #closed = false

  /**
   * Starts listening to cluster's events and joins the primary's member.
   * @param local - delivers a message to the primary's member
   * @throws {Error} another ClusterBus is open in this process
   */
  constructor(options: ResolvedBusOptions, local: (message: ToMember) => void) {
    if (openBroker !== undefined) throw new Error('ClusterBus.create(): a ClusterBus is already open in this primary; close it first')
    openBroker = this
    this.#options = options
    this.#dedup = new UniqueDedup(options.uniqueTimeout)
    cluster.on('message', this.#onMessage)
    cluster.on('disconnect', this.#onDisconnect)
    cluster.on('exit', this.#onExit)
    this.#join(PRIMARY_WORKER_ID, local)
    // Workers forked (and attached) before this broker existed said hello to nobody.
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (worker !== undefined) sendTo(worker, { k: 'ready' })
    }
  }

  /** The live members' ids, ascending. */
  ids(): number[] {
    return [...this.#members.keys()].sort((a, b) => a - b)
  }

  /** Handles a message of member `from` (the primary's member calls this directly). */
  receive(from: number, message: ToBroker, worker?: Worker): void {
    if (this.#closed) return
    if (message.k === 'hello') {
      if (worker !== undefined && !this.#members.has(from)) this.#join(from, (reply) => sendTo(worker, reply))
      return
    }
    const queue = this.#members.get(from)
    if (queue === undefined) return // not (or no longer) a member: its late messages are dropped
    switch (message.k) {
      case 'pub':
        return this.#route(from, message.t, message.b)
      case 'ack':
        return queue.acknowledge(message.n)
      case 'drain':
        return queue.mark(message.id)
      case 'bye':
        return this.#leave(from, false)
    }
  }

  /** Closes the broker: every worker member hears the primary's `'exit'`, then `closed`. */
  close(): void {
    if (this.#closed) return
    this.#members.delete(PRIMARY_WORKER_ID)
    const exit = lifecycle('exit', PRIMARY_WORKER_ID, false)
    for (const queue of this.#members.values()) {
      queue.control({ k: 'members', ids: [] })
      queue.event({ k: 'ev', w: PRIMARY_WORKER_ID, b: exit })
      queue.control({ k: 'closed' })
    }
    this.#members.clear()
    this.#closed = true
    this.#dedup.clear()
    cluster.off('message', this.#onMessage)
    cluster.off('disconnect', this.#onDisconnect)
    cluster.off('exit', this.#onExit)
    if (openBroker === this) openBroker = undefined
  }

  #route(from: number, target: string, payload: string): void {
    if (wireLength(payload) > this.#options.maxPayloadLen) return this.#reportTooLarge(payload)
    const message = { k: 'ev', w: from, b: payload } as const
    if (target === 'all') {
      for (const queue of this.#members.values()) queue.event(message)
      return
    }
    if (!this.#dedup.claim(target, readBusClock(this.#options.clock))) return
    const to = this.#members.get(from) ?? this.#members.get(this.ids()[0] ?? -1)
    to?.event(message)
  }

  #join(id: number, send: (message: ToMember) => void): void {
    const queue = new MemberQueue(send, this.#options.maxQueueLen)
    this.#members.set(id, queue)
    const ids = this.ids()
    queue.control({ k: 'welcome', ids })
    const start = lifecycle('start', id, false)
    for (const [other, otherQueue] of this.#members) {
      if (other === id) continue // a member never receives its own 'start'
      otherQueue.control({ k: 'members', ids })
      otherQueue.event({ k: 'ev', w: id, b: start })
    }
  }

  /** A clean leave is announced under the leaver's id, a crash under the primary's (which saw it). */
  #leave(id: number, crashed: boolean): void {
    if (!this.#members.delete(id)) return
    const ids = this.ids()
    const exit = lifecycle('exit', id, crashed)
    for (const queue of this.#members.values()) {
      queue.control({ k: 'members', ids })
      queue.event({ k: 'ev', w: crashed ? PRIMARY_WORKER_ID : id, b: exit })
    }
  }

  #reportTooLarge(payload: string): void {
    let names = { source: WORKER_SOURCE, event: 'publish' }
    try {
      const { source, event } = decodeEvent(fromWire(payload))
      names = { source, event }
    } catch {
      // unreadable as well: reported under the generic names
    }
    const error = new BusError(`event from a worker dropped: payload exceeds the limitation (${this.#options.maxPayloadLen})`)
    this.#options.onError(error, names)
  }

  readonly #onMessage = (worker: Worker, message: unknown): void => {
    if (isCurrentWire(message)) this.receive(worker.id, message as ToBroker, worker)
  }

  /** The channel closed before a `bye`: the member did not close its bus. */
  readonly #onDisconnect = (worker: Worker): void => {
    this.#leave(worker.id, true)
  }

  readonly #onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    this.#leave(worker.id, signal !== null || code !== 0)
  }
}

/** Writes to a worker; a channel that closed meanwhile is reported by cluster's `'disconnect'`, not here. */
function sendTo(worker: Worker, message: ToMember): void {
  if (!worker.isConnected()) return
  try {
    worker.send(tagged(message), (error: Error | null) => void error)
  } catch {
    // closed between the check and the write: 'disconnect' follows
  }
}

/** A `'worker'` lifecycle event, encoded; never limited by `maxPayloadLen`. */
function lifecycle(event: 'start' | 'exit', workerId: number, crashed: boolean): string {
  return toWire(encodeEvent(WORKER_SOURCE, event, { workerId, crashed }, Number.MAX_SAFE_INTEGER))
}
