import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { lruHits, toIds } from '../../src/hitrate/policies.js'
import { loadTrace } from '../../src/hitrate/readers.js'
import { replay } from '../../src/hitrate/replay.js'

const GLI = fileURLToPath(new URL('../fixtures/gli.lirs.gz', import.meta.url))
let keys: string[]

beforeAll(async () => {
  keys = await loadTrace(GLI, 'lirs')
})

describe('replay through MLCache', () => {
  it('L1 only (--l2 0) equals the exact LRU of the same size', async () => {
    const ids = toIds(keys)
    for (const size of [1000, 1500, 2000]) {
      const counts = await replay(keys, { l1: size, l2: 0 })
      expect(counts).toEqual({ l1: lruHits(ids, size), l2: 0, loader: keys.length - lruHits(ids, size) })
    }
    // The published figures, through MLCache itself.
    const rates = await Promise.all([1000, 1500, 2000].map(async (l1) => ((100 * (await replay(keys, { l1, l2: 0 })).l1) / keys.length).toFixed(2)))
    expect(rates).toEqual(['11.21', '36.56', '57.41'])
  })

  it('with L2, every request is counted once and the total beats L1 only', async () => {
    const l1Only = await replay(keys, { l1: 1000, l2: 0 })
    const counts = await replay(keys, { l1: 1000, l2: '1m' })
    expect(counts.l1 + counts.l2 + counts.loader).toBe(keys.length)
    expect(counts.l1).toBe(l1Only.l1)
    expect(counts.l1 + counts.l2).toBeGreaterThan(l1Only.l1)
    // 1 MiB holds all 2,529 keys: only first uses reach the loader.
    expect(counts.loader).toBe(2529)
  })

  it('spreads requests round-robin over worker threads sharing one SharedDict', async () => {
    const ids = [0, 1].map((worker) => toIds(keys.filter((_, index) => index % 2 === worker)))
    const l1Only = await replay(keys, { l1: 500, l2: 0, workers: 2 })
    // Each worker's L1 is an exact LRU of its share of the requests.
    expect(l1Only).toEqual({ l1: lruHits(ids[0]!, 500) + lruHits(ids[1]!, 500), l2: 0, loader: keys.length - l1Only.l1 })
    const shared = await replay(keys, { l1: 500, l2: '1m', workers: 2 })
    expect(shared.l1 + shared.l2 + shared.loader).toBe(keys.length)
    // One shared L2 and the loader lock: each key is loaded once across both workers.
    expect(shared.loader).toBe(2529)
  })

  it('rejects bad sizes', async () => {
    await expect(replay(keys, { l1: 0, l2: 0 })).rejects.toThrow(RangeError)
    await expect(replay(keys, { l1: 10, l2: 0, workers: 0 })).rejects.toThrow(RangeError)
  })
})
