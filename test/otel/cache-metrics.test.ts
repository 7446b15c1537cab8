/**
 * `mlcache/otel` read through the OpenTelemetry SDK itself: a MeterProvider
 * with the SDK's in-memory exporter behind a metric reader, collected on
 * demand. Counters follow each cache's stats, load durations are recorded
 * per loader run, and L2 memory follows the store.
 */
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import type { DataPoint, Histogram } from '@opentelemetry/sdk-metrics'
import { describe, expect, it, onTestFinished } from 'vitest'
import { observeMLCache } from '../../src/otel/index.js'
import { testCache } from '../helpers/cache-factory.js'

/** A provider whose metrics the test collects when it wants: answers `collect()` → name → data points. */
function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // The export interval never fires within a test: forceFlush() collects.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
  const provider = new MeterProvider({ readers: [reader] })
  onTestFinished(() => provider.shutdown())
  const collect = async (): Promise<Map<string, DataPoint<unknown>[]>> => {
    exporter.reset()
    await reader.forceFlush()
    const points = new Map<string, DataPoint<unknown>[]>()
    for (const resource of exporter.getMetrics()) {
      for (const scope of resource.scopeMetrics) for (const metric of scope.metrics) points.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[])
    }
    return points
  }
  return { meter: provider.getMeter('test'), collect }
}

const values = (points: DataPoint<unknown>[] | undefined) => (points ?? []).map(({ attributes, value }) => ({ attributes, value }))

