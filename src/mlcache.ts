/**
 * MLCache: lua-resty-mlcache for Node. L1 is this thread's LRU of live
 * values, L2 a store shared by every worker (a SharedDict by default), L3
 * the caller's loader, run once per key across every cache sharing the
 * lock store.
 */
import { Semaphore } from 'async-mutex'
import { BUS_RESYNC_EVENT, BUS_SOURCE, type EventBus } from './bus/event-bus.js'
import { LocalBus } from './bus/local-bus.js'
import { FLAG_NEGATIVE, FLAG_RESURRECTED, decodeValue, encodeValue, entryFlags } from './codec/codec.js'
import { ClosedError, DecodeError, L2Error, LoaderError, LockTimeoutError, NoMemoryError, SerializerError } from './errors.js'
import { describe } from './internal/describe.js'
import { MAX_KEY_BYTES, assertDuration, assertIntegerAtLeast, assertKey, assertOptionsObject } from './internal/validate.js'
import { L1Group, NEGATIVE, acquireL1Group } from './l1/l1-cache.js'
import type { L2Entry, L2Store, MaybePromise } from './l2/l2-store.js'
import { SharedDict } from './l2/shared-dict/shared-dict.js'
import { StatsCounters } from './stats.js'
import { acquireLoaderLock, newLockToken, releaseLoaderLock } from './l3/loader-lock.js'
import { DEFAULTS, type ResolvedOptions, mergeCallOptions, resolveCacheOptions } from './options.js'
import type {
  BulkOp,
  BulkResult,
  GetOptions,
  L1Store,
  Loader,
  LoaderContext,
  Lookup,
  MLCacheOptions,
  MLCacheStats,
  Peek,
  SetOptions,
} from './types.js'

/** The size of the private SharedDict a cache makes when no `store` is given. */
const DEFAULT_STORE_SIZE = '16m'
/** The bus source of MLCache's events (Kong used `"mlcache"` too). */
const BUS_EVENT_SOURCE = 'mlcache'
/** The longest key that needs no UTF-8 length check on the L1 fast path (a UTF-16 unit is at most 3 UTF-8 bytes). */
const FAST_KEY_LENGTH = Math.floor(MAX_KEY_BYTES / 3)

/** Payload of invalidation and purge events: `origin` is the L1 that already applied it. */
interface CacheEvent {
  key?: string
  origin: number
}

/** An L2 entry and its decoded value. */
class L2Read<V> {
  constructor(
    readonly entry: L2Entry,
    readonly value: V | undefined,
  ) {}

  get negative(): boolean {
    return (this.entry.flags & FLAG_NEGATIVE) !== 0
  }

  get resurrected(): boolean {
    return (this.entry.flags & FLAG_RESURRECTED) !== 0
  }
}

let defaultBus: LocalBus | undefined

const L2_METHODS = ['readEntry', 'writeEntry', 'deleteEntry', 'purgeNamespace', 'tryLock', 'unlock', 'waitForUnlock'] as const
const BUS_METHODS = ['publish', 'subscribe', 'unsubscribe', 'workers', 'close'] as const
const L1_METHODS = ['get', 'set', 'delete', 'clear'] as const

function assertImplements<T>(value: T, methods: readonly string[], name: string, what: string): T {
  for (const method of methods) {
    if (typeof (value as Record<string, unknown> | null)?.[method] !== 'function') {
      throw new TypeError(`${name} must be ${what} (missing ${method}())`)
    }
  }
  return value
}

function valueOf<V>(lookup: Lookup<V>): V | undefined {
  return lookup.value
}

/**
 * A multi-level cache. Create it once per worker and name (not per
 * request), like upstream: every instance of a name and store in a thread
 * shares one L1.
 *
 * @example
 * ```ts
 * const users = new MLCache<User>('users', { ttl: 60_000 })
 * const user = await users.get(id, (key) => db.findUser(key))
 * ```
 */
