/**
 * MLCache: lua-resty-mlcache for Node. L1 is this thread's LRU of live
 * values, L2 a store shared by every worker (a SharedDict by default), L3
 * the caller's loader, run once per key across every cache sharing the
 * lock store.
 *
 * This file is the data path, top to bottom: L1 → L2 → lock → loader → L2
 * → L1. Each concern it uses has one owner: the L1 and its TTL rule
 * (`l1/`), L2 with decoding, the miss store and the failure policy
 * (`l2/l2-tier.ts`), the lock and its fence (`l3/loader-lock.ts`), calling
 * the loader (`l3/run-loader.ts`), the page an operation works on and
 * page swapping (`pages/`) and the counters (`stats.ts`).
 */
import { Semaphore } from 'async-mutex'
import { type DefaultStoreOptions, configureDefaultStore, defaultStore } from './default-store.js'
import { BUS_RESYNC_EVENT, BUS_SOURCE, type BusReach, type EventBus } from './bus/event-bus.js'
import { LocalBus } from './bus/local-bus.js'
import { FLAG_RESURRECTED, encodeValue, entryFlags } from './codec/codec.js'
import { lifetimeOf } from './codec/entry-life.js'
import { ClosedError, LoaderError, LoaderTimeoutError, LockTimeoutError, NoMemoryError, PageRetiredError } from './errors.js'
import {
  MAX_KEY_BYTES,
  assertFunction,
  assertIntegerAtLeast,
  assertKey,
  assertKeyShape,
  assertKnownOptions,
  assertOptionsObject,
  assertTimerDuration,
  assertWellFormed,
} from './internal/validate.js'
import { NEGATIVE, fromL1Form, toL1Form } from './l1/l1-cache.js'
import type { L2Store, LockStore } from './l2/l2-store.js'
import { type L2Read, L2Tier } from './l2/l2-tier.js'
import { raceTimer } from './internal/race-timer.js'
import { LoaderLock } from './l3/loader-lock.js'
import { type Loaded, type LoaderLimits, runLoader } from './l3/run-loader.js'
import { DEFAULTS, type ResolvedOptions, mergeCallOptions, resolveCacheOptions } from './options.js'
import type { Page } from './pages/page.js'
import { CACHE_EVENT_SOURCE, PAGE_RELEASED_EVENT, type PageReleased, answerPageEvents } from './pages/page-events.js'
import { type PageSet, acquirePageSet, pageSetsNamed } from './pages/page-set.js'
import { readOldestPage } from './pages/page-table.js'
import { BulkWriter } from './pages/page-writer.js'
import { CacheSnapshot, type PageReads } from './pages/snapshot.js'
import { type Reclamation, swapPages } from './pages/swap.js'
import { type WarmupSource, warmUp } from './pages/warmup.js'
import { StatsCounters } from './stats.js'
import { type GetTraceContext, deleteChannel, getChannel, loadChannel, setChannel } from './diagnostics/tracing.js'
import type {
  BulkOp,
  BulkOptions,
  BulkResult,
  GetOptions,
  Loader,
  Lookup,
  MLCacheOptions,
  MLCacheStats,
  Peek,
  PeekOptions,
  PageWriter,
  PurgeOptions,
  SetOptions,
  StatsOptions,
  SwapOptions,
  WarmupOptions,
  WarmupReport,
} from './types.js'

const SWAP_OPTIONS: ReadonlySet<string> = new Set(['timeout', 'grace'])
const WARMUP_OPTIONS: ReadonlySet<string> = new Set(['concurrency', 'ttl', 'negTtl'])
/** The longest key that needs no UTF-8 length check on the L1 fast path (a UTF-16 unit is at most 3 UTF-8 bytes). */
const FAST_KEY_LENGTH = Math.floor(MAX_KEY_BYTES / 3)

/** What a lookup answers: the value alone (`get`) or the whole {@link Lookup}. */
const VALUE = 0
const LOOKUP = 1
type Shape = typeof VALUE | typeof LOOKUP

/**
 * Payload of invalidation and purge events: `origin` is the page that
 * already applied it; `copy` the `copyId` of the publisher's store, when it
 * keeps a copy that only some members read.
 */
interface CacheEvent {
  key?: string
  origin: string
  copy?: string
}

/** Buses whose members all read the same SharedDict: a resync there never calls for forgetting L2. */
const WITHIN_PROCESS: ReadonlySet<BusReach | undefined> = new Set(['thread', 'process'])

let defaultBus: LocalBus | undefined

const VALUE_STORE_METHODS = ['readEntry', 'writeEntry', 'deleteEntry', 'purgeNamespace'] as const
const LOCK_STORE_METHODS = ['tryLock', 'extendLock', 'unlock', 'waitForUnlock'] as const
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

function assertL2Store(store: L2Store, name: string): L2Store {
  return assertImplements(store, [...VALUE_STORE_METHODS, ...LOCK_STORE_METHODS], name, 'an L2Store')
}

/**
 * A multi-level cache. Create it once per worker and name (not per
 * request), like upstream: every instance of a name and store in a thread
 * shares one L1.
 *
 * `V` is the type of the values the loader produces and L2 stores; `L1` the
 * type `l1Serializer` turns them into, which `get` answers (`V` without one).
 *
 * @example
 * ```ts
 * const users = new MLCache<User>('users', { ttl: 60_000 })
 * const user = await users.get(id, (key) => db.findUser(key))
 * ```
 */
export class MLCache<V = unknown, L1 = V> {
  /** The namespace of this cache in L2, L1 and the bus. */
  readonly name: string
  readonly #options: ResolvedOptions<V>
  readonly #l2: L2Tier<V>
  readonly #store: L2Store
  readonly #lockStore: LockStore
  readonly #bus: EventBus
  /** Its pages in this thread: every operation starts on the current one (captured once per operation). */
  readonly #pages: PageSet
  readonly #releasePages: () => void
  /** What snapshots read through. */
  readonly #pageReads: PageReads<V, L1>
  /** Old pages a swap of this cache reclaims once their snapshots let go; finished on close. */
  readonly #reclamations = new Set<Reclamation>()
  readonly #invalidateEvent: string
  readonly #purgeEvent: string
  readonly #subscriptions: number[]
  /** Removes the listeners of `L2Store.onRecovered`. */
  readonly #stopRecoveryWatch: ((() => void) | undefined)[]
  readonly #stats: StatsCounters
  /** L1 hits, outside `#stats`: counting one on the hot path is a single increment of a field of `this`. */
  #l1Hits = 0
  #closed = false
  /** Background reloads running (stale-while-revalidate, refresh-ahead): `close()` cancels them and waits for each to let go. */
  readonly #background = new Set<Promise<void>>()
  /** Aborted by `close()`: gives up the loader calls of background reloads. */
  readonly #closing = new AbortController()
  readonly #onBackgroundError: ((error: Error, key: string) => void) | undefined

