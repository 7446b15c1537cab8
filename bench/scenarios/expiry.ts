/**
 * Latency of a hot key across its expiry: one key, a loader that takes a
 * fixed time (a database query), and gets arriving at a fixed rate, measured
 * one by one. Without stale-while-revalidate every get that arrives while
 * the loader runs after an expiry waits for it (the spike); with it, or
 * with a refresh ahead of the expiry, none should. MLCache without options,
 * with `staleWhileRevalidate` and with `refreshAhead`, against bentocache
 * (plain, and with its grace period and a soft timeout of 0: its
 * stale-while-revalidate) and cache-manager (its `refreshThreshold`
 * background refresh), each library in memory only.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { createCache } from 'cache-manager'
import { MLCache, type MLCacheOptions } from '../../src/index.js'
import { KEY, USER, type User } from '../fixtures.js'
import { SMOKE, measureRounds, median, scaled } from '../harness.js'
import type { Report } from '../report.js'

/** The entry's TTL: short, so that every round crosses a few expiries. */
const TTL_MS = 200
/** The loader's fixed delay (a `setTimeout`): a database query. */
const LOADER_MS = 20
/** MLCache's stale-while-revalidate window after the expiry (bentocache's grace spans TTL + this). */
const STALE_MS = 1_000
/** The part of the TTL after which a hit reloads ahead of the expiry: at 160 ms, done before 200. */
const REFRESH_AHEAD = 0.8
/** cache-manager's `refreshThreshold`, the ms left at which a hit reloads: the same point of the TTL. */
const REFRESH_THRESHOLD_MS = Math.round(TTL_MS * (1 - REFRESH_AHEAD))
/** Gets started per second, whether or not the earlier ones have answered. */
const RATE = scaled(20_000, 2_000)
/**
 * Each round's measured window: 3 expiries at this TTL and loader delay, so
 * that the headline run stays under 20 s; one in a smoke run, so that every
 * variant's reload path runs there too.
 */
const ROUND_MS = scaled(800, 250)
/** An unmeasured round of every variant first, so that the first measured round is not a cold JIT's. */
const WARMUP_MS = scaled(300, 20)
/** A get slower than this waited for the loader: a hit takes microseconds. */
const WAITED_MS = 5

/** One library and configuration: a fresh cache per round, read through `get`. */
interface Variant {
  name: string
  open(id: string, loader: () => Promise<User>): Subject
}

interface Subject {
  get(): Promise<unknown>
  close(): Promise<unknown>
  /** MLCache's counters that tell how it answered (its `stats()`): printed under the table. */
  counters?(): Record<string, number>
  /** A background reload's error, which rejects no get: the round fails with it. */
  backgroundError?(): Error | undefined
}

/** What one round of one variant recorded. */
interface RoundResult {
  latencies: Float64Array
  elapsedMs: number
  loaderCalls: number
  /** The change of {@link Subject.counters} over the measured window. */
  counters: Record<string, number>
}

/** The MLCache counters printed under the table. */
const COUNTERS = ['l1Hits', 'l2Hits', 'staleServed', 'loads', 'lockWaits', 'loaderCalls', 'backgroundReloads'] as const

/** An MLCache on its default SharedDict with the TTL and `options`, a new name (so a new L1) per round. */
function mlcache(options: MLCacheOptions<User>) {
  return (id: string, loader: () => Promise<User>): Subject => {
    let failure: Error | undefined
    const cache = new MLCache<User>(`bench-expiry-${id}`, {
      ttl: TTL_MS,
      onBackgroundError: (error) => {
        failure ??= error
      },
      ...options,
    })
    return {
      get: () => cache.get(KEY, loader),
      close: () => cache.close(),
      counters: () => {
        const stats = cache.stats()
        return Object.fromEntries(COUNTERS.map((name) => [name, stats[name]]))
      },
      backgroundError: () => failure,
    }
  }
}

/** A memory-only bentocache, as the other in-process scenarios build it, with `options` for the whole cache. */
function bentocache(options: { grace?: number; timeout?: number }) {
  return (_id: string, loader: () => Promise<User>): Subject => {
    const bento = new BentoCache({
      default: 'memory',
      ttl: TTL_MS,
      ...options,
      stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) },
    })
    return { get: () => bento.getOrSet({ key: KEY, factory: loader }), close: () => bento.disconnectAll() }
  }
}

