import { describe, expect, it } from 'vitest'
import { LoaderError } from '../../src/errors.js'
import type { BulkOp } from '../../src/types.js'
import { testCache } from '../helpers/cache-factory.js'

describe('getBulk()', () => {
  it('getBulk() answers one result per op in op order with hit levels', async () => {
    const { cache, lru } = testCache<string>()
    await cache.get('in-l1', () => 'one')
    await cache.get('in-l2', () => 'two')
    lru.delete('in-l2')
    const results = await cache.getBulk([
      { key: 'in-l1', loader: () => 'x' },
      { key: 'in-l2', loader: () => 'x' },
      { key: 'cold', loader: () => 'three' },
      { key: 'missing', loader: () => undefined },
    ])
    expect(results).toEqual([
      { value: 'one', hitLevel: 1 },
      { value: 'two', hitLevel: 2 },
      { value: 'three', hitLevel: 3 },
      { value: undefined, hitLevel: 3 },
    ])
  })

  it('getBulk() puts a failing op error in its result and never rejects the whole call', async () => {
    const { cache } = testCache<string>()
    const results = await cache.getBulk([
      { key: 'ok', loader: () => 'fine' },
      {
        key: 'fails',
        loader: () => {
          throw new Error('nope')
        },
      },
      { key: 'bad options', loader: () => 'x', options: { ttl: -5 } },
      { key: '', loader: () => 'x' },
      { key: 'no loader' } as unknown as BulkOp<string>,
    ])
    expect(results[0]).toEqual({ value: 'fine', hitLevel: 3 })
    expect(results[1]?.error).toBeInstanceOf(LoaderError)
    expect(results[2]?.error).toEqual(new RangeError('options.ttl must be >= 0'))
    expect(results[3]?.error).toBeInstanceOf(RangeError)
    expect(results[4]?.error).toEqual(new TypeError('ops[4].loader must be a function'))
    for (const failed of results.slice(1)) expect(failed.value).toBeUndefined()
  })

  it('getBulk() runs at most `concurrency` loaders at a time', async () => {
    const { cache } = testCache<number>()
    let running = 0
    let peak = 0
    const loader = async (key: string) => {
      running++
      peak = Math.max(peak, running)
      await new Promise((resolve) => setTimeout(resolve, 5))
      running--
      return Number(key)
    }
    const ops = Array.from({ length: 10 }, (_, i) => ({ key: String(i), loader }))
    const results = await cache.getBulk(ops, { concurrency: 2 })
    expect(results.map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(peak).toBe(2)
    const defaults = await cache.getBulk(ops.map((op) => ({ ...op, key: `d${op.key}`, loader: async (k: string) => loader(k.slice(1)) })))
    expect(defaults.map((r) => r.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(peak).toBe(3)
  })

  it('getBulk() rejects a bad ops array or concurrency', async () => {
    const { cache } = testCache()
    await expect(cache.getBulk('x' as never)).rejects.toThrow(new TypeError('ops must be an array'))
    await expect(cache.getBulk([], { concurrency: 0 })).rejects.toThrow(new RangeError('options.concurrency must be >= 1'))
    await expect(cache.getBulk([], { concurrency: 'a' as never })).rejects.toThrow(TypeError)
  })
})
