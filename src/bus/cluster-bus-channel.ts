/**
 * How a ClusterBus member talks to the broker: over the cluster IPC
 * channel from a worker process (`process.send`), or by direct calls from
 * the primary's own member.
 */
import cluster from 'node:cluster'
import { isCurrentWire, tagged, type ToBroker, type ToMember } from './cluster-bus-wire.js'
import { BusError } from '../errors.js'

/** A member's end of its link to the broker. */
export interface ClusterChannel {
  /** Messages reach the broker inside `send` (the primary's member): nothing waits in the channel. */
  readonly direct: boolean
  /**
   * Hands a message to the broker; resolves once it is written.
   * @throws {BusError} (rejects) the channel is closed
   */
  send(message: ToBroker): Promise<void>
  /** Sends `hello` again (the broker started after this member attached). */
  hello(): void
  /** Stops listening; the member sends its `bye` first. */
  close(): void
}

/** What a channel reports to its member. */
export interface ChannelEvents {
  /** A message of the broker. */
  message(message: ToMember): void
  /** The channel closed (the primary died or disconnected this worker). */
  disconnect(): void
}

/**
 * Opens the channel of a worker process and says `hello`.
 * @throws {Error} this process is not a cluster worker
 */
export function openWorkerChannel(events: ChannelEvents): ClusterChannel {
  if (!cluster.isWorker || cluster.worker === undefined || process.send === undefined) {
    throw new Error('ClusterBus.attach() must be called in a cluster worker process (cluster.isWorker is false here); call ClusterBus.create() in the primary')
  }
  if (!process.connected) throw new Error('ClusterBus.attach(): the IPC channel to the primary is closed')
  const onMessage = (message: unknown): void => {
    if (isCurrentWire(message)) events.message(message as ToMember)
  }
  const onDisconnect = (): void => events.disconnect()
  process.on('message', onMessage)
  process.on('disconnect', onDisconnect)
  const send = (message: ToBroker): Promise<void> =>
    new Promise((resolve, reject) => {
      if (!process.connected || process.send === undefined) {
        reject(new BusError('the IPC channel to the primary is closed'))
        return
      }
      try {
        process.send(tagged(message), undefined, {}, (error: Error | null) => {
          if (error === null) resolve()
          else reject(new BusError('failed to publish event: the IPC channel to the primary failed', { cause: error }))
        })
      } catch (cause) {
        reject(new BusError('the IPC channel to the primary is closed', { cause }))
      }
    })
  send({ k: 'hello' }).catch(() => undefined)
  return {
    direct: false,
    send,
    hello: () => void send({ k: 'hello' }).catch(() => undefined),
    close() {
      process.off('message', onMessage)
      process.off('disconnect', onDisconnect)
    },
  }
}

/** The primary member's channel: direct calls into its broker, synchronous. */
export function directChannel(receive: (message: ToBroker) => void): ClusterChannel {
  return {
    direct: true,
    send(message) {
      receive(message)
      return Promise.resolve()
    },
    hello() {},
    close() {},
  }
}