export class MLCache<V = unknown> {
  /** The namespace of this cache in L2, L1 and the bus. */
  readonly name: string
  readonly #options: ResolvedOptions<V>
  readonly #store: L2Store
  readonly #missStore: L2Store | undefined
  readonly #lockStore: L2Store
  readonly #bus: EventBus
  readonly #group: L1Group
  readonly #lru: L1Store
  readonly #invalidateEvent: string
  readonly #purgeEvent: string
  readonly #subscriptions: number[]
  readonly #stats: StatsCounters
  /** L1 hits, outside `#stats`: counting one on the hot path is a single increment of a field of `this`. */
  #l1Hits = 0
  #closed = false

  /**
   * @param name - namespaces the cache: two names never see each other's keys
   * @throws {TypeError | RangeError} a bad name or option
   */
  constructor(name: string, options?: MLCacheOptions<V>) {
    if (typeof name !== 'string') throw new TypeError('name must be a string')
    this.#options = resolveCacheOptions(options)
    const given = options ?? {}
    const clock = given.clock ?? Date.now
    this.name = name
    this.#store =
      given.store === undefined
        ? SharedDict.create({ size: DEFAULT_STORE_SIZE, clock })
        : assertImplements(given.store, L2_METHODS, 'options.store', 'an L2Store')
    this.#missStore =
      given.missStore === undefined ? undefined : assertImplements(given.missStore, L2_METHODS, 'options.missStore', 'an L2Store')
    this.#lockStore =
      given.lockStore === undefined ? this.#store : assertImplements(given.lockStore, L2_METHODS, 'options.lockStore', 'an L2Store')
    this.#bus = given.bus === undefined ? (defaultBus ??= new LocalBus()) : assertImplements(given.bus, BUS_METHODS, 'options.bus', 'an EventBus')
    const lru = given.lru === undefined ? undefined : assertImplements(given.lru, L1_METHODS, 'options.lru', 'an L1 store')
    this.#stats = new StatsCounters([this.#store, this.#missStore])
    this.#group = acquireL1Group(this.#store, name, given.lruSize ?? DEFAULTS.lruSize, clock, lru)
    this.#lru = this.#group.lru
    this.#invalidateEvent = `invalidate:${name}`
    this.#purgeEvent = `purge:${name}`
    this.#subscriptions = [
      this.#bus.subscribe(BUS_EVENT_SOURCE, this.#invalidateEvent, (data, _event, _source, workerId) => {
        const event = data as CacheEvent
        if (!this.#appliedHere(event, workerId) && typeof event.key === 'string') this.#lru.delete(event.key)
      }),
      this.#bus.subscribe(BUS_EVENT_SOURCE, this.#purgeEvent, (data, _event, _source, workerId) => {
        if (!this.#appliedHere(data as CacheEvent, workerId)) this.#lru.clear()
      }),
      // A bus that may have lost events asks for a full L1 purge (event-bus.md §5.4).
      this.#bus.subscribe(BUS_SOURCE, BUS_RESYNC_EVENT, () => this.#lru.clear()),
    ]
  }

  /**
   * Returns the value of `key`: from L1, else L2, else from `loader` (run
   * once per key across the workers). `undefined` means "not found".
   * @throws {LoaderError | LockTimeoutError | EncodeError | SerializerError | L2Error | ClosedError} (rejects)
   */
  get(key: string, loader?: Loader<V>, options?: GetOptions<V>): Promise<V | undefined> {
    // The L1 hit is the hot path: no option validation (as upstream), no async frame.
    if (!this.#closed && typeof key === 'string' && key.length !== 0 && key.length <= FAST_KEY_LENGTH &&
      (loader === undefined || typeof loader === 'function')) {
      const cached = this.#lru.get(key)
      if (cached !== undefined) {
        this.#l1Hits++
        if (cached !== NEGATIVE) return Promise.resolve(cached as V)
        this.#stats.negativeHits++
        return Promise.resolve(undefined)
      }
      return this.#lookup(key, loader, options, undefined, true, true) as Promise<V | undefined>
    }
    return this.#lookup(key, loader, options, undefined, true, false) as Promise<V | undefined>
  }

  /**
   * Like {@link MLCache.get}, answering where the value came from
   * (`hitLevel`) and whether it is stale.
   */
  lookup(key: string, loader?: Loader<V>, options?: GetOptions<V>): Promise<Lookup<V>> {
    return this.#lookup(key, loader, options, undefined, false, false) as Promise<Lookup<V>>
  }

  /**
   * Runs several lookups, at most `concurrency` loaders at a time (default
   * 3), and answers one result per op in op order. A failing op (bad
   * options included) carries its `error`; the call itself rejects only for
   * a bad `ops` array or options.
   */
  async getBulk(ops: readonly BulkOp<V>[], options?: { concurrency?: number }): Promise<BulkResult<V>[]> {
    if (!Array.isArray(ops)) throw new TypeError('ops must be an array')
    assertOptionsObject(options)
    const concurrency = options?.concurrency ?? 3
    assertIntegerAtLeast(concurrency, 'options.concurrency', 1)
    this.#assertOpen()
    const slots = new Semaphore(concurrency)
    return Promise.all(ops.map((op, index) => this.#bulkOne(op, index, slots)))
  }

  /**
   * Reads L2 (then `missStore`) without touching L1 or running a loader.
   * Answers `undefined` when absent, or expired without `{ stale: true }`.
   * @throws {DecodeError} the stored bytes are corrupt (rejects)
   */
  async peek(key: string, options?: { stale?: boolean }): Promise<Peek<V> | undefined> {
    assertKey(key)
    assertOptionsObject(options)
    this.#assertOpen()
    const read = await this.#readL2(key, false)
    if (read === undefined || (read.entry.stale && options?.stale !== true)) return undefined
    const { ttl, stale } = read.entry
    // A stale entry reads as expired a moment ago, never as 0 ("never expires").
    return { ttl: stale && ttl === 0 ? -0.001 : ttl, value: read.value, stale }
  }

  /**
   * Stores `value` (`null`/`undefined`: "not found") in L2, then in this
   * worker's L1, then tells every other worker to drop `key` from its L1.
   * @throws {NoMemoryError} L2 could not hold it after `setTries` tries; L1 is untouched (rejects)
   * @throws {EncodeError} the value cannot be encoded; nothing was written (rejects)
   */
  async set(key: string, value: V | null | undefined, options?: SetOptions<V>): Promise<void> {
    assertKey(key)
    const opts = mergeCallOptions(this.#options, options, 'set')
    this.#assertOpen()
    const negative = value === undefined || value === null
    const bytes = encodeValue(value, key)
    const ttl = negative ? opts.negTtl : opts.ttl
    // With a miss store the key may sit in the other store (upstream set() does the same).
    if (this.#missStore !== undefined) {
      await this.#l2(key, negative ? this.#store : this.#missStore, (store) => store.deleteEntry(this.name, key))
    }
    if (!(await this.#write(key, bytes, ttl, entryFlags(negative, false), opts.setTries))) {
      throw new NoMemoryError(`could not write key '${key}' to L2 after ${opts.setTries} tries (no memory)`, { key })
    }
    let l1Value: unknown
    try {
      l1Value = this.#toL1(value, negative, opts)
    } catch (error) {
      // L2 holds the new value: drop the old one everywhere before reporting.
      this.#lru.delete(key)
      await this.#publishInvalidation(key)
      throw error
    }
    this.#group.set(key, l1Value, ttl)
    await this.#publishInvalidation(key)
  }

  /** Removes `key` from L2 (and `missStore`), this worker's L1 and every other worker's. */
  async delete(key: string): Promise<void> {
    assertKey(key)
    this.#assertOpen()
    await this.#l2(key, this.#store, (store) => store.deleteEntry(this.name, key))
    if (this.#missStore !== undefined) await this.#l2(key, this.#missStore, (store) => store.deleteEntry(this.name, key))
    this.#lru.delete(key)
    await this.#publishInvalidation(key)
  }

  /**
   * Removes this cache's entries only (other names on the same store
   * survive) and clears every L1 of this name. With `flushExpired: true`
   * their memory is reclaimed at once.
   */
  async purge(options?: { flushExpired?: boolean }): Promise<void> {
    assertOptionsObject(options)
    const flushExpired = options?.flushExpired ?? false
    if (typeof flushExpired !== 'boolean') throw new TypeError('options.flushExpired must be a boolean')
    this.#assertOpen()
    await this.#l2(undefined, this.#store, (store) => store.purgeNamespace(this.name, flushExpired))
    if (this.#missStore !== undefined) {
      await this.#l2(undefined, this.#missStore, (store) => store.purgeNamespace(this.name, flushExpired))
    }
    this.#lru.clear()
    await this.#bus.publish('all', BUS_EVENT_SOURCE, this.#purgeEvent, { origin: this.#group.id } satisfies CacheEvent)
  }

  /**
   * Applies the bus events published before the call; once it resolves, no
   * L1 of this name serves a value deleted, set or purged before the call.
   * @param timeout - milliseconds to wait at most (default: the bus's own)
   */
  async update(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertDuration(timeout, 'timeout')
    this.#assertOpen()
    if (this.#bus.drain !== undefined) await this.#bus.drain(timeout)
    else await new Promise((resolve) => setImmediate(resolve))
  }

  /**
   * Counters of this cache since it was created or last reset (an addition
   * to the contract): hits per level, loader and lock outcomes, L2 memory
   * pressure. Answers a copy; works on a closed cache too.
   * @param options.reset - zero the counters once read, to measure the next period
   */
  stats(options?: { reset?: boolean }): MLCacheStats {
    assertOptionsObject(options)
    const reset = options?.reset ?? false
    if (typeof reset !== 'boolean') throw new TypeError('options.reset must be a boolean')
    const stats = this.#stats.take(this.#l1Hits, reset)
    if (reset) this.#l1Hits = 0
    return stats
  }

  /**
   * Stops listening to the bus and releases this cache's share of L1. Later
   * calls reject with `ClosedError`. Idempotent; loads in flight finish.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const id of this.#subscriptions) this.#bus.unsubscribe(id)
    this.#group.release()
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`cache '${this.name}' is closed`)
  }

  #appliedHere(event: CacheEvent, workerId: number | undefined): boolean {
    return event.origin === this.#group.id && workerId === this.#bus.workerId
  }

  /**
   * L1, then L2, then the miss path. Not an async function: an L1 or L2 hit
   * on a synchronous store settles without any await, which is most of the
   * cost of an L2 hit besides decoding. Answers the value alone for `get`
   * (`valueOnly`), the whole {@link Lookup} otherwise. `l1Missed`: `get`
   * already validated the call and missed L1.
   */
  #lookup(
    key: string,
    loader: Loader<V> | undefined,
    options: GetOptions<V> | undefined,
    slots: Semaphore | undefined,
    valueOnly: boolean,
    l1Missed: boolean,
  ): Promise<unknown> {
    try {
      if (!l1Missed) {
        assertKey(key)
        if (loader !== undefined && typeof loader !== 'function') throw new TypeError('loader must be a function')
        this.#assertOpen()
        const cached = this.#lru.get(key)
        if (cached !== undefined) {
          this.#l1Hits++
          if (cached === NEGATIVE) this.#stats.negativeHits++
          const value = cached === NEGATIVE ? undefined : (cached as V)
          return Promise.resolve(valueOnly ? value : { value, hitLevel: 1, stale: false })
        }
      }
      // Upstream validates per-call options only after an L1 miss.
      const opts = mergeCallOptions(this.#options, options, 'get')
      const read = this.#readL2(key, true)
      if (read instanceof Promise) return read.then((found) => this.#afterL2(key, loader, opts, found, slots, valueOnly))
      return this.#afterL2(key, loader, opts, read, slots, valueOnly)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #afterL2(key: string, loader: Loader<V> | undefined, opts: ResolvedOptions<V>, read: L2Read<V> | undefined, slots: Semaphore | undefined, valueOnly: boolean): Promise<unknown> {
    let found: Lookup<V> | Promise<Lookup<V>>
    if (read !== undefined && !read.entry.stale) {
      if (valueOnly && !read.resurrected) {
        const value = this.#promoteValue(key, read, opts)
        this.#stats.answered(2, read.negative)
        return Promise.resolve(value)
      }
      found = this.#counted(this.#promote(key, read, opts))
    } else if (loader === undefined) found = this.#counted({ value: undefined, hitLevel: -1, stale: false })
    else found = this.#miss(key, loader, opts, read, slots)
    if (found instanceof Promise) return valueOnly ? found.then(valueOf) : found
    return Promise.resolve(valueOnly ? found.value : found)
  }

  /** A miss with a loader: share the load running in this thread for the key, or start it. */
  async #miss(key: string, loader: Loader<V>, opts: ResolvedOptions<V>, read: L2Read<V> | undefined, slots: Semaphore | undefined): Promise<Lookup<V>> {
    const inflight = this.#group.inflight
    const running = inflight.get(key) as Promise<Lookup<V>> | undefined
    if (running !== undefined) {
      // This caller shares a load another caller of this thread started: it waited, as a waiter for the lock would.
      const shared = await running
      return this.#counted(shared.hitLevel === 3 ? { ...shared, hitLevel: 2 } : shared)
    }
    const load = slots === undefined
      ? this.#loadLocked(key, loader, opts, read)
      : slots.runExclusive(() => this.#loadLocked(key, loader, opts, read))
    inflight.set(key, load)
    try {
      return this.#counted(await load)
    } finally {
      if (inflight.get(key) === load) inflight.delete(key)
    }
  }

  async #bulkOne(op: BulkOp<V>, index: number, slots: Semaphore): Promise<BulkResult<V>> {
    try {
      if (typeof op !== 'object' || op === null) throw new TypeError(`ops[${index}] must be an object`)
      if (typeof op.loader !== 'function') throw new TypeError(`ops[${index}].loader must be a function`)
      const { value, hitLevel } = (await this.#lookup(op.key, op.loader, op.options, slots, false, false)) as Lookup<V>
      return { value, hitLevel }
    } catch (error) {
      return { value: undefined, error: error instanceof Error ? error : new Error(String(error)) }
    }
  }

  /**
   * Counts an answer that did not come from L1 once it is certain (a call
   * that rejects is not an answer), and passes it on. Every caller is counted
   * by what it received: sharers of a load as L2 hits, not as loads.
   */
  #counted(found: Lookup<V>): Lookup<V> {
    this.#stats.answered(found.hitLevel, found.value === undefined)
    return found
  }

  /** L3 under the loader lock: mlcache's `run_callback`, waiting without blocking. */
  async #loadLocked(key: string, loader: Loader<V>, opts: ResolvedOptions<V>, stale: L2Read<V> | undefined): Promise<Lookup<V>> {
    const token = newLockToken()
    const startedAt = performance.now()
    let waited = false
    for (;;) {
      const lock = await acquireLoaderLock(this.#lockStore, this.name, key, token, opts.lockExptime, startedAt, opts.lockTimeout)
      // Another load held the lock: count this load once, however often it wakes to a stale L2 and waits again.
      if (!waited && (lock === 'woken' || lock === 'timeout')) {
        waited = true
        this.#stats.lockWaits++
      }
      if (lock === 'timeout') return this.#onLockTimeout(key, opts)
      if (lock === 'woken') {
        const read = await this.#readL2(key, true)
        if (read !== undefined && !read.entry.stale) return this.#promote(key, read, opts)
        stale = read
        continue
      }
      try {
        if (lock === 'acquired') {
          // Double-check: another worker may have stored it between our read and the lock (upstream 2.0.2, #49).
          const read = await this.#readL2(key, true)
          if (read !== undefined && !read.entry.stale) return this.#promote(key, read, opts)
          stale = read
        }
        return await this.#runLoader(key, loader, opts, stale)
      } finally {
        if (lock === 'acquired') await releaseLoaderLock(this.#lockStore, this.name, key, token)
      }
    }
  }

  async #onLockTimeout(key: string, opts: ResolvedOptions<V>): Promise<Lookup<V>> {
    this.#stats.lockTimeouts++
    // Upstream re-reads L2 after a lock timeout too (2.0.2): the holder may have just finished.
    const read = await this.#readL2(key, true)
    if (read !== undefined && !read.entry.stale) return this.#promote(key, read, opts)
    if (opts.resurrectTtl !== undefined && read !== undefined) {
      // Serve the stale value without writing it: the lock holder will refresh or resurrect it.
      const l1Value = this.#toL1(read.value, read.negative, opts)
      return { value: l1Value === NEGATIVE ? undefined : (l1Value as V), hitLevel: 4, stale: true }
    }
    throw new LockTimeoutError(`could not acquire the loader lock of key '${key}' within ${opts.lockTimeout} ms`, { key })
  }

  async #runLoader(key: string, loader: Loader<V>, opts: ResolvedOptions<V>, stale: L2Read<V> | undefined): Promise<Lookup<V>> {
    const ctx: LoaderContext<V> = stale === undefined || stale.negative ? {} : { stale: stale.value }
    this.#stats.loaderCalls++
    let value: V | null | undefined
    try {
      value = await loader(key, ctx)
    } catch (error) {
      this.#stats.loaderErrors++
      if (opts.resurrectTtl !== undefined && stale !== undefined) return this.#resurrect(key, stale, opts.resurrectTtl, opts)
      throw new LoaderError(`loader of key '${key}' failed: ${describe(error)}`, { cause: error, key })
    }
    const override = typeof ctx.ttl === 'number' && !Number.isNaN(ctx.ttl) ? (ctx.ttl === Infinity ? 0 : ctx.ttl) : undefined
    // A negative TTL from the loader: return the value, cache nothing, skip the serializer (upstream #68).
    if (override !== undefined && override < 0) return { value: value ?? undefined, hitLevel: 3, stale: false }
    const negative = value === undefined || value === null
    const bytes = encodeValue(value, key)
    const ttl = override ?? (negative ? opts.negTtl : opts.ttl)
    // "no memory" does not fail a get: the value still goes to L1 (upstream 2.0.0, #41).
    // #write counts the failure in l2NoMemory.
    await this.#write(key, bytes, ttl, entryFlags(negative, false), opts.setTries)
    return { value: this.#fillL1(key, value, negative, ttl, opts), hitLevel: 3, stale: false }
  }

  /** Writes the stale value back for `resurrectTtl`, marked as resurrected; a failed write still serves it. */
  async #resurrect(key: string, stale: L2Read<V>, resurrectTtl: number, opts: ResolvedOptions<V>): Promise<Lookup<V>> {
    this.#stats.resurrections++
    // The raw bytes go back, not the serialized L1 value (upstream quirk 10).
    await this.#write(key, stale.entry.value, resurrectTtl, stale.entry.flags | FLAG_RESURRECTED, opts.setTries)
    return { value: this.#fillL1(key, stale.value, stale.negative, resurrectTtl, opts), hitLevel: 4, stale: true }
  }

  #promote(key: string, read: L2Read<V>, opts: ResolvedOptions<V>): Lookup<V> {
    const resurrected = read.resurrected
    return { value: this.#promoteValue(key, read, opts), hitLevel: resurrected ? 4 : 2, stale: resurrected }
  }

  /** Moves a fresh L2 entry into L1 and answers its value. */
  #promoteValue(key: string, read: L2Read<V>, opts: ResolvedOptions<V>): V | undefined {
    // L1 gets the remaining TTL, never the full one (upstream; see PR #58 for the last millisecond).
    return this.#fillL1(key, read.value, read.negative, read.entry.ttl, opts)
  }

  /** Puts the L1 form of a value in L1 for `ttl` and answers what the caller gets. */
  #fillL1(key: string, value: V | null | undefined, negative: boolean, ttl: number, opts: ResolvedOptions<V>): V | undefined {
    const l1Value = this.#toL1(value, negative, opts)
    this.#group.set(key, l1Value, ttl)
    return l1Value === NEGATIVE ? undefined : (l1Value as V)
  }

  /** The L1 form of a value: the negative sentinel, or the value through `l1Serializer`. */
  #toL1(value: V | null | undefined, negative: boolean, opts: ResolvedOptions<V>): unknown {
    if (negative) return NEGATIVE
    const serializer = opts.l1Serializer
    if (serializer === undefined) return value
    let serialized: unknown
    try {
      serialized = serializer(value as V)
    } catch (error) {
      throw new SerializerError(`l1Serializer threw: ${describe(error)}`, { cause: error })
    }
    if (serialized === undefined) throw new SerializerError('l1Serializer returned undefined')
    return serialized
  }

  /**
   * Reads `key` from the store, then from the miss store when the first
   * has nothing fresh. Synchronous stores answer synchronously. Undecodable
   * entries are deleted, counted and read as absent, unless `tolerant` is
   * false (peek), which rejects with `DecodeError`.
   */
  #readL2(key: string, tolerant: boolean): MaybePromise<L2Read<V> | undefined> {
    const main = this.#readFrom(this.#store, key, tolerant)
    if (this.#missStore === undefined) return main
    return main instanceof Promise ? main.then((read) => this.#readMiss(key, read, tolerant)) : this.#readMiss(key, main, tolerant)
  }

  #readMiss(key: string, main: L2Read<V> | undefined, tolerant: boolean): MaybePromise<L2Read<V> | undefined> {
    if (main !== undefined && !main.entry.stale) return main
    const pick = (miss: L2Read<V> | undefined): L2Read<V> | undefined =>
      miss !== undefined && (!miss.entry.stale || main === undefined) ? miss : main
    const miss = this.#readFrom(this.#missStore as L2Store, key, tolerant)
    return miss instanceof Promise ? miss.then(pick) : pick(miss)
  }

  #readFrom(store: L2Store, key: string, tolerant: boolean): MaybePromise<L2Read<V> | undefined> {
    let entry: MaybePromise<L2Entry | undefined>
    try {
      entry = store.readEntry(this.name, key)
    } catch (error) {
      throw new L2Error(`could not read key '${key}' from L2: ${describe(error)}`, { cause: error, key })
    }
    if (entry instanceof Promise) {
      return entry.then(
        (resolved) => this.#decode(store, key, resolved, tolerant),
        (error: unknown) => {
          throw new L2Error(`could not read key '${key}' from L2: ${describe(error)}`, { cause: error, key })
        },
      )
    }
    return this.#decode(store, key, entry, tolerant)
  }

  #decode(store: L2Store, key: string, entry: L2Entry | undefined, tolerant: boolean): L2Read<V> | undefined {
    if (entry === undefined) return undefined
    try {
      return new L2Read(entry, decodeValue(entry.value, entry.flags, key) as V | undefined)
    } catch (error) {
      if (!tolerant || !(error instanceof DecodeError)) throw error
      this.#stats.decodeErrors++
      Promise.resolve(store.deleteEntry(this.name, key)).catch(() => undefined)
      return undefined
    }
  }

  /**
   * Writes an entry to the store its kind belongs to, retrying "no memory"
   * `tries` times; a write that never fits is counted here, the one place
   * every writer (set, loads, resurrections) goes through.
   */
  async #write(key: string, bytes: Uint8Array, ttl: number, flags: number, tries: number): Promise<boolean> {
    const store = (flags & FLAG_NEGATIVE) !== 0 && this.#missStore !== undefined ? this.#missStore : this.#store
    for (let attempt = 0; attempt < tries; attempt++) {
      if (await this.#l2(key, store, (target) => target.writeEntry(this.name, key, bytes, ttl, flags))) return true
    }
    this.#stats.l2NoMemory++
    return false
  }

  /** Runs one store call, turning its failures into `L2Error`. */
  async #l2<T>(key: string | undefined, store: L2Store, call: (store: L2Store) => MaybePromise<T>): Promise<T> {
    try {
      return await call(store)
    } catch (error) {
      const subject = key === undefined ? `cache '${this.name}'` : `key '${key}'`
      throw new L2Error(`L2 failed for ${subject}: ${describe(error)}`, key === undefined ? { cause: error } : { cause: error, key })
    }
  }

  #publishInvalidation(key: string): Promise<void> {
    return this.#bus.publish('all', BUS_EVENT_SOURCE, this.#invalidateEvent, { key, origin: this.#group.id } satisfies CacheEvent)
  }
}