describe('mlcache/otel', () => {
  it('observeMLCache() reports hits per level, misses, loads, loader errors and stale values from each cache', async () => {
    const { meter, collect } = sdk()
    const { cache: users, lru, clock } = testCache('users', { ttl: 100, resurrectTtl: 1_000 })
    const { cache: posts } = testCache('posts')
    const metrics = observeMLCache({ meter, caches: [users, posts] })
    onTestFinished(() => metrics.stop())
    await users.get('a', () => 'A') // load
    await users.get('a') // L1
    lru.delete('a')
    await users.get('a') // L2
    await users.get('missing') // miss without a loader
    clock.advance(200)
    await users.get('a', () => Promise.reject(new Error('down'))) // loader error, stale served
    await posts.get('p', () => 'P')
    const points = await collect()
    expect(values(points.get('mlcache.hits'))).toEqual([
      { attributes: { 'mlcache.name': 'users', 'mlcache.level': 'l1' }, value: 1 },
      { attributes: { 'mlcache.name': 'users', 'mlcache.level': 'l2' }, value: 1 },
      { attributes: { 'mlcache.name': 'posts', 'mlcache.level': 'l1' }, value: 0 },
      { attributes: { 'mlcache.name': 'posts', 'mlcache.level': 'l2' }, value: 0 },
    ])
    expect(values(points.get('mlcache.misses'))).toEqual([
      { attributes: { 'mlcache.name': 'users' }, value: 2 },
      { attributes: { 'mlcache.name': 'posts' }, value: 1 },
    ])
    expect(values(points.get('mlcache.loads')).map(({ value }) => value)).toEqual([2, 1])
    expect(values(points.get('mlcache.loader.errors')).map(({ value }) => value)).toEqual([1, 0])
    expect(values(points.get('mlcache.stale_served')).map(({ value }) => value)).toEqual([1, 0])
    expect(values(points.get('mlcache.timeouts'))[0]).toEqual({ attributes: { 'mlcache.name': 'users', 'mlcache.timeout': 'lock' }, value: 0 })
    expect(values(points.get('mlcache.l2.errors')).map(({ value }) => value)).toEqual([0, 0])
  })

  it('observeMLCache() reports loader timeouts, stale values served while revalidating, and background reloads and their failures', async () => {
    const { meter, collect } = sdk()
    const { cache, clock } = testCache<string>('users', { ttl: 100, staleWhileRevalidate: 1_000, loaderTimeout: { hard: 10 } })
    const metrics = observeMLCache({ meter, caches: [cache] })
    onTestFinished(() => metrics.stop())
    // A loader that never answers: rejected at the hard timeout.
    await cache.get('slow', () => new Promise<string>(() => undefined)).catch(() => undefined)
    await cache.get('a', () => 'A')
    clock.advance(150)
    await cache.get('a', () => Promise.reject(new Error('down'))) // stale served, the background reload fails
    await cache.update()
    const points = await collect()
    expect(values(points.get('mlcache.timeouts'))).toEqual([
      { attributes: { 'mlcache.name': 'users', 'mlcache.timeout': 'lock' }, value: 0 },
      { attributes: { 'mlcache.name': 'users', 'mlcache.timeout': 'loader' }, value: 1 },
    ])
    expect(values(points.get('mlcache.stale_served')).map(({ value }) => value)).toEqual([1])
    expect(values(points.get('mlcache.background.reloads')).map(({ value }) => value)).toEqual([1])
    expect(values(points.get('mlcache.background.errors')).map(({ value }) => value)).toEqual([1])
  })

  it('records the duration of every loader run of an observed cache in mlcache.load.duration, with its outcome', async () => {
    const { meter, collect } = sdk()
    const { cache: users } = testCache('users')
    const { cache: other } = testCache('not-observed')
    const metrics = observeMLCache({ meter, caches: [users] })
    onTestFinished(() => metrics.stop())
    await users.get('a', () => new Promise((resolve) => setTimeout(() => resolve('A'), 20)))
    await users.get('b', () => 'B')
    await users.get('c', () => Promise.reject(new Error('down'))).catch(() => undefined)
    await other.get('x', () => 'X')
    const histogram = (await collect()).get('mlcache.load.duration') as DataPoint<Histogram>[]
    const byOutcome = Object.fromEntries(histogram.map(({ attributes, value }) => [`${attributes['mlcache.name']}/${attributes['mlcache.outcome']}`, value]))
    expect(Object.keys(byOutcome).sort()).toEqual(['users/error', 'users/ok'])
    expect(byOutcome['users/ok']?.count).toBe(2)
    expect(byOutcome['users/error']?.count).toBe(1)
    // The slow load took at least its 20 ms (in seconds).
    expect(byOutcome['users/ok']?.max).toBeGreaterThanOrEqual(0.019)
  })

  it('reports the memory in use of each store in mlcache.l2.memory.used, and stop() ends every report', async () => {
    const { meter, collect } = sdk()
    const { cache, store } = testCache('users')
    const metrics = observeMLCache({ meter, caches: [cache], stores: { users: store } })
    const before = values((await collect()).get('mlcache.l2.memory.used'))
    await cache.set('k', 'x'.repeat(10_000))
    const after = values((await collect()).get('mlcache.l2.memory.used'))
    expect(before[0]?.attributes).toEqual({ 'mlcache.store': 'users' })
    expect(after[0]!.value as number).toBeGreaterThanOrEqual((before[0]!.value as number) + 10_000)
    expect(after[0]!.value).toBe(store.capacity() - store.freeSpace())
    metrics.stop()
    metrics.stop()
    // After stop(): an L1 hit and a load happen, and neither reaches the meter.
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: 1 })
    await cache.get('z', () => 'Z')
    expect(cache.stats()).toMatchObject({ l1Hits: 1, loaderCalls: 1 })
    const stopped = await collect()
    expect(values(stopped.get('mlcache.load.duration'))).toEqual([])
    const l1 = values(stopped.get('mlcache.hits')).find(({ attributes }) => attributes['mlcache.level'] === 'l1')
    expect(l1?.value ?? 0).toBe(0)
  })

  it('observeMLCache() refuses a missing meter, a non-cache or a store without capacity() with a TypeError', () => {
    const { meter } = sdk()
    const { cache } = testCache('users')
    expect(() => observeMLCache(undefined as never)).toThrow(TypeError)
    expect(() => observeMLCache({ caches: [cache] } as never)).toThrow('options.meter must be an OpenTelemetry Meter')
    expect(() => observeMLCache({ meter, caches: [{}] as never })).toThrow('options.caches must be an array of MLCache')
    expect(() => observeMLCache({ meter, caches: [cache], stores: { bad: {} as never } })).toThrow('options.stores[bad] must have capacity() and freeSpace()')
  })
})