const VARIANTS: Variant[] = [
  { name: 'MLCache (no options)', open: mlcache({}) },
  { name: `MLCache staleWhileRevalidate ${STALE_MS} ms`, open: mlcache({ staleWhileRevalidate: STALE_MS }) },
  { name: `MLCache refreshAhead ${REFRESH_AHEAD}`, open: mlcache({ refreshAhead: REFRESH_AHEAD }) },
  { name: 'bentocache (no grace, its default)', open: bentocache({}) },
  // A soft timeout of 0 with a graced entry: bentocache answers the stale value at once and runs the factory in the background.
  { name: `bentocache grace ${TTL_MS + STALE_MS} ms, timeout 0`, open: bentocache({ grace: TTL_MS + STALE_MS, timeout: 0 }) },
  {
    name: `cache-manager refreshThreshold ${REFRESH_THRESHOLD_MS} ms`,
    open: (_id, loader) => {
      // A hit with less than refreshThreshold ms left reloads in the background: refresh-ahead at the same point of the TTL.
      const cache = createCache({ ttl: TTL_MS, refreshThreshold: REFRESH_THRESHOLD_MS })
      return { get: () => cache.wrap(KEY, loader), close: () => cache.disconnect() }
    },
  },
]

/**
 * Starts gets of the hot key at {@link RATE} per second for `durationMs`,
 * each in a turn of the event loop of its own (a get's time is its own, not
 * that of gets started in the same turn), and answers every get's latency.
 * The first get, which loads the key, is not measured: the window opens on
 * a fresh entry.
 */
async function round(variant: Variant, id: string, durationMs: number): Promise<RoundResult> {
  let loaderCalls = 0
  const loader = async (): Promise<User> => {
    loaderCalls++
    await sleep(LOADER_MS)
    return USER
  }
  const subject = variant.open(id, loader)
  try {
    await subject.get()
    loaderCalls = 0
    const countersBefore = subject.counters?.() ?? {}
    const total = Math.ceil((durationMs * RATE) / 1_000)
    const latencies = new Float64Array(total)
    let wrong = 0
    let settled = 0
    const start = performance.now()
    let issued = 0
    const elapsedMs = await new Promise<number>((resolve, reject) => {
      let failed = false
      const fail = (error: unknown) => {
        failed = true
        reject(error)
      }
      const settle = (index: number, startedAt: number) => (value: unknown) => {
        latencies[index] = performance.now() - startedAt
        if ((value as User | undefined)?.id !== USER.id) wrong++
        if (++settled === total) resolve(performance.now() - start)
      }
      const issue = () => {
        // A get that rejected ends the round: no more gets on a cache about to close.
        if (failed) return
        const due = Math.min(total, Math.floor(((performance.now() - start) * RATE) / 1_000) + 1)
        if (issued < due) {
          const startedAt = performance.now()
          subject.get().then(settle(issued, startedAt), fail)
          issued++
          if (issued < total) setImmediate(issue)
        } else {
          // Ahead of the schedule: the next get is due within a millisecond.
          setTimeout(issue, 1)
        }
      }
      issue()
    })
    if (wrong > 0) throw new Error(`${variant.name}: ${wrong} of ${total} gets answered another value`)
    // A reload started by the last gets finishes before the count is read and the cache closes.
    await sleep(LOADER_MS * 2)
    const failure = subject.backgroundError?.()
    if (failure !== undefined) throw new Error(`${variant.name}: a background reload failed`, { cause: failure })
    const countersAfter = subject.counters?.() ?? {}
    const counters = Object.fromEntries(Object.entries(countersAfter).map(([name, value]) => [name, value - (countersBefore[name] ?? 0)]))
    return { latencies, elapsedMs, loaderCalls, counters }
  } finally {
    await subject.close()
  }
}

/** `3`, or `3-4` when the rounds disagree. */
function span(values: readonly number[]): string {
  const min = Math.min(...values)
  const max = Math.max(...values)
  return min === max ? String(min) : `${min}-${max}`
}

/** `ms` as `12 µs` below a millisecond, `20.4 ms` above. */
function formatLatency(ms: number): string {
  return ms < 1 ? `${(ms * 1_000).toFixed(0)} µs` : `${ms.toFixed(1)} ms`
}

/** The `q`-quantile (0..1) of sorted `values`, nearest rank. */
function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1] as number
}

/**
 * The expiry scenario: p50, p99, p99.9 and max latency of `get` on one hot
 * key across its expiries, gets per second, loader calls and gets that
 * waited for the loader, for MLCache and its peers, each plain, with
 * stale-while-revalidate and with refresh-ahead where it has them, on the
 * same arrivals. Information only: nothing is asserted on the timings.
 */
