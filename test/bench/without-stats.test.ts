import { describe, expect, it } from 'vitest'
import { mlcacheWithoutStats } from '../../bench/without-stats.js'
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
})
