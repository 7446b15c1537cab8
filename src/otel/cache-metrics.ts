/**
 * MLCache's numbers as OpenTelemetry metrics. The counters are observable:
 * they read each cache's `stats()` when the SDK collects, so observing a
 * cache adds nothing to its hot path. Load durations come from the
 * `mlcache:load` tracing channel (a loader run is slow anyway); L2 memory
 * from the stores' own `capacity()` and `freeSpace()`.
 *
 * Only types are imported from `@opentelemetry/api`: the caller's `Meter`
 * is the one dependency, so this module loads whether or not the API
 * package is installed.
 */
import type { Attributes, Meter, ObservableResult } from '@opentelemetry/api'
import { loadChannel, type CacheTraceContext } from '../diagnostics/tracing.js'
import type { MLCacheStats } from '../types.js'

/** What {@link observeMLCache} reads: any MLCache (only its `name` and `stats()`). */
export interface ObservedCache {
  readonly name: string
  stats(): MLCacheStats
}

/** A store whose memory is reported (a `SharedDict`). */
export interface ObservedStore {
  /** Bytes the store can hold. */
  capacity(): number
  /** Bytes free now. */
  freeSpace(): number
}

/** The options of {@link observeMLCache}. */
export interface MLCacheMetricsOptions {
  /** The meter that owns the instruments, e.g. `metrics.getMeter('my-app')`. */
  meter: Meter
  /** The caches to report, each under its name (attribute `mlcache.name`). */
  caches: readonly ObservedCache[]
  /** Stores whose memory in use is reported (attribute `mlcache.store`: its position here, or the name given). */
  stores?: readonly ObservedStore[] | Readonly<Record<string, ObservedStore>>
}

/** What {@link observeMLCache} answers. */
export interface MLCacheMetrics {
  /** Stops reporting: removes the callbacks and the tracing subscription. Idempotent. */
  stop(): void
}

/** The buckets of `mlcache.load.duration`, in seconds. */
const LOAD_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** The counters read from `stats()`: instrument name, description, and the value (with extra attributes). */
const COUNTERS: readonly {
  readonly name: string
  readonly description: string
  readonly read: (stats: MLCacheStats) => readonly (readonly [number, Attributes])[]
}[] = [
  {
    name: 'mlcache.hits',
    description: 'Answers served from a cache level: L1 (this worker) or L2 (shared)',
    read: (s) => [
      [s.l1Hits, { 'mlcache.level': 'l1' }],
      [s.l2Hits, { 'mlcache.level': 'l2' }],
    ],
  },
  { name: 'mlcache.misses', description: 'Answers not found fresh in L1 or L2: loaded by this caller, or missed without a loader', read: (s) => [[s.loads + s.missesWithoutLoader, {}]] },
  { name: 'mlcache.loads', description: 'Loader runs (L3), failed ones included', read: (s) => [[s.loaderCalls, {}]] },
  { name: 'mlcache.loader.errors', description: 'Loader runs that threw or rejected', read: (s) => [[s.loaderErrors, {}]] },
  {
    name: 'mlcache.timeouts',
    description: 'Waits that ran out: for another worker’s loader lock (lockTimeout), or for a loader (hard loaderTimeout)',
    read: (s) => [
      [s.lockTimeouts, { 'mlcache.timeout': 'lock' }],
      [s.loaderTimeouts, { 'mlcache.timeout': 'loader' }],
    ],
  },
  {
    name: 'mlcache.stale_served',
    description: 'Stale values served: within staleWhileRevalidate, after a soft loaderTimeout, resurrected, or after a timeout with resurrectTtl',
    read: (s) => [[s.staleServed, {}]],
  },
  { name: 'mlcache.background.reloads', description: 'Background reloads that ran the loader (staleWhileRevalidate, refreshAhead)', read: (s) => [[s.backgroundReloads, {}]] },
  { name: 'mlcache.background.errors', description: 'Background reloads that failed (the stale value stays)', read: (s) => [[s.backgroundErrors, {}]] },
  { name: 'mlcache.l2.errors', description: 'Failed L2 calls the cache rode out', read: (s) => [[s.l2Errors, {}]] },
]

