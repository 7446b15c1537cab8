/**
 * One RedisStore's or RedisBus's connections to Redis, and the rules that
 * keep an outage from hanging anyone:
 *
 * - **Every command is bounded** by `commandTimeout`: its promise settles by
 *   then whatever the socket does (a paused server leaves a TCP connection
 *   that accepts commands and never answers).
 * - **A circuit breaker** stops calling a server that failed: after a
 *   timeout or a connection error, calls fail at once with
 *   {@link RedisUnavailableError} instead of piling up in a queue, while one
 *   `PING` at a time probes the server; the first answer closes the breaker.
 * - **Recovery is announced**: once the server answers again after an
 *   outage (the breaker closed, or the connection came back), the
 *   `onRecovered` listeners run, so that MLCache clears its L1 (writes and
 *   invalidations may have been lost meanwhile).
 *
 * A caller's client (`{ client }`) is used as is and never closed; the
 * extra subscriber connection is always a `duplicate()` this link owns.
 */
import type { Redis, RedisOptions } from 'ioredis'
import { describe } from '../internal/describe.js'
import { raceTimer } from '../internal/race-timer.js'
import { assertKnownOptions, assertOptionsObject, assertTimerDuration } from '../internal/validate.js'
import { loadIoredis } from './load-ioredis.js'

/** The prefix of every key and channel when none is given. */
const DEFAULT_PREFIX = 'mlcache:'
/** How long a Redis call may take before it fails (ms). */
const DEFAULT_COMMAND_TIMEOUT = 1_000
/** The longest pause between two probes of a server behind an open breaker (ms). */
const MAX_PROBE_INTERVAL = 1_000
/** The shortest pause between two probes (ms). */
const MIN_PROBE_INTERVAL = 50

/** Where a RedisStore or RedisBus connects: a URL, or a caller's ioredis client. */
export type RedisConnection = { url: string; client?: undefined } | { client: Redis; url?: undefined }

/** The options every Redis class takes besides its connection. */
export interface RedisLinkOptions {
  /**
   * Prepended to every Redis key and channel: two prefixes on one server
   * never see each other.
   * @defaultValue `'mlcache:'`
   */
  prefix?: string
  /**
   * How long one Redis call may take, in milliseconds, before it fails (and
   * the circuit breaker opens).
   * @defaultValue 1000
   */
  commandTimeout?: number
}

/** A call refused or abandoned because Redis did not answer: a timeout, a lost connection, or an open breaker. */
export class RedisUnavailableError extends Error {
  override readonly name = 'RedisUnavailableError'
}

/** The options of clients a link makes from a URL: fail fast, reconnect gently. */
const OWNED_CLIENT_OPTIONS: RedisOptions = {
  // A command caught by a disconnect fails at the first reconnect attempt instead of being replayed later.
  maxRetriesPerRequest: 1,
  // Reconnect with a backoff capped at one second: no reconnect storm against a dead server.
  retryStrategy: (times: number) => Math.min(times * 50, MAX_PROBE_INTERVAL),
  // Announced by the link's own listener, never as an unhandled 'error' event.
  lazyConnect: false,
}

/**
 * Validates the connection part of a Redis class's options.
 * @param known - every option name the class accepts
 * @throws {TypeError | RangeError} naming the option
 */
export function resolveLinkOptions(
  options: unknown,
  known: ReadonlySet<string>,
): { connection: RedisConnection; prefix: string; commandTimeout: number } {
  if (options === undefined || options === null) throw new TypeError('options must be an object with a url or a client')
  assertOptionsObject(options)
  assertKnownOptions(options, known)
  const { url, client, prefix = DEFAULT_PREFIX, commandTimeout = DEFAULT_COMMAND_TIMEOUT } = options as RedisLinkOptions & { url?: unknown; client?: unknown }
  if ((url === undefined) === (client === undefined)) throw new TypeError('options must have exactly one of url and client')
  if (url !== undefined && (typeof url !== 'string' || url === '')) throw new TypeError('options.url must be a non-empty string')
  if (client !== undefined && (typeof client !== 'object' || client === null || typeof (client as Redis).duplicate !== 'function')) {
    throw new TypeError('options.client must be an ioredis client')
  }
  if (typeof prefix !== 'string') throw new TypeError('options.prefix must be a string')
  assertTimerDuration(commandTimeout, 'options.commandTimeout')
  if (commandTimeout === 0) throw new RangeError('options.commandTimeout must be > 0')
  const connection = (url !== undefined ? { url } : { client }) as RedisConnection
  return { connection, prefix, commandTimeout }
}

