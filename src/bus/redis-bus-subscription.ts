/**
 * The subscriber side of a RedisBus: keeps its connection subscribed to the
 * bus channel and says when a subscription starts, the first time or again
 * after the connection was lost. Pub/sub is at-most-once: whatever was
 * published while the connection was down (a restart, `CLIENT KILL TYPE
 * pubsub`, the output buffer limit kicking a slow subscriber) is gone, so
 * every subscription after the first one must be reported, and the bus
 * delivers its resync event then.
 */
import type { Redis } from 'ioredis'

/** What a {@link ChannelSubscription} reports. */
export interface SubscriptionListener {
  /**
   * The channel is subscribed (the server confirmed it): the first time
   * (`again` false), or again after the connection was lost (`again` true).
   */
  subscribed(again: boolean): void
  /** A message on the channel. */
  message(bytes: Buffer): void
}

/**
 * Subscribes `subscriber` to one channel and keeps it subscribed.
 *
 * ioredis re-subscribes by itself when it reconnects (`autoResubscribe`),
 * but tells nobody when the server has confirmed it: its `'ready'` event
 * comes before. So on every `'ready'` this sends its own SUBSCRIBE too
 * (subscribing twice is harmless) and reports once that reply arrives:
 * commands of one connection run in order, so by then the subscription is
 * in force and nothing published later can be missed. A SUBSCRIBE that
 * fails (the connection dropped again) is retried at the next `'ready'`.
 */
export class ChannelSubscription {
  readonly #subscriber: Redis
  readonly #channel: string
  readonly #listener: SubscriptionListener
  #subscribedOnce = false
  /** The connection closed since the last confirmed subscription. */
  #lost = false
  #closed = false

  readonly #onMessage = (channel: Buffer, message: Buffer): void => {
    if (!this.#closed && channel.toString() === this.#channel) this.#listener.message(message)
  }
  readonly #onClose = (): void => {
    if (this.#subscribedOnce) this.#lost = true
  }
  readonly #onReady = (): void => this.#subscribe()

  /** Starts subscribing; `subscriber` must be a connection of its own (it enters subscriber mode). */
  constructor(subscriber: Redis, channel: string, listener: SubscriptionListener) {
    this.#subscriber = subscriber
    this.#channel = channel
    this.#listener = listener
    subscriber.on('messageBuffer', this.#onMessage)
    subscriber.on('close', this.#onClose)
    subscriber.on('ready', this.#onReady)
    this.#subscribe()
  }

  /** Stops reporting; the connection itself is closed by its owner. */
  close(): void {
    this.#closed = true
    this.#subscriber.off('messageBuffer', this.#onMessage)
    this.#subscriber.off('close', this.#onClose)
    this.#subscriber.off('ready', this.#onReady)
  }

  #subscribe(): void {
    this.#subscriber.subscribe(this.#channel).then(
      () => {
        if (this.#closed) return
        if (!this.#subscribedOnce) {
          this.#subscribedOnce = true
          this.#listener.subscribed(false)
        } else if (this.#lost) {
          this.#lost = false
          this.#listener.subscribed(true)
        }
      },
      () => {
        // The connection failed: ioredis reconnects, and its next 'ready' subscribes again.
      },
    )
  }
}