/**
 * Reports `caches` (and the memory of `stores`) on `meter`: observable
 * counters `mlcache.hits` (attribute `mlcache.level`: `l1`, `l2`),
 * `mlcache.misses`, `mlcache.loads`, `mlcache.loader.errors`,
 * `mlcache.timeouts` (`mlcache.timeout`: `lock`, `loader`),
 * `mlcache.stale_served`, `mlcache.background.reloads`,
 * `mlcache.background.errors` and `mlcache.l2.errors`, each with
 * `mlcache.name`; a histogram
 * `mlcache.load.duration` (seconds) of every loader run of those caches;
 * an observable gauge `mlcache.l2.memory.used` (bytes) per store. The
 * counters are cumulative since each cache was created: do not call
 * `stats({ reset: true })` on an observed cache.
 * @example
 * ```ts
 * import { metrics } from '@opentelemetry/api'
 * import { observeMLCache } from 'mlcache/otel'
 * observeMLCache({ meter: metrics.getMeter('my-app'), caches: [users], stores: { users: dict } })
 * ```
 */
export function observeMLCache(options: MLCacheMetricsOptions): MLCacheMetrics {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object')
  const { meter, caches } = options
  if (typeof meter?.createObservableCounter !== 'function') throw new TypeError('options.meter must be an OpenTelemetry Meter')
  if (!Array.isArray(caches) || caches.some((cache) => typeof (cache as ObservedCache | null)?.stats !== 'function')) {
    throw new TypeError('options.caches must be an array of MLCache')
  }
  const stores = Object.entries(options.stores ?? {}) as [string, ObservedStore][]
  for (const [name, store] of stores) {
    if (typeof store?.capacity !== 'function' || typeof store.freeSpace !== 'function') throw new TypeError(`options.stores[${name}] must have capacity() and freeSpace()`)
  }
  const stops: (() => void)[] = []

  for (const { name, description, read } of COUNTERS) {
    const counter = meter.createObservableCounter(name, { description })
    const observe = (result: ObservableResult): void => {
      for (const cache of caches) {
        const stats = cache.stats()
        for (const [value, attributes] of read(stats)) result.observe(value, { 'mlcache.name': cache.name, ...attributes })
      }
    }
    counter.addCallback(observe)
    stops.push(() => counter.removeCallback(observe))
  }

  if (stores.length > 0) {
    const memory = meter.createObservableGauge('mlcache.l2.memory.used', { description: 'Bytes of L2 in use', unit: 'By' })
    const observe = (result: ObservableResult): void => {
      for (const [name, store] of stores) result.observe(store.capacity() - store.freeSpace(), { 'mlcache.store': name })
    }
    memory.addCallback(observe)
    stops.push(() => memory.removeCallback(observe))
  }

  const durations = meter.createHistogram('mlcache.load.duration', {
    description: 'Duration of loader runs (L3)',
    unit: 's',
    // In seconds, from a 1 ms database hit to a 10 s outage (the SDK's default buckets are for milliseconds).
    advice: { explicitBucketBoundaries: LOAD_BUCKETS },
  })
  const names = new Set(caches.map((cache) => cache.name))
  const started = new WeakMap<object, number>()
  const finish = (message: unknown): void => {
    const context = message as CacheTraceContext
    const start = started.get(context)
    if (start === undefined) return
    started.delete(context)
    durations.record((performance.now() - start) / 1_000, { 'mlcache.name': context.cache, 'mlcache.outcome': context.error === undefined ? 'ok' : 'error' })
  }
  const subscriber = {
    start: (message: unknown) => {
      const context = message as CacheTraceContext
      if (names.has(context.cache)) started.set(context, performance.now())
    },
    end: () => undefined,
    asyncStart: () => undefined,
    asyncEnd: finish,
    error: () => undefined,
  }
  loadChannel.subscribe(subscriber)
  stops.push(() => void loadChannel.unsubscribe(subscriber))

  let stopped = false
  return {
    stop() {
      if (stopped) return
      stopped = true
      for (const stop of stops) stop()
    },
  }
}