export async function expiry(report: Report): Promise<void> {
  const rounds = measureRounds()
  const title = `Hot key across its expiry: ${RATE.toLocaleString('en-US')} gets/s of one key, TTL ${TTL_MS} ms, ${LOADER_MS} ms loader`
  report.heading(title)
  for (const variant of VARIANTS) await round(variant, `warmup-${variant.name}`, WARMUP_MS)
  const results = new Map<string, RoundResult[]>(VARIANTS.map((variant) => [variant.name, []]))
  // Rounds interleave the variants, so that a noisy second of the machine hits them all alike.
  for (let r = 0; r < rounds; r++) {
    for (const variant of VARIANTS) results.get(variant.name)?.push(await round(variant, `${r}-${variant.name}`, ROUND_MS))
    report.line(`round ${r + 1} of ${rounds} done`)
  }
  const rows = VARIANTS.map(({ name }) => {
    const measured = results.get(name) ?? []
    const counters = new Map<string, number>()
    for (const result of measured) for (const [counter, value] of Object.entries(result.counters)) counters.set(counter, (counters.get(counter) ?? 0) + value)
    if (counters.size > 0) report.line(`${name}, stats() summed over the rounds: ${[...counters].map(([counter, value]) => `${counter} ${value}`).join(', ')}`)
    // Each round's figures, then their medians: one round that a noisy neighbour stalled moves no percentile.
    const figures = measured.map((result) => {
      const sorted = result.latencies.sort()
      const firstWaited = sorted.findIndex((ms) => ms > WAITED_MS)
      const waited = firstWaited === -1 ? 0 : sorted.length - firstWaited
      return {
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        p999: quantile(sorted, 0.999),
        max: quantile(sorted, 1),
        getsPerSecond: (sorted.length * 1_000) / result.elapsedMs,
        waited,
        waitedPercent: (100 * waited) / sorted.length,
      }
    })
    const mid = (figure: keyof (typeof figures)[number]) => median(figures.map((round) => round[figure]))
    return [
      name,
      formatLatency(mid('p50')),
      formatLatency(mid('p99')),
      formatLatency(mid('p999')),
      formatLatency(mid('max')),
      mid('getsPerSecond').toFixed(0),
      span(measured.map((result) => result.loaderCalls)),
      `${mid('waited')} (${mid('waitedPercent').toFixed(1)} %)`,
    ]
  })
  report.table({
    title,
    header: ['variant', 'p50', 'p99', 'p99.9', 'max', 'gets/s', 'loader calls', `gets > ${WAITED_MS} ms`],
    rows,
    note:
      `one hot key (\`${KEY}\`), the ~100-byte user object, TTL ${TTL_MS} ms, a loader that waits ${LOADER_MS} ms (\`setTimeout\`) and counts its calls; ` +
      `gets start at a fixed rate of ${RATE.toLocaleString('en-US')}/s (open loop: whether or not earlier gets have answered, as requests reach a server), ` +
      `each in an event-loop turn of its own, its latency from its call to its answer (\`performance.now()\`); ` +
      `${rounds} round(s) of ${ROUND_MS} ms per variant, interleaved, each on a fresh cache whose entry was just loaded (about ` +
      `${Math.floor(ROUND_MS / (TTL_MS + LOADER_MS))} expiries per round without a background reload); every figure is the median of the ` +
      `rounds' own (percentiles, max and gets/s of each round's gets; gets over ${WAITED_MS} ms, those that waited for the loader, per round), ` +
      `loader calls per round (a range when rounds differ); every library in memory ` +
      `only: MLCache on its default SharedDict (\`staleWhileRevalidate: ${STALE_MS}\`: a get in the ${STALE_MS} ms after the expiry answers the ` +
      `stale value and starts one background reload; \`refreshAhead: ${REFRESH_AHEAD}\`: a hit in the last ${Math.round((1 - REFRESH_AHEAD) * 100)} % ` +
      `of the TTL starts one), bentocache 1.6.1 memory L1 \`getOrSet\` (\`grace\` is the entry's whole life, so ` +
      `TTL + ${STALE_MS} ms is a ${STALE_MS} ms stale window; its soft \`timeout: 0\` answers the graced value at once and runs the factory ` +
      `in the background; it has no refresh ahead of the expiry), cache-manager 7.2.9 \`createCache()\` \`wrap\` with \`refreshThreshold\` ` +
      `(a hit with less left reloads in the background). Information only, no target.`,
  })
  if (SMOKE) report.line('(smoke run: figures meaningless)')
}
