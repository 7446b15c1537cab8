/**
 * The wake-ups of `RedisStore.waitForUnlock`. Redis has no futex: a waiter
 * in another process learns of a release from a message. `unlock` publishes
 * the lock's key on the store's release channel when the lock was marked as
 * waited for; this module subscribes once (lazily, on the link's own
 * subscriber connection) and wakes the local waiters of that key.
 *
 * A wait never misses a release while the subscription works: the waiter
 * registers locally, then marks the lock (one script); a release before the
 * mark leaves no lock to mark and the wait ends at once, a release after it
 * is published to a subscription that was confirmed before.
 *
 * When messages cannot be trusted (the subscription is not confirmed yet,
 * or its connection dropped), waiters poll instead: each wait ends after
 * {@link POLL_INTERVAL} at the latest, and the caller tries the lock again
 * (lua-resty-lock itself only ever polled). Waking early is always allowed;
 * waking late is bounded by the wait's timeout and by the lock's lease.
 */
import type { Redis } from 'ioredis'
import type { RedisLink } from '../../redis/redis-link.js'
import { MAX_TIMER_MS } from '../../internal/validate.js'

/** How long a wait lasts at most while release messages cannot be trusted (ms). */
export const POLL_INTERVAL = 100

/** The local waiters of one store, woken by the release messages of its prefix. */
export class UnlockWaiters {
  readonly #link: RedisLink
  readonly #channel: string
  /** The wake-ups of each waited-for lock, by the lock's Redis key. */
  readonly #waiters = new Map<string, Set<() => void>>()
  #subscriber: Redis | undefined
  /** `'on'` once Redis confirmed the subscription and until its connection drops. */
  #state: 'off' | 'subscribing' | 'on' = 'off'
  /** Which subscription attempt is current: a late answer to an older one changes nothing. */
  #attempt = 0
  #closed = false

  readonly #onMessage = (channel: string, lockKey: string): void => {
    if (channel !== this.#channel) return
    const wakes = this.#waiters.get(lockKey)
    if (wakes === undefined) return
    for (const wake of [...wakes]) wake()
  }

  readonly #onLost = (): void => {
    // Releases published while the connection is down are lost: let every
    // waiter try its lock again now, and poll until subscribed again.
    this.#state = 'off'
    this.#attempt += 1
    this.#wakeAll()
  }

  /**
   * @param link - whose subscriber connection carries the messages
   * @param channel - the release channel (`${prefix}unlock`)
   */
  constructor(link: RedisLink, channel: string) {
    this.#link = link
    this.#channel = channel
  }

  /**
   * Resolves when a release of `lockKey` is announced, when `watch` says no
   * lock is held or once the lease it answers has run out, after `timeout`
   * ms, or after {@link POLL_INTERVAL} while messages cannot be trusted;
   * never rejects.
   * @param watch - marks the lock as waited for; answers the ms left of its
   *   lease, `0` if it is not held, `-1` if it has no lease
   */
  wait(lockKey: string, timeout: number, watch: () => Promise<number>): Promise<void> {
    return new Promise<void>((resolve) => {
      const deadline = performance.now() + timeout
      let timer: ReturnType<typeof setTimeout> | undefined
      const wake = (): void => {
        clearTimeout(timer)
        this.#remove(lockKey, wake)
        resolve()
      }
      /** Ends the wait after `ms`, or at the deadline if sooner. */
      const wakeWithin = (ms: number): void => {
        clearTimeout(timer)
        timer = setTimeout(wake, Math.min(ms, Math.max(0, deadline - performance.now()), MAX_TIMER_MS))
      }
      if (this.#closed || timeout <= 0) {
        resolve()
        return
      }
      this.#add(lockKey, wake)
      wakeWithin(timeout)
      if (this.#state !== 'on') {
        this.#subscribe()
        wakeWithin(POLL_INTERVAL)
        return
      }
      watch().then(
        (left) => {
          if (left === 0) wake()
          // The lease ends on Redis's clock: a timer a millisecond past it wakes at worst a little early.
          else if (left > 0) wakeWithin(left + 1)
        },
        () => {
          // The lock could not be marked, so its release may go unannounced: poll.
          wakeWithin(POLL_INTERVAL)
        },
      )
    })
  }

  /** Wakes every waiter and stops listening; the link closes the connection. */
  close(): void {
    this.#closed = true
    this.#attempt += 1
    this.#wakeAll()
    const subscriber = this.#subscriber
    if (subscriber !== undefined) {
      subscriber.off('message', this.#onMessage)
      subscriber.off('close', this.#onLost)
    }
  }

  /** Subscribes to the release channel unless that is done or under way. Never rejects. */
  #subscribe(): void {
    if (this.#state !== 'off' || this.#closed) return
    let subscriber = this.#subscriber
    if (subscriber === undefined) {
      subscriber = this.#link.subscriber()
      subscriber.on('message', this.#onMessage)
      subscriber.on('close', this.#onLost)
      this.#subscriber = subscriber
    }
    this.#state = 'subscribing'
    const attempt = ++this.#attempt
    const settled = (state: 'on' | 'off') => {
      if (attempt === this.#attempt) this.#state = state
    }
    // Bounded like a command, but apart from the link's breaker: a slow
    // subscriber connection says nothing about the command connection.
    let timer: ReturnType<typeof setTimeout> | undefined
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('SUBSCRIBE timed out')), this.#link.commandTimeout)
    })
    Promise.race([subscriber.subscribe(this.#channel), timedOut])
      .then(
        () => settled('on'),
        () => settled('off'),
      )
      .finally(() => clearTimeout(timer))
  }

  #add(lockKey: string, wake: () => void): void {
    let wakes = this.#waiters.get(lockKey)
    if (wakes === undefined) {
      wakes = new Set()
      this.#waiters.set(lockKey, wakes)
    }
    wakes.add(wake)
  }

  #remove(lockKey: string, wake: () => void): void {
    const wakes = this.#waiters.get(lockKey)
    if (wakes === undefined) return
    wakes.delete(wake)
    if (wakes.size === 0) this.#waiters.delete(lockKey)
  }

  #wakeAll(): void {
    for (const wakes of [...this.#waiters.values()]) {
      for (const wake of [...wakes]) wake()
    }
  }
}