  /**
   * Sets the size of the default store: the SharedDict shared by every
   * cache of this thread created without a `store` (one per `clock`; 16 MiB
   * unless set). Call it once at startup, before the first such cache.
   * @example
   * ```ts
   * MLCache.configureDefaultStore({ size: '64m' })
   * ```
   * @throws {TypeError | RangeError} a bad `options` or `options.size`
   * @throws {Error} the default store was already created in this thread
   */
  static configureDefaultStore(options: DefaultStoreOptions): void {
    configureDefaultStore(options)
  }

  /**
   * @param name - namespaces the cache: two names never see each other's keys
   * @throws {TypeError | RangeError} a bad name or option
   */
  constructor(name: string, options?: MLCacheOptions<V, L1>) {
    if (typeof name !== 'string') throw new TypeError('name must be a string')
    // The name namespaces L2 keys, as UTF-8: two ill-formed names could share one namespace.
    assertWellFormed(name, 'name')
    this.#options = resolveCacheOptions(options)
    const given = options ?? {}
    const clock = given.clock ?? Date.now
    this.name = name
    this.#onBackgroundError = given.onBackgroundError
    // Resolved once here, so get() pays nothing for the shared default.
    const store = given.store === undefined ? defaultStore(clock) : assertL2Store(given.store, 'options.store')
    const missStore = given.missStore === undefined ? undefined : assertL2Store(given.missStore, 'options.missStore')
    this.#lockStore =
      given.lockStore === undefined ? store : assertImplements(given.lockStore, LOCK_STORE_METHODS, 'options.lockStore', 'a LockStore')
    this.#bus = given.bus === undefined ? (defaultBus ??= new LocalBus()) : assertImplements(given.bus, BUS_METHODS, 'options.bus', 'an EventBus')
    const lru = given.lru === undefined ? undefined : assertImplements(given.lru, L1_METHODS, 'options.lru', 'an L1 store')
    this.#stats = new StatsCounters([store, missStore])
    this.#l2 = new L2Tier<V>(store, missStore, this.#stats)
    this.#store = store
    // Answer page flips before reading which page is current: a swap committing meanwhile is then seen either way.
    answerPageEvents(this.#bus)
    const { pages, release } = acquirePageSet(store, name, given.lruSize ?? DEFAULTS.lruSize, clock, lru)
    this.#pages = pages
    this.#releasePages = release
    this.#pageReads = {
      get: (page, key, loader, opts) => this.#serve(page, key, loader, opts, VALUE, undefined) as Promise<L1 | undefined>,
      lookup: (page, key, loader, opts) => this.#serve(page, key, loader, opts, LOOKUP, undefined) as Promise<Lookup<L1>>,
      getBulk: (page, ops, opts) => this.#getBulk(page, ops, opts),
      peek: (page, key, opts) => this.#peek(page, key, opts),
      release: (page) => this.#unpinned(page),
    }
    this.#invalidateEvent = `invalidate:${name}`
    this.#purgeEvent = `purge:${name}`
    this.#subscriptions = [
      this.#bus.subscribe(CACHE_EVENT_SOURCE, this.#invalidateEvent, (data) => {
        const event = data as CacheEvent
        if (event.origin === this.#pages.current.origin || typeof event.key !== 'string') return
        return this.#applyChange(event, event.key)
      }),
      this.#bus.subscribe(CACHE_EVENT_SOURCE, this.#purgeEvent, (data) => {
        const event = data as CacheEvent
        if (event.origin === this.#pages.current.origin) return
        return this.#applyChange(event, undefined)
      }),
      // A bus that may have lost events asks for a full L1 purge, and the page may have changed.
      this.#bus.subscribe(BUS_SOURCE, BUS_RESYNC_EVENT, () => this.#resync()),
    ]
    // So does a store that failed and answers again: writes, invalidations and swaps may have been missed meanwhile.
    this.#stopRecoveryWatch = this.#l2.stores.map((l2) => l2.onRecovered?.(() => this.#resync()))
  }

  /** The number of the current page: 1 at first, plus one per committed swap. */
  get page(): number {
    return this.#pages.current.number
  }

  /**
   * Returns the value of `key`: from L1, else L2, else from `loader` (run
   * once per key across the workers). `undefined` means "not found".
   * @throws {LoaderError | LockTimeoutError | EncodeError | SerializerError | L2Error | ClosedError} (rejects)
   */
  get(key: string, loader?: Loader<V>, options?: GetOptions<V, L1>): Promise<L1 | undefined> {
    if (getChannel.hasSubscribers) return this.#tracedGet(key, loader, options, VALUE) as Promise<L1 | undefined>
    // The L1 hit is the hot path: a call that needs no more than two comparisons to validate
    // reads the LRU here, without another frame; anything else takes lookup()'s path.
    if (this.#closed || typeof key !== 'string' || key.length === 0 || key.length > FAST_KEY_LENGTH || (loader !== undefined && typeof loader !== 'function')) {
      return this.#serve(this.#pages.current, key, loader, options, VALUE, undefined) as Promise<L1 | undefined>
    }
    const page = this.#pages.current
    const cached = page.l1.lru.get(key)
    if (cached !== undefined) return Promise.resolve(this.#l1Hit(cached))
    return this.#fromL2(page, key, loader, options, VALUE, undefined) as Promise<L1 | undefined>
  }

  /**
   * Like {@link MLCache.get}, answering where the value came from
   * (`hitLevel`) and whether it is stale.
   */
  lookup(key: string, loader?: Loader<V>, options?: GetOptions<V, L1>): Promise<Lookup<L1>> {
    if (getChannel.hasSubscribers) return this.#tracedGet(key, loader, options, LOOKUP) as Promise<Lookup<L1>>
    return this.#serve(this.#pages.current, key, loader, options, LOOKUP, undefined) as Promise<Lookup<L1>>
  }

  /** `get` or `lookup` while someone listens on `mlcache:get`: the context gets the answer's hit level. */
  #tracedGet(key: string, loader: Loader<V> | undefined, options: GetOptions<V, L1> | undefined, shape: Shape): Promise<unknown> {
    const context: GetTraceContext = { cache: this.name, key }
    return getChannel.tracePromise(async () => {
      const found = (await this.#serve(this.#pages.current, key, loader, options, LOOKUP, undefined)) as Lookup<L1>
      context.hitLevel = found.hitLevel
      context.stale = found.stale
      return shape === VALUE ? found.value : found
    }, context)
  }

  /**
   * Runs several lookups, at most `concurrency` loaders at a time (default
   * 3), and answers one result per op in op order. L2 is read for every op
   * that missed L1 at once (one round trip with a store that has
   * `readEntries`). A failing op (bad options included) carries its
   * `error`; the call itself rejects only for a bad `ops` array or options.
   */
  getBulk(ops: readonly BulkOp<V, L1>[], options?: BulkOptions): Promise<BulkResult<L1>[]> {
    return this.#getBulk(this.#pages.current, ops, options)
  }

  async #getBulk(page: Page, ops: readonly BulkOp<V, L1>[], options: BulkOptions | undefined): Promise<BulkResult<L1>[]> {
    if (!Array.isArray(ops)) throw new TypeError('ops must be an array')
    assertOptionsObject(options)
    const concurrency = options?.concurrency ?? 3
    assertIntegerAtLeast(concurrency, 'options.concurrency', 1)
    this.#assertOpen()
    await page.opening
    const slots = new Semaphore(concurrency)
    const results: (BulkResult<L1> | undefined)[] = []
    const missed: { index: number; op: BulkOp<V, L1>; opts: ResolvedOptions<V> }[] = []
    for (const [index, op] of ops.entries()) {
      try {
        if (typeof op !== 'object' || op === null) throw new TypeError(`ops[${index}] must be an object`)
        if (typeof op.loader !== 'function') throw new TypeError(`ops[${index}].loader must be a function`)
        assertKey(op.key)
        const cached = page.l1.get(op.key)
        if (cached !== undefined) {
          results[index] = { value: this.#l1Hit(cached), hitLevel: 1 }
          continue
        }
        missed.push({ index, op, opts: mergeCallOptions(this.#options, op.options, 'get') })
      } catch (error) {
        results[index] = bulkFailure(error)
      }
    }
    if (missed.length === 0) return results as BulkResult<L1>[]
    if (page.retired) throw retiredError(page)
    const epoch = page.epoch
    const reads = await this.#l2.readMany(page.namespace, missed.map(({ op }) => op.key))
    const current = page.epoch === epoch
    await Promise.all(
      missed.map(async ({ index, op, opts }, i) => {
        try {
          const found = await this.#afterL2(page, op.key, op.loader, opts, reads[i], LOOKUP, slots, current)
          const { value, hitLevel } = found as Lookup<L1>
          results[index] = { value, hitLevel }
        } catch (error) {
          results[index] = bulkFailure(error)
        }
      }),
    )
    return results as BulkResult<L1>[]
  }

  /**
   * Reads L2 (then `missStore`) without touching L1 or running a loader.
   * Answers `undefined` when absent, or expired without `{ stale: true }`.
   * @throws {DecodeError} the stored bytes are corrupt (rejects)
   * @throws {L2Error} the store failed (rejects)
   */
  peek(key: string, options?: PeekOptions): Promise<Peek<V> | undefined> {
    return this.#peek(this.#pages.current, key, options)
  }

  async #peek(page: Page, key: string, options: PeekOptions | undefined): Promise<Peek<V> | undefined> {
    assertKey(key)
    assertOptionsObject(options)
    this.#assertOpen()
    await page.opening
    if (page.retired) throw retiredError(page)
    const read = await this.#l2.read(page.namespace, key, 'peek')
    if ((read === undefined || read.stale) && page !== this.#pages.current) await this.#assertNotReclaimed(page)
    if (read === undefined || (read.stale && options?.stale !== true)) return undefined
    const { ttl, stale } = read
    // A stale entry reads as expired a moment ago, never as 0 ("never expires").
    return { ttl: stale && ttl === 0 ? -0.001 : ttl, value: read.value, stale }
  }

  /**
   * Stores `value` (`null`/`undefined`: "not found") in L2, then in this
   * worker's L1, then tells every other worker to drop `key` from its L1.
   * A load of the key running anywhere meanwhile keeps its value out of L2
   * and L1 (its fence is void).
   * @throws {NoMemoryError} L2 could not hold it after `setTries` tries; L1 is untouched (rejects)
   * @throws {EncodeError} the value cannot be encoded; nothing was written (rejects)
   * @throws {L2Error} the store failed: every L1 dropped the key (rejects)
   */
  set(key: string, value: V | null | undefined, options?: SetOptions<V, L1>): Promise<void> {
    if (setChannel.hasSubscribers) return setChannel.tracePromise(() => this.#set(key, value, options), { cache: this.name, key })
    return this.#set(key, value, options)
  }

  async #set(key: string, value: V | null | undefined, options: SetOptions<V, L1> | undefined): Promise<void> {
    assertKey(key)
    const opts = mergeCallOptions(this.#options, options, 'set')
    this.#assertOpen()
    const page = await this.#currentPage()
    const negative = value === undefined || value === null
    const bytes = encodeValue(value, key)
    const ttl = negative ? opts.negTtl : opts.ttl
    let written: Awaited<ReturnType<L2Tier<V>['write']>>
    try {
      await this.#l2.deleteOtherKind(page.namespace, key, negative)
      written = await this.#l2.write(page.namespace, key, bytes, ttl, entryFlags(negative, false), opts.setTries, undefined, opts.staleWhileRevalidate)
    } catch (error) {
      // The store failed midway: whatever L2 holds now, no L1 may keep the old value.
      return this.#changed(page, key, error)
    }
    if (written !== 'ok') throw new NoMemoryError(`could not write key '${key}' to L2 after ${opts.setTries} tries (no memory)`, { key })
    let form: unknown
    try {
      form = toL1Form(value, opts.l1Serializer)
    } catch (error) {
      // L2 holds the new value: drop the old one everywhere before reporting.
      return this.#changed(page, key, error)
    }
    this.#dropKey(page, key)
    page.l1.set(key, form, l1Life(ttl, opts))
    await this.#publish(page, key)
  }

  /**
   * Removes `key` from L2 (and `missStore`), this worker's L1 and every other
   * worker's. A load of the key running anywhere meanwhile keeps its value
   * out of L2 and L1.
   * @throws {L2Error} the store failed; every L1 dropped the key all the same (rejects)
   */
  delete(key: string): Promise<void> {
    if (deleteChannel.hasSubscribers) return deleteChannel.tracePromise(() => this.#delete(key), { cache: this.name, key })
    return this.#delete(key)
  }

  async #delete(key: string): Promise<void> {
    assertKey(key)
    this.#assertOpen()
    const page = await this.#currentPage()
    await this.#changed(page, key, await failureOf(this.#l2.delete(page.namespace, key)))
  }

  /**
   * Removes this cache's entries only (other names on the same store
   * survive) and clears every L1 of this name. With `flushExpired: true`
   * their memory is reclaimed at once. Loads running meanwhile keep their
   * values out of L2 and L1.
   * @throws {L2Error} the store failed; every L1 was cleared all the same (rejects)
   */
  purge(options?: PurgeOptions): Promise<void> {
    if (deleteChannel.hasSubscribers) return deleteChannel.tracePromise(() => this.#purge(options), { cache: this.name })
    return this.#purge(options)
  }

  async #purge(options: PurgeOptions | undefined): Promise<void> {
    assertOptionsObject(options)
    const flushExpired = options?.flushExpired ?? false
    if (typeof flushExpired !== 'boolean') throw new TypeError('options.flushExpired must be a boolean')
    this.#assertOpen()
    const page = await this.#currentPage()
    await this.#changed(page, undefined, await failureOf(this.#l2.purge(page.namespace, flushExpired)))
  }

  /**
   * Applies the bus events published before the call; once it resolves, no
   * L1 of this name serves a value deleted, set or purged before the call.
   * It first waits for this cache's background reloads started before the
   * call (`staleWhileRevalidate`, `refreshAhead`): each ends by publishing
   * that its key changed, so a test on a manual clock (or a shutdown hook)
   * sees their outcome after `await cache.update()`.
   * @param timeout - milliseconds to wait at most for each of the two, up to 2^31 - 1 (a timer's longest delay); default: the bus's own, and the reloads' end
   * @throws {RangeError} (rejects) `timeout` is negative or beyond a timer's range
   */
  async update(timeout?: number): Promise<void> {
    if (timeout !== undefined) assertTimerDuration(timeout, 'timeout')
    this.#assertOpen()
    if (this.#background.size > 0) {
      const reloads = Promise.all(this.#background)
      await (timeout === undefined ? reloads : raceTimer(reloads, timeout, () => undefined))
    }
    if (this.#bus.drain !== undefined) await this.#bus.drain(timeout)
    else await new Promise((resolve) => setImmediate(resolve))
  }

  /**
   * Replaces the whole cache with a new generation (page swapping, Kong's
   * DB-less reload). `fill` writes it through `page.set` into a shadow page
   * no reader sees, never evicting anything; meanwhile reads and loads keep
   * using the current page. When `fill` resolves the new page is committed
   * in the store, every worker on the bus switches to it (each operation
   * reading wholly from one page), and the old page's entries go. Resolves
   * once every live worker of the bus has switched.
   * @param fill - writes the new generation; `page.set` without options uses the cache's `ttl`/`negTtl`
   * @param options - `timeout` (default 60_000 ms) to wait for the workers; `grace` (default 10_000 ms) the old page stays readable for snapshots still pinned to it
   * @throws {BusyError} a swap of this cache is already running, here or in another worker (rejects)
   * @throws {NoMemoryError} the new page does not fit in L2: the current page stays, the shadow page is reclaimed (rejects)
   * @throws {BusError} a live worker did not switch within `timeout`: the switch itself is done (rejects)
   * @throws what `fill` threw: the current page stays, the shadow page is reclaimed (rejects)
   * @example
   * ```ts
   * await routes.swap(async (page) => {
   *   for (const route of await db.allRoutes()) page.set(route.path, route)
   * })
   * ```
   */
  async swap(fill: (page: PageWriter<V>) => void | Promise<void>, options?: SwapOptions): Promise<void> {
    assertFunction(fill, 'fill')
    assertOptionsObject(options)
    if (options !== undefined) assertKnownOptions(options, SWAP_OPTIONS)
    const timeout = options?.timeout ?? 60_000
    const grace = options?.grace ?? 10_000
    assertTimerDuration(timeout, 'options.timeout')
    assertTimerDuration(grace, 'options.grace')
    this.#assertOpen()
    const { ttl, negTtl } = this.#options
    const later = (reclamation: Reclamation): void => {
      this.#reclamations.add(reclamation)
      void reclamation.done.then(() => this.#reclamations.delete(reclamation))
    }
    const context = { name: this.name, store: this.#store, tier: this.#l2, bus: this.#bus, pages: this.#pages, defaults: { ttl, negTtl }, later }
    await swapPages(context, fill, timeout, grace)
  }

  /**
   * A read view pinned to the current page, for a unit of work (a request)
   * that must not mix two generations across a swap: its reads keep using
   * that page until `release()`, and the page stays readable meanwhile
   * (until the swap's `grace` ends or the next swap starts).
   * @throws {ClosedError} the cache is closed
   */
  snapshot(): CacheSnapshot<V, L1> {
    this.#assertOpen()
    return new CacheSnapshot(this.#pages.current, this.#pageReads)
  }

  /**
   * Bulk-loads `entries` (`[key, value]` pairs, from an iterable or an async
   * iterable) into L2 on the current page, as Kong warms its cache at
   * startup: no loader, no lock, nothing evicted. Stops at the first entry
   * L2 has no room for (`full: true` in the report) and keeps what it wrote.
   * Then every L1 of this name is cleared, so none keeps an older value of
   * a warmed key.
   * @throws {EncodeError | TypeError | L2Error} an entry is not a `[key, value]` pair or cannot be encoded, or the store failed; what was written stays (rejects)
   */
  async warmup(entries: WarmupSource<V>, options?: WarmupOptions): Promise<WarmupReport> {
    if (typeof entries !== 'object' || entries === null || !(Symbol.iterator in entries || Symbol.asyncIterator in entries)) {
      throw new TypeError('entries must be an iterable or an async iterable')
    }
    assertOptionsObject(options)
    if (options !== undefined) assertKnownOptions(options, WARMUP_OPTIONS)
    const concurrency = options?.concurrency ?? 16
    assertIntegerAtLeast(concurrency, 'options.concurrency', 1)
    const opts = mergeCallOptions(this.#options, { ttl: options?.ttl, negTtl: options?.negTtl }, 'set')
    this.#assertOpen()
    const page = await this.#currentPage()
    const writer = new BulkWriter<V>(this.#l2, page.namespace, { ttl: opts.ttl, negTtl: opts.negTtl })
    try {
      return await warmUp(writer, entries, concurrency)
    } finally {
      if (writer.entries > 0) await this.#changed(page, undefined, undefined).catch(() => undefined)
    }
  }

  /**
   * Counters of this cache since it was created or last reset (an addition
   * to the contract): hits per level, loader and lock outcomes, L2 memory
   * pressure and failures. Answers a copy; works on a closed cache too.
   */
  stats(options?: StatsOptions): MLCacheStats {
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
   * The store is left as it is: other caches may share it (the default
   * store always may), and its entries stay for them.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const id of this.#subscriptions) this.#bus.unsubscribe(id)
    for (const stop of this.#stopRecoveryWatch) stop?.()
    // Background reloads stop waiting for their loaders (whose ctx.signal aborts) and release their locks.
    this.#closing.abort(new ClosedError(`cache '${this.name}' is closed`))
    await Promise.all([...this.#background])
    // Old pages this cache's swaps were keeping for snapshots go now: nothing runs after close().
    await Promise.all([...this.#reclamations].map((reclamation) => reclamation.finish()))
    this.#releasePages()
  }

  // ------------------------------------------------------------ the data path

  /**
   * L1, then L2, then the miss path, on the page current at the call, for
   * `lookup`, `getBulk` and the calls `get` does not validate inline. Not
   * an async function: an L1 or L2 hit on a synchronous store settles
   * without any await, which is most of the cost of an L2 hit besides
   * decoding. `slots` bounds the loads of a `getBulk`.
   */
  #serve(page: Page, key: string, loader: Loader<V> | undefined, options: GetOptions<V, L1> | undefined, shape: Shape, slots: Semaphore | undefined): Promise<unknown> {
    try {
      // Well-formedness is #fromL2's to check: an L1 hit does not need it.
      assertKeyShape(key)
      if (loader !== undefined && typeof loader !== 'function') throw new TypeError('loader must be a function')
      this.#assertOpen()
    } catch (error) {
      return Promise.reject(error)
    }
    // 1. L1 (no option validation on a hit, as upstream).
    const cached = page.l1.get(key)
    if (cached !== undefined) {
      const value = this.#l1Hit(cached)
      return Promise.resolve(shape === VALUE ? value : { value, hitLevel: 1, stale: false })
    }
    return this.#fromL2(page, key, loader, options, shape, slots)
  }

  /** 2. L2, after an L1 miss (per-call options are validated from here on, as upstream). */
  #fromL2(page: Page, key: string, loader: Loader<V> | undefined, options: GetOptions<V, L1> | undefined, shape: Shape, slots: Semaphore | undefined): Promise<unknown> {
    try {
      // get() and #serve check only what an L1 hit needs: L1 compares keys as exact UTF-16 and holds
      // only keys that passed this check. L2 keeps keys as UTF-8, where ill-formed ones would collide.
      assertWellFormed(key, 'key')
      const opts = mergeCallOptions(this.#options, options, 'get')
      // A page still reading which page is current (an asynchronous store), or one a swap retired.
      if (page.opening !== undefined) return page.opening.then(() => this.#fromL2(page, key, loader, options, shape, slots))
      if (page.retired) throw retiredError(page)
      const read = this.#l2.read(page.namespace, key, loader === undefined ? 'serve' : 'load')
      if (!(read instanceof Promise)) return this.#afterL2(page, key, loader, opts, read, shape, slots, true)
      const epoch = page.epoch
      return read.then((found) => this.#afterL2(page, key, loader, opts, found, shape, slots, page.epoch === epoch))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * What follows the L2 read: a fresh entry is promoted (into L1 only if no
   * invalidation reached this page while the read was in flight:
   * `current`) and, in the last part of its life with `refreshAhead`,
   * reloaded in the background; a miss without loader is answered; else the
   * load.
   */
  #afterL2(
    page: Page,
    key: string,
    loader: Loader<V> | undefined,
    opts: ResolvedOptions<V>,
    read: L2Read<V> | undefined,
    shape: Shape,
    slots: Semaphore | undefined,
    current: boolean,
  ): Promise<unknown> {
    if (read !== undefined && !read.stale) {
      const value = this.#promote(page, key, read, opts, current)
      if (loader !== undefined && refreshDue(read, opts)) this.#reloadInBackground(page, key, loader, opts, undefined)
      return Promise.resolve(shape === VALUE ? value : { value, hitLevel: read.resurrected ? 4 : 2, stale: read.resurrected })
    }
    let found: Lookup<L1> | Promise<Lookup<L1>>
    if (page !== this.#pages.current) found = this.#missedOnOldPage(page, key, loader, opts, read, slots)
    else if (loader === undefined) found = this.#answered({ value: undefined, hitLevel: -1, stale: false })
    else found = this.#load(page, key, loader, opts, read, slots)
    if (found instanceof Promise) return shape === VALUE ? found.then(valueOf) : found
    return Promise.resolve(shape === VALUE ? found.value : found)
  }

  /**
   * A miss on a page that is no longer current (a snapshot's): it may be
   * being reclaimed, in which case the miss is a hole, not the page's
   * answer, and the read rejects instead.
   */
  async #missedOnOldPage(page: Page, key: string, loader: Loader<V> | undefined, opts: ResolvedOptions<V>, read: L2Read<V> | undefined, slots: Semaphore | undefined): Promise<Lookup<L1>> {
    await this.#assertNotReclaimed(page)
    if (loader === undefined) return this.#answered({ value: undefined, hitLevel: -1, stale: false })
    return this.#load(page, key, loader, opts, read, slots)
  }

  /** Rejects with `PageRetiredError` once the page table says `page` is gone (a store that fails to answer is trusted). */
  async #assertNotReclaimed(page: Page): Promise<void> {
    const oldest = await readOldestPage(this.#store, this.name)
    if (oldest === undefined || page.number >= oldest) return
    page.retired = true
    throw retiredError(page)
  }

  /**
   * 3. A miss with a loader (`read`: the stale entry, if any). Within
   * `staleWhileRevalidate` of its expiry the stale value is answered at once
   * and a background reload started. Otherwise share the load running in
   * this thread for the key, or start it; a caller holding a stale value
   * gets it once the soft `loaderTimeout` passes, the load going on. The
   * caller that started the load may fill L1, unless the key was
   * invalidated meanwhile (see {@link MLCache.#inflight}).
   */
  async #load(page: Page, key: string, loader: Loader<V>, opts: ResolvedOptions<V>, read: L2Read<V> | undefined, slots: Semaphore | undefined): Promise<Lookup<L1>> {
    // What a purge expired is gone for the caller: only resurrection may still serve it (as upstream).
    const stale = read === undefined || read.purged ? undefined : read
    if (stale !== undefined && -stale.ttl < opts.staleWhileRevalidate) {
      this.#reloadInBackground(page, key, loader, opts, stale)
      return this.#answer(page, key, servedStale(stale), opts, false)
    }
    let load = page.inflight.get(key) as Promise<Loaded<V>> | undefined
    const sharing = load !== undefined
    if (load === undefined) {
      load = this.#inflight(page, key, slots === undefined ? this.#loadLocked(page, key, loader, opts, read) : slots.runExclusive(() => this.#loadLocked(page, key, loader, opts, read)))
    }
    const soft = opts.loaderTimeout?.soft
    const loaded = soft === undefined || stale === undefined ? await load : await raceTimer(load, soft, () => undefined)
    if (loaded === undefined) return this.#answer(page, key, servedStale(stale as L2Read<V>), opts, false)
    // A caller sharing a load another caller of this thread started waited, as a waiter for the lock
    // would: it gets hitLevel 2, through its own l1Serializer, and leaves L1 to the starter.
    if (sharing) return this.#answer(page, key, loaded.hitLevel === 3 ? { ...loaded, hitLevel: 2 } : loaded, opts, false)
    return this.#answer(page, key, loaded, opts, true)
  }

  /**
   * Makes `load` the key's load in flight in this page, shared by the
   * thread's callers until it settles. An invalidation of the key meanwhile
   * removes it (`#dropKey`): its value is then served but kept out of L1.
   */
  #inflight(page: Page, key: string, load: Promise<Loaded<V>>): Promise<Loaded<V>> {
    const registered: Promise<Loaded<V>> = load.then(
      (loaded) => {
        if (page.inflight.get(key) === registered) page.inflight.delete(key)
        else if (loaded.l1Ttl !== undefined) return { ...loaded, l1Ttl: undefined }
        return loaded
      },
      (error: unknown) => {
        if (page.inflight.get(key) === registered) page.inflight.delete(key)
        throw error
      },
    )
    page.inflight.set(key, registered)
    return registered
  }

  /**
   * 4. The loader lock (mlcache's `run_callback`): wait for another load, or
   * take it and load. The hard `loaderTimeout` counts from here and bounds
   * the wait too: a waiter gives up when the loader it waits for would.
   */
  async #loadLocked(page: Page, key: string, loader: Loader<V>, opts: ResolvedOptions<V>, stale: L2Read<V> | undefined): Promise<Loaded<V>> {
    const hard = opts.loaderTimeout?.hard
    const deadline = hard === undefined ? undefined : performance.now() + hard
    const hardFirst = hard !== undefined && hard <= opts.lockTimeout
    const lock = new LoaderLock(this.#lockStore, this.#l2.stores, page.namespace, key, opts.lockExptime, hardFirst ? hard : opts.lockTimeout)
    let waited = false
    for (;;) {
      const state = await lock.acquire()
      // Another load held the lock: count this load once, however often it wakes to a stale L2 and waits again.
      if (!waited && (state === 'woken' || state === 'timeout')) {
        waited = true
        this.#stats.lockWaits++
      }
      if (state === 'timeout') return this.#afterLockTimeout(page, key, opts, hardFirst)
      try {
        if (state !== 'unlockable') {
          // Re-read: the holder we waited for, or one that finished between our
          // read and the lock, has usually stored it (upstream since 2.0.2).
          const read = await this.#l2.read(page.namespace, key, 'recheck')
          if (read !== undefined && !read.stale) return promoted(read, opts)
          stale = read
        }
        if (state !== 'woken') {
          const limits = deadline === undefined ? undefined : { hard: deadline - performance.now() }
          return await this.#runLoad(page, key, loader, opts, stale, lock.fence, limits)
        }
      } finally {
        if (state === 'acquired') await lock.release()
      }
    }
  }

  /**
   * The lock wait ran out (of `lockTimeout`, or of the hard `loaderTimeout`
   * when that is shorter: `hard`): the holder's value if it landed, else a
   * stale one (with `resurrectTtl`), else `LockTimeoutError` or `LoaderTimeoutError`.
   */
  async #afterLockTimeout(page: Page, key: string, opts: ResolvedOptions<V>, hard: boolean): Promise<Loaded<V>> {
    if (hard) this.#stats.loaderTimeouts++
    else this.#stats.lockTimeouts++
    // Upstream re-reads L2 after a lock timeout too (2.0.2): the holder may have just finished.
    const read = await this.#l2.read(page.namespace, key, 'recheck')
    if (read !== undefined && !read.stale) return promoted(read, opts)
    // Serve the stale value without writing it or keeping it in L1: the lock holder will refresh or resurrect it.
    if (opts.resurrectTtl !== undefined && read !== undefined) return servedStale(read)
    if (hard) {
      throw new LoaderTimeoutError(`the loader of key '${key}' that this call waited for ran past the hard timeout of ${opts.loaderTimeout?.hard} ms`, { key })
    }
    throw new LockTimeoutError(`could not acquire the loader lock of key '${key}' within ${opts.lockTimeout} ms`, { key })
  }

  /**
   * 5. The loader, then its value to L2, fenced by the lock: a value that
   * lost its lock, or raced a `set`/`delete`/`purge` of the key, is served
   * to its callers but cached nowhere. A loader that fails (or runs past its
   * hard limit) with a stale value at hand and `resurrectTtl` resurrects it.
   */
  async #runLoad(
    page: Page,
    key: string,
    loader: Loader<V>,
    opts: ResolvedOptions<V>,
    stale: L2Read<V> | undefined,
    fence: string | undefined,
    limits: LoaderLimits | undefined,
  ): Promise<Loaded<V>> {
    this.#stats.loaderCalls++
    let answer: Awaited<ReturnType<typeof runLoader<V>>>
    try {
      const staleValue = stale === undefined || stale.negative ? undefined : stale.value
      answer = await (loadChannel.hasSubscribers
        ? loadChannel.tracePromise(() => runLoader(key, loader, staleValue, limits), { cache: this.name, key })
        : runLoader(key, loader, staleValue, limits))
    } catch (error) {
      if (error instanceof LoaderTimeoutError) this.#stats.loaderTimeouts++
      else if (error instanceof LoaderError) this.#stats.loaderErrors++
      // A background reload that close() gave up writes nothing.
      if (opts.resurrectTtl === undefined || stale === undefined || this.#closed) throw error
      const resurrected = await this.#resurrect(page, key, stale, opts, fence)
      return { ...resurrected, failure: error as Error }
    }
    // A negative TTL from the loader: return the value, cache nothing, skip the serializer (as upstream).
    if (answer.ttl !== undefined && answer.ttl < 0) return { value: answer.value, hitLevel: 3, l1Ttl: undefined, raw: true }
    const negative = answer.value === undefined
    const bytes = encodeValue(answer.value, key)
    const ttl = answer.ttl ?? (negative ? opts.negTtl : opts.ttl)
    // "No memory" (or a failing store) does not fail a get: the value still goes to L1 (upstream since 2.0.0).
    const written = await this.#l2.storeLoaded(page.namespace, key, bytes, ttl, entryFlags(negative, false), opts.setTries, fence, opts.staleWhileRevalidate)
    if (written === 'fenced') return { value: answer.value, hitLevel: 3, l1Ttl: undefined }
    const loaded = { value: answer.value, hitLevel: 3, l1Ttl: l1Life(ttl, opts) } as const
    return written === 'ok' ? { ...loaded, stored: true } : loaded
  }

  /** The loader failed with a stale value at hand: write it back for `resurrectTtl`, marked as resurrected, and serve it. */
  async #resurrect(page: Page, key: string, stale: L2Read<V>, opts: ResolvedOptions<V>, fence: string | undefined): Promise<Loaded<V>> {
    this.#stats.resurrections++
    const resurrectTtl = opts.resurrectTtl as number
    // The raw bytes go back, not the serialized L1 value (as upstream).
    const flags = stale.flags | FLAG_RESURRECTED
    const written = await this.#l2.storeLoaded(page.namespace, key, stale.bytes as Uint8Array, resurrectTtl, flags, opts.setTries, fence, opts.staleWhileRevalidate)
    return { value: stale.value, hitLevel: 4, l1Ttl: written === 'fenced' ? undefined : resurrectTtl }
  }

  /**
   * Starts a background reload of `key` (stale-while-revalidate,
   * refresh-ahead) unless one of this thread runs for it already. Callers
   * do not wait for it, and it never rejects: a failure is counted and
   * given to `onBackgroundError`. `close()` cancels it.
   */
  #reloadInBackground(page: Page, key: string, loader: Loader<V>, opts: ResolvedOptions<V>, stale: L2Read<V> | undefined): void {
    if (this.#closed || page.refreshing.has(key)) return
    page.refreshing.add(key)
    const task: Promise<void> = this.#reload(page, key, loader, opts, stale)
      .catch((error: unknown) => this.#backgroundFailed(error, key))
      .finally(() => {
        page.refreshing.delete(key)
        this.#background.delete(task)
      })
    this.#background.add(task)
  }

  /**
   * A background reload (what upstream's unmerged `serve_stale` sketched,
   * respecting the lock). It takes the loader lock without waiting (a reload
   * running elsewhere is enough), re-reads L2 under it (one that just
   * finished elsewhere is too), loads, and once the new value is in L2 drops
   * the key from every L1, this thread's included: the next reads take the
   * new value from L2.
   */
  async #reload(page: Page, key: string, loader: Loader<V>, opts: ResolvedOptions<V>, stale: L2Read<V> | undefined): Promise<void> {
    const lock = new LoaderLock(this.#lockStore, this.#l2.stores, page.namespace, key, opts.lockExptime, 0)
    const state = await lock.acquire()
    if (state === 'timeout') return
    try {
      if (state === 'acquired') {
        const read = await this.#l2.read(page.namespace, key, 'recheck')
        if (read !== undefined && !read.stale && !refreshDue(read, opts)) return
        if (read?.stale === true) stale = read
      }
      if (this.#closed) return
      this.#stats.backgroundReloads++
      const loaded = await this.#runLoad(page, key, loader, opts, stale, lock.fence, { hard: opts.loaderTimeout?.hard, cancel: this.#closing.signal })
      if (loaded.failure !== undefined) this.#backgroundFailed(loaded.failure, key)
      if (loaded.stored === true) await this.#changed(page, key, undefined)
    } finally {
      if (state === 'acquired') await lock.release()
    }
  }

  /** Counts a background reload's failure and hands it to `onBackgroundError`; a reload `close()` gave up is no failure. */
  #backgroundFailed(error: unknown, key: string): void {
    const closing = this.#closing.signal
    if (closing.aborted && error === closing.reason) return
    this.#stats.backgroundErrors++
    try {
      this.#onBackgroundError?.(error instanceof Error ? error : new Error(String(error)), key)
    } catch {
      // The hook's own failure has nowhere to go: the reload's callers were answered long ago.
    }
  }

  /**
   * 6. L1: the caller's answer through its own `l1Serializer`, kept in L1
   * for the value's remaining life when `fillL1` (never for a value that
   * must not be cached), and counted.
   */
  #answer(page: Page, key: string, loaded: Loaded<V>, opts: ResolvedOptions<V>, fillL1: boolean): Lookup<L1> {
    const form = loaded.raw === true ? (loaded.value ?? NEGATIVE) : toL1Form(loaded.value, opts.l1Serializer)
    if (fillL1 && loaded.l1Ttl !== undefined) page.l1.set(key, form, loaded.l1Ttl)
    return this.#answered({ value: fromL1Form<L1>(form), hitLevel: loaded.hitLevel, stale: loaded.hitLevel === 4 })
  }

  /**
   * The L2 hit: {@link MLCache.#answer} of {@link promoted} without the
   * objects between them (the hot path after an L1 miss).
   */
  #promote(page: Page, key: string, read: L2Read<V>, opts: ResolvedOptions<V>, fillL1: boolean): L1 | undefined {
    const form = toL1Form(read.value, opts.l1Serializer)
    if (fillL1) page.l1.set(key, form, promotedTtl(read, opts))
    const value = fromL1Form<L1>(form)
    this.#stats.answered(read.resurrected ? 4 : 2, value === undefined)
    return value
  }

  /** The one place answers that did not come from L1 are counted (a call that rejects is not an answer). */
  #answered(found: Lookup<L1>): Lookup<L1> {
    this.#stats.answered(found.hitLevel, found.value === undefined)
    return found
  }

  // ------------------------------------------------------------ helpers

  /** Counts an L1 hit (`hitLevel 1`) and answers what the caller receives for the L1 form found. */
  #l1Hit(form: unknown): L1 | undefined {
    this.#l1Hits++
    if (form !== NEGATIVE) return form as L1
    this.#stats.negativeHits++
    return undefined
  }

  /** The current page, once it knows its number. */
  async #currentPage(): Promise<Page> {
    await this.#pages.current.opening
    return this.#pages.current
  }

  /**
   * Another member changed `key` (every key: `undefined`). When its store is
   * not this one's copy, this copy may hold the old value too: it forgets
   * it first, so that no read after the L1 drop finds it there (Kong: a
   * cluster event deletes from the node's shared dict, then from every
   * worker's LRU).
   */
  #applyChange(event: CacheEvent, key: string | undefined): void | Promise<void> {
    const page = this.#pages.current
    const forgetting = event.copy === this.#store.copyId ? undefined : this.#forget(page, key)
    this.#drop(page, key)
    return forgetting
  }

  /**
   * Drops this thread's stores' own copies of `key` (every key: `undefined`)
   * on `page`. An asynchronous forget drops L1 again once it settled, so no
   * read that overlapped it keeps the old value; a failure is rethrown for
   * the bus to report.
   */
  #forget(page: Page, key: string | undefined): Promise<void> | undefined {
    const pending: Promise<void>[] = []
    for (const store of this.#l2.stores) {
      try {
        const forgot = store.forget?.(page.namespace, key)
        if (forgot instanceof Promise) pending.push(forgot)
      } catch (error) {
        pending.push(Promise.reject(error))
      }
    }
    if (pending.length === 0) return undefined
    return Promise.allSettled(pending).then((outcomes) => {
      this.#drop(page, key)
      for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason
    })
  }

  /**
   * Events or store writes may have been missed: clears L1 and reads which
   * page is current. A bus reaching beyond the process may have lost an
   * event from a member that does not read this store's copy: that copy is
   * forgotten too (Kong purged a node's cache when it could have missed
   * cluster events).
   */
  #resync(): void {
    const page = this.#pages.current
    if (!WITHIN_PROCESS.has(this.#bus.reach ?? 'network')) this.#forget(page, undefined)?.catch(() => undefined)
    this.#dropAll(page)
    this.#pages.refresh().catch(() => undefined)
  }

  /** A snapshot let go of `page`: once no snapshot of this thread reads that old page, the swap that replaced it may reclaim it. */
  #unpinned(page: Page): void {
    const pages = this.#pages
    if (page.pins > 0 || page === pages.current || page.retired) return
    pages.unpinned(page)
    // Caches with a custom lru have page sets of their own: the thread lets go once none pins the page.
    for (const other of pageSetsNamed(this.name) ?? []) if (other.pinsOld(page.number)) return
    const released: PageReleased = { name: this.name, page: page.number }
    this.#bus.publish('all', CACHE_EVENT_SOURCE, PAGE_RELEASED_EVENT, released).catch(() => undefined)
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError(`cache '${this.name}' is closed`)
  }

  /** Forgets `key` in this page: L1, any load in flight and any L2 read in flight (their values then stay out of L1). */
  #dropKey(page: Page, key: string): void {
    page.epoch++
    page.l1.delete(key)
    page.inflight.delete(key)
  }

  /** Forgets everything in this page. */
  #dropAll(page: Page): void {
    page.epoch++
    page.l1.clear()
    page.inflight.clear()
  }

  /** Forgets `key` in this page ({@link MLCache.#dropKey}), or everything when it is `undefined` ({@link MLCache.#dropAll}). */
  #drop(page: Page, key: string | undefined): void {
    if (key === undefined) this.#dropAll(page)
    else this.#dropKey(page, key)
  }

  /**
   * After L2 changed `key` (every key: `undefined`), or may have: drops it
   * here, then tells every other worker to. With a `failure`, rejects with
   * it once that is done (a publish refused meanwhile is then secondary).
   */
  async #changed(page: Page, key: string | undefined, failure: unknown): Promise<void> {
    this.#drop(page, key)
    const published = this.#publish(page, key)
    if (failure === undefined) return published
    await published.catch(() => undefined)
    throw failure
  }

  /** Tells every worker but this page to drop `key` from L1 (every key: `undefined`, a purge). */
  #publish(page: Page, key: string | undefined): Promise<void> {
    const data: CacheEvent = key === undefined ? { origin: page.origin } : { key, origin: page.origin }
    const copy = this.#store.copyId
    if (copy !== undefined) data.copy = copy
    return this.#bus.publish('all', CACHE_EVENT_SOURCE, key === undefined ? this.#purgeEvent : this.#invalidateEvent, data)
  }
}

/**
 * A fresh L2 entry as a load's outcome: promoted into L1 with its
 * **remaining** TTL (as upstream, which also fixed the last millisecond this
 * way). With `refreshAhead`, only until its refresh point, so that the read
 * after it reaches L2 and starts the reload; an entry already past it keeps
 * its remaining TTL (the read that found it started the reload).
 */
function promoted<V>(read: L2Read<V>, opts: ResolvedOptions<V>): Loaded<V> {
  return { value: read.value, hitLevel: read.resurrected ? 4 : 2, l1Ttl: promotedTtl(read, opts) }
}

/** The L1 lifetime of a fresh L2 entry (see {@link promoted}). */
function promotedTtl<V>(read: L2Read<V>, opts: ResolvedOptions<V>): number {
  const ttl = read.ttl
  const margin = refreshMargin(read, opts)
  return margin === undefined || ttl <= margin ? ttl : ttl - margin
}

/** A stale L2 entry served as is (`hitLevel 4`), kept out of L1: a reload is on its way, or the loader is failing. */
function servedStale<V>(read: L2Read<V>): Loaded<V> {
  return { value: read.value, hitLevel: 4, l1Ttl: undefined }
}

/**
 * With `refreshAhead`, how long before its expiry an entry is due for a
 * reload: `1 - refreshAhead` of the TTL it was written with (the caller's
 * `ttl`/`negTtl` for an entry that does not say). `undefined` without
 * refresh-ahead, for an entry that never expires, and for a resurrected one
 * (the loader is failing: it is tried again when the entry expires).
 */
function refreshMargin<V>(read: L2Read<V>, opts: ResolvedOptions<V>): number | undefined {
  if (opts.refreshAhead === undefined || read.ttl === 0 || read.resurrected) return undefined
  const life = lifetimeOf(read.flags) ?? (read.negative ? opts.negTtl : opts.ttl)
  // Exactly what is left of a life L1 kept for `life * refreshAhead` ({@link l1Life}): `(1 - 0.8) * 200`
  // is 39.999…, which would leave the read at 40 ms neither due nor worth an L1 entry.
  return life - life * opts.refreshAhead
}

/** Whether a fresh entry is in the last part of its life, where a read starts a background reload. */
function refreshDue<V>(read: L2Read<V>, opts: ResolvedOptions<V>): boolean {
  const margin = refreshMargin(read, opts)
  return margin !== undefined && read.ttl <= margin
}

/** How long L1 keeps a value written with `ttl`: until its refresh point with `refreshAhead` (see {@link promoted}). */
function l1Life<V>(ttl: number, opts: ResolvedOptions<V>): number {
  return opts.refreshAhead === undefined || ttl === 0 ? ttl : ttl * opts.refreshAhead
}


/** What `change` rejected with, `undefined` once it resolved (L2Tier rejects with an `L2Error`, never `undefined`). */
function failureOf(change: Promise<unknown>): Promise<unknown> {
  return change.then(
    () => undefined,
    (error: unknown) => error,
  )
}

function retiredError(page: Page): PageRetiredError {
  return new PageRetiredError(`page ${page.number} of cache '${page.name}' was retired by a swap: take a new snapshot`)
}

function valueOf<T>(found: Lookup<T>): T | undefined {
  return found.value
}

function bulkFailure<T>(error: unknown): BulkResult<T> {
  return { value: undefined, error: error instanceof Error ? error : new Error(String(error)) }
}
