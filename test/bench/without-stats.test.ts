import { describe, expect, it } from 'vitest'
import { tracingChannel } from 'node:diagnostics_channel'
import { mlcacheWithoutStats, mlcacheWithoutTracing } from '../../bench/without-stats.js'
import { MLCache, SharedDict } from '../../src/index.js'

describe('bench without-stats', () => {
  it('builds an MLCache that behaves the same but counts nothing', async () => {
    const Uncounted = await mlcacheWithoutStats()
    const store = SharedDict.create({ size: '1m' })
    const counted = new MLCache('counted', { store })
    const uncounted = new Uncounted('uncounted', { store })
    for (const cache of [counted, uncounted]) {
      expect(await cache.lookup('k', () => 'v')).toEqual({ value: 'v', hitLevel: 3, stale: false })
      expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 1, stale: false })
      expect(await cache.get('missing')).toBeUndefined()
    }
    expect(counted.stats()).toMatchObject({ l1Hits: 1, loads: 1, loaderCalls: 1, missesWithoutLoader: 1 })
    expect(uncounted.stats()).toMatchObject({ l1Hits: 0, loads: 0, loaderCalls: 0, missesWithoutLoader: 0 })
    await Promise.all([counted.close(), uncounted.close()])
  })

  it('builds an MLCache that behaves the same but publishes nothing on diagnostics_channel', async () => {
    const Untraced = await mlcacheWithoutTracing()
    const published: unknown[] = []
    const ignore = () => undefined
    const handlers = { start: (message: unknown) => void published.push(message), end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore }
    const channel = tracingChannel('mlcache:get')
    channel.subscribe(handlers)
    try {
      const untraced = new Untraced('untraced', { store: SharedDict.create({ size: '1m' }) })
      expect(await untraced.lookup('k', () => 'v')).toEqual({ value: 'v', hitLevel: 3, stale: false })
      expect(await untraced.get('k')).toBe('v')
      expect(published).toEqual([])
      const traced = new MLCache('traced', { store: SharedDict.create({ size: '1m' }) })
      await traced.get('k', () => 'v')
      expect(published).toHaveLength(1)
      await Promise.all([untraced.close(), traced.close()])
    } finally {
      channel.unsubscribe(handlers)
    }
  })
})