/** A command connection with a timeout and a circuit breaker, and a subscriber connection made on demand. */
export class RedisLink {
  /** The command connection. */
  readonly client: Redis
  readonly commandTimeout: number
  readonly #owned: boolean
  readonly #probeInterval: number
  #subscriber: Redis | undefined
  /** Why the breaker is open, `undefined` while it is closed. */
  #openedBy: unknown = undefined
  #probeTimer: ReturnType<typeof setTimeout> | undefined
  /** Set by a failure or a lost connection, cleared when recovery is announced. */
  #outage = false
  #closed = false
  readonly #listeners = new Set<() => void>()
  readonly #onClientClose = () => {
    this.#outage = true
  }
  readonly #onClientReady = () => {
    if (this.#openedBy === undefined) this.#recovered()
  }
  readonly #onOwnedError = () => {
    // Reported through the calls that fail; ioredis reconnects by itself.
  }

  constructor(connection: RedisConnection, commandTimeout: number) {
    this.commandTimeout = commandTimeout
    this.#probeInterval = Math.min(MAX_PROBE_INTERVAL, Math.max(MIN_PROBE_INTERVAL, commandTimeout))
    if (connection.client !== undefined) {
      this.client = connection.client
      this.#owned = false
    } else {
      this.client = new (loadIoredis())(connection.url, { ...OWNED_CLIENT_OPTIONS, disconnectTimeout: commandTimeout })
      this.#owned = true
      this.client.on('error', this.#onOwnedError)
    }
    this.client.on('close', this.#onClientClose)
    this.client.on('ready', this.#onClientReady)
  }

  /** Whether calls are being let through (the breaker is closed). */
  get available(): boolean {
    return this.#openedBy === undefined && !this.#closed
  }

  /**
   * Runs one Redis call within `commandTimeout`.
   * @throws {RedisUnavailableError} (rejects) the breaker is open, the call timed out or the connection failed
   * @throws the server's reply error (a script error...), which leaves the breaker closed
   */
  run<T>(call: (client: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new RedisUnavailableError('the Redis connection is closed'))
    if (this.#openedBy !== undefined) {
      return Promise.reject(new RedisUnavailableError(`Redis is unavailable (${describe(this.#openedBy)}); calls resume once it answers a probe`, { cause: this.#openedBy }))
    }
    return this.#bounded(call(this.client)).catch((error: unknown) => {
      if (isConnectionFailure(error)) this.#open(error)
      throw error instanceof RedisUnavailableError || !isConnectionFailure(error) ? error : new RedisUnavailableError(`Redis failed: ${describe(error)}`, { cause: error })
    })
  }

  /**
   * The subscriber connection, made on first use as a `duplicate()` of the
   * command connection and closed by {@link RedisLink.close}. It does not
   * resubscribe by itself after a reconnect: its user subscribes again on
   * `'ready'` (or when next needed).
   */
  subscriber(): Redis {
    if (this.#subscriber === undefined) {
      this.#subscriber = this.client.duplicate({
        // ioredis leaves a `disconnectTimeout` timer behind when it closes a connection whose socket is
        // already gone; close() waits one commandTimeout for such a connection, so this timer has run by then.
        disconnectTimeout: this.commandTimeout,
        // ioredis resubscribes on 'ready' without handling the command's rejection: a server dying right
        // then would leave an unhandled rejection. The subscriber's owner subscribes again itself.
        autoResubscribe: false,
      })
      this.#subscriber.on('error', this.#onOwnedError)
    }
    return this.#subscriber
  }

  /**
   * Calls `listener` each time Redis answers again after an outage. Answers
   * the function that removes it.
   */
  onRecovered(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => {
      this.#listeners.delete(listener)
    }
  }

  /** Stops probing and closes the connections this link made; a caller's client stays open. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#probeTimer)
    this.#listeners.clear()
    this.client.off('close', this.#onClientClose)
    this.client.off('ready', this.#onClientReady)
    const owned = [this.#owned ? this.client : undefined, this.#subscriber].filter((client) => client !== undefined)
    await Promise.all(owned.map((client) => quit(client, this.commandTimeout)))
  }

  /** Settles like `promise`, or rejects with {@link RedisUnavailableError} after `commandTimeout`. */
  #bounded<T>(promise: Promise<T>): Promise<T> {
    return raceTimer(promise, this.commandTimeout, () => {
      throw new RedisUnavailableError(`Redis did not answer within ${this.commandTimeout} ms`)
    })
  }

  /** Opens the breaker (once) and starts probing. */
  #open(cause: unknown): void {
    this.#outage = true
    if (this.#openedBy !== undefined || this.#closed) return
    this.#openedBy = cause
    this.#scheduleProbe()
  }

  #scheduleProbe(): void {
    this.#probeTimer = setTimeout(() => {
      this.#bounded(this.client.ping()).then(
        () => {
          if (this.#closed) return
          this.#openedBy = undefined
          this.#recovered()
        },
        () => {
          if (!this.#closed) this.#scheduleProbe()
        },
      )
    }, this.#probeInterval)
    // A probe alone never keeps the process alive.
    this.#probeTimer.unref()
  }

  /** Announces a recovery once per outage. */
  #recovered(): void {
    if (!this.#outage || this.#closed) return
    this.#outage = false
    for (const listener of this.#listeners) {
      try {
        listener()
      } catch (error) {
        process.emitWarning(`a Redis recovery listener failed: ${describe(error)}`, { type: 'MLCacheRedisWarning' })
      }
    }
  }
}

/**
 * Whether a failed call says the server is unreachable (a timeout, a closed
 * or unwritable connection, retries exhausted) rather than that it refused
 * the command: only the former opens the breaker. A server that is loading
 * its data or busy running a script is unreachable too.
 */
function isConnectionFailure(error: unknown): boolean {
  if (error instanceof RedisUnavailableError) return true
  if (!(error instanceof Error)) return false
  if (error.name === 'ReplyError') return /^(LOADING|BUSY|MASTERDOWN)\b/.test(error.message)
  return true
}

/**
 * Closes a connection politely, or drops it if the server does not answer
 * within `timeout`, and waits until it has ended (at most `timeout` more: a
 * connection between two reconnect attempts has no socket left to emit
 * `'end'`, and is over once its reconnect timer is cleared).
 */
async function quit(client: Redis, timeout: number): Promise<void> {
  if (client.status === 'end') return
  let timer: ReturnType<typeof setTimeout> | undefined
  const ended = new Promise<void>((resolve) => {
    client.once('end', () => resolve())
    if (client.status === 'ready') {
      client.quit().catch(() => client.disconnect())
      timer = setTimeout(() => {
        client.disconnect()
        timer = setTimeout(resolve, timeout)
      }, timeout)
    } else {
      client.disconnect()
      timer = setTimeout(resolve, timeout)
    }
  })
  await ended
  clearTimeout(timer)
}
