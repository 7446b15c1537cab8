/**
 * The publishing side of a RedisBus: stamps each frame with the member's
 * next sequence number at the moment it is sent, publishes it on the bus
 * channel through the RedisLink (bounded by `commandTimeout`, failing fast
 * while the circuit breaker is open), and holds frames until the member's
 * first subscription is in force, so that the publisher receives its own
 * `'all'` events.
 */
import { BusError } from '../errors.js'
import { describe } from '../internal/describe.js'
import { type RedisLink, RedisUnavailableError } from '../redis/redis-link.js'
import { encodeFrame, FRAME_SKIP, FRAME_UNIQUE, type FrameKind } from './redis-bus-wire.js'

/**
 * Publishes one frame. For a unique event (one key: the hash's window),
 * atomically: open the hash's `uniqueTimeout` window and publish the event,
 * or, if a window is running (lua-resty-events drops the duplicate),
 * publish a skip frame that uses up the same sequence number. The dedup
 * thus runs on Redis's clock, the same for every host.
 * KEYS[1] the hash's window, if any; ARGV: window (ms), channel, frame, skip frame.
 *
 * Every frame goes through this one script, never a bare PUBLISH: ioredis
 * writes a PUBLISH at once while a connection is past its handshake but not
 * ready yet, and queues an EVAL until it is, so mixing the two would let a
 * later frame overtake an earlier one. Plain EVAL, not EVALSHA: a NOSCRIPT
 * retry would also send that frame after the ones that followed it.
 */
const PUBLISH_SCRIPT = `if #KEYS == 0 or redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call('PUBLISH', ARGV[2], ARGV[3])
end
return redis.call('PUBLISH', ARGV[2], ARGV[4])`

interface HeldFrame {
  readonly kind: FrameKind
  readonly body: Uint8Array | undefined
  readonly uniqueKey: string | undefined
  readonly resolve: (seq: number) => void
  readonly reject: (error: unknown) => void
  readonly timer: NodeJS.Timeout
}

/** Sends one member's frames in order. */
export class FrameSender {
  readonly #link: RedisLink
  readonly #channel: string
  readonly #publisher: number
  readonly #uniqueTimeout: number
  #seq = 0
  #open = false
  #closed = false
  #held: HeldFrame[] = []
  #inFlight = 0

  /**
   * @param publisher - the member's `workerId`, written in every frame
   * @param uniqueTimeout - the dedup window of unique events (ms)
   */
  constructor(link: RedisLink, channel: string, publisher: number, uniqueTimeout: number) {
    this.#link = link
    this.#channel = channel
    this.#publisher = publisher
    this.#uniqueTimeout = uniqueTimeout
  }

  /** Frames held for the first subscription or sent and not answered yet. */
  get waiting(): number {
    return this.#held.length + this.#inFlight
  }

  /** Whether frames go out at once (the first subscription is in force). */
  get opened(): boolean {
    return this.#open
  }

  /**
   * Publishes a frame (a unique event through the dedup script, keyed by
   * `uniqueKey`); resolves with its sequence number once Redis has run it.
   * Before {@link FrameSender.open} the frame is held, in order, for up to
   * `commandTimeout`. A frame whose command failed has used up its sequence
   * number: receivers then see a gap, and resync.
   * @throws {BusError} (rejects) Redis failed, did not answer in time, or the breaker is open (`cause` says
   *   which); not subscribed within `commandTimeout`; the sender is closed
   */
  send(kind: FrameKind, body?: Uint8Array, uniqueKey?: string): Promise<number> {
    if (this.#closed) return Promise.reject(new BusError('bus is closed'))
    if (this.#open) return this.#transmit(kind, body, uniqueKey)
    return new Promise((resolve, reject) => {
      const timeout = this.#link.commandTimeout
      const timer = setTimeout(() => {
        this.#held = this.#held.filter((held) => held !== frame)
        const cause = new RedisUnavailableError(`the bus did not subscribe to Redis within ${timeout} ms`)
        reject(new BusError(`failed to publish event: ${cause.message}`, { cause }))
      }, timeout)
      const frame: HeldFrame = { kind, body, uniqueKey, resolve, reject, timer }
      this.#held.push(frame)
    })
  }

  /** The first subscription is in force: sends the held frames, in order, and every later one at once. */
  open(): void {
    if (this.#open || this.#closed) return
    this.#open = true
    for (const held of this.#held.splice(0)) {
      clearTimeout(held.timer)
      this.#transmit(held.kind, held.body, held.uniqueKey).then(held.resolve, held.reject)
    }
  }

  /** Refuses every later frame and rejects the held ones. */
  close(): void {
    this.#closed = true
    for (const held of this.#held.splice(0)) {
      clearTimeout(held.timer)
      held.reject(new BusError('bus is closed'))
    }
  }

  /**
   * Sends now. The sequence number is taken inside the link's call, which
   * runs only if the breaker lets it through: a refused call uses none.
   * ioredis sends the commands of one kind on one connection in call order
   * (see `PUBLISH_SCRIPT`) and Redis runs them in that order, so frames need
   * not wait for each other.
   */
  async #transmit(kind: FrameKind, body: Uint8Array | undefined, uniqueKey: string | undefined): Promise<number> {
    let seq = 0
    this.#inFlight++
    try {
      await this.#link.run((client) => {
        seq = ++this.#seq
        const frame = encodeFrame(kind, this.#publisher, seq, body)
        if (kind !== FRAME_UNIQUE) return client.eval(PUBLISH_SCRIPT, 0, 0, this.#channel, frame, '')
        const skip = encodeFrame(FRAME_SKIP, this.#publisher, seq)
        return client.eval(PUBLISH_SCRIPT, 1, uniqueKey as string, this.#uniqueTimeout, this.#channel, frame, skip)
      })
      return seq
    } catch (cause) {
      throw new BusError(`failed to publish event: ${describe(cause)}`, { cause })
    } finally {
      this.#inFlight--
    }
  }
}
