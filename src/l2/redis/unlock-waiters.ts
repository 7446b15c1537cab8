/**
 * The local side of `waitForUnlock`: callers waiting for a lock's release,
 * woken by the message `unlock` publishes on the store's release channel,
 * by their timeout, or, while that channel is not known to be subscribed,
 * by polling.
 *
 * The subscription is made once, lazily (on the first wait), on the link's
 * subscriber connection. Until Redis confirms it, and from the moment that
 * connection drops until it is confirmed again, a message could be missed:
 * every waiter is then woken every {@link POLL_INTERVAL} ms to try the lock
 * again (a spurious wake-up, which callers tolerate). While the
 * subscription holds, nobody polls.
 */
import type { Redis } from 'ioredis'
import type { RedisLink } from '../../redis/redis-link.js'

/** How often waiters are woken while the release channel is not known to be subscribed (ms). */
export const POLL_INTERVAL = 75

/** One caller of `waitForUnlock`. */
export interface UnlockWaiter {
  /** Resolves the caller's promise (once) and forgets the waiter. */
  wake(): void
  /** Wakes the caller after `ms` at the latest (the lock's lease ends then). */
  wakeWithin(ms: number): void
}

interface Waiter extends UnlockWaiter {
  timer: ReturnType<typeof setTimeout> | undefined
}

/** The waiters of one store, by lock key, and its subscription to the release channel. */
export class UnlockWaiters {
  readonly #link: RedisLink
  readonly #channel: string
  /** Waiters by the latin1 reading of their lock key's UTF-8 bytes (how messages arrive). */
  readonly #waiters = new Map<string, Set<Waiter>>()
  #subscriber: Redis | undefined
  #confirmed = false
  #pollTimer: ReturnType<typeof setInterval> | undefined
  #closed = false

  readonly #onMessage = (channel: Buffer, message: Buffer) => {
    if (channel.toString('utf8') !== this.#channel) return
    const waiters = this.#waiters.get(message.toString('latin1'))
    if (waiters !== undefined) for (const waiter of [...waiters]) waiter.wake()
  }
  readonly #onClose = () => {
    this.#confirmed = false
    this.#updatePolling()
  }
  readonly #onReady = () => {
    this.#subscribe()
  }

  constructor(link: RedisLink, channel: string) {
    this.#link = link
    this.#channel = channel
  }

  /**
   * Adds a waiter for the release of `lockKey`, woken after `timeout` ms at
   * the latest; answers it and the promise its caller awaits.
   */
  add(lockKey: string, timeout: number): { waiter: UnlockWaiter; woken: Promise<void> } {
    this.#ensureSubscriber()
    const id = Buffer.from(lockKey, 'utf8').toString('latin1')
    let set = this.#waiters.get(id)
    if (set === undefined) {
      set = new Set()
      this.#waiters.set(id, set)
    }
    const waiters = set
    let resolve!: () => void
    const woken = new Promise<void>((done) => {
      resolve = done
    })
    const waiter: Waiter = {
      timer: undefined,
      wake: () => {
        if (!waiters.delete(waiter)) return
        clearTimeout(waiter.timer)
        if (waiters.size === 0) this.#waiters.delete(id)
        this.#updatePolling()
        resolve()
      },
      wakeWithin: (ms) => {
        if (!waiters.has(waiter)) return
        clearTimeout(waiter.timer)
        waiter.timer = setTimeout(waiter.wake, ms)
      },
    }
    waiters.add(waiter)
    waiter.wakeWithin(timeout)
    this.#updatePolling()
    return { waiter, woken }
  }

  /** Wakes every waiter and stops listening (the link closes the subscriber connection). */
  close(): void {
    this.#closed = true
    for (const waiters of [...this.#waiters.values()]) for (const waiter of [...waiters]) waiter.wake()
    clearInterval(this.#pollTimer)
    this.#pollTimer = undefined
    const subscriber = this.#subscriber
    if (subscriber !== undefined) {
      subscriber.off('messageBuffer', this.#onMessage)
      subscriber.off('close', this.#onClose)
      subscriber.off('ready', this.#onReady)
    }
  }

  #ensureSubscriber(): void {
    if (this.#subscriber !== undefined || this.#closed) return
    const subscriber = this.#link.subscriber()
    this.#subscriber = subscriber
    subscriber.on('messageBuffer', this.#onMessage)
    subscriber.on('close', this.#onClose)
    // ioredis subscribes again by itself after a reconnect; asking again tells us when it is done.
    subscriber.on('ready', this.#onReady)
    this.#subscribe()
  }

  #subscribe(): void {
    const subscriber = this.#subscriber
    if (subscriber === undefined || this.#closed) return
    subscriber.subscribe(this.#channel).then(
      () => {
        // A reply that raced a disconnect does not count: 'close' came after it, or the status says so.
        if (this.#closed || subscriber.status !== 'ready') return
        this.#confirmed = true
        this.#updatePolling()
      },
      () => {
        // The connection failed; 'close' switched to polling and 'ready' will ask again.
      },
    )
  }

  /** Polls while someone waits and the subscription is not confirmed; stops otherwise. */
  #updatePolling(): void {
    const needed = !this.#confirmed && !this.#closed && this.#waiters.size > 0
    if (needed && this.#pollTimer === undefined) {
      this.#pollTimer = setInterval(() => {
        for (const waiters of [...this.#waiters.values()]) for (const waiter of [...waiters]) waiter.wake()
      }, POLL_INTERVAL)
    } else if (!needed && this.#pollTimer !== undefined) {
      clearInterval(this.#pollTimer)
      this.#pollTimer = undefined
    }
  }
}
