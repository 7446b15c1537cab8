import { describe, expect, it } from 'vitest'
import { SerializerError } from '../../src/errors.js'
import { testCache, twoWorkers } from '../helpers/cache-factory.js'

interface Row {
  name: string
}
const upper = (row: Row) => ({ name: row.name.toUpperCase() })

describe('l1Serializer', () => {
  it('get() passes a loader result through l1Serializer before L1 and returns the L1 value', async () => {
    const { cache, lru } = testCache<Row>('c', { l1Serializer: upper })
    expect(await cache.lookup('k', () => ({ name: 'ada' }))).toMatchObject({ value: { name: 'ADA' }, hitLevel: 3 })
    expect(lru.get('k')).toEqual({ name: 'ADA' })
    // L2 keeps the raw value.
    expect(await cache.peek('k')).toMatchObject({ value: { name: 'ada' } })
  })

  it('get() runs l1Serializer on L2 promotion but never on L1 hits', async () => {
    let calls = 0
    const { cache, lru } = testCache<Row>('c', {
      l1Serializer: (row) => {
        calls++
        return upper(row)
      },
    })
    await cache.get('k', () => ({ name: 'ada' }))
    await cache.get('k')
    expect(calls).toBe(1)
    lru.delete('k')
    expect(await cache.lookup('k')).toMatchObject({ value: { name: 'ADA' }, hitLevel: 2 })
    expect(calls).toBe(2)
  })

  it('get() never runs l1Serializer on negative entries', async () => {
    let calls = 0
    const { cache } = testCache<Row, number>('c', { l1Serializer: () => calls++ })
    expect(await cache.get('k', () => undefined)).toBeUndefined()
    expect(calls).toBe(0)
  })

  it('get() lets a per-call l1Serializer win over the cache one', async () => {
    const { cache } = testCache<Row, unknown>('c', { l1Serializer: upper })
    expect(await cache.get('k', () => ({ name: 'ada' }), { l1Serializer: (row) => `${row.name}!` })).toBe('ada!')
  })

  it('get() rejects with SerializerError when l1Serializer throws or returns undefined', async () => {
    const { cache } = testCache<Row, unknown>('c')
    const thrown = await cache
      .get('a', () => ({ name: 'x' }), {
        l1Serializer: () => {
          throw new Error('bad row')
        },
      })
      .catch((e: unknown) => e)
    expect(thrown).toBeInstanceOf(SerializerError)
    expect((thrown as SerializerError).code).toBe('E_L1_SERIALIZER')
    expect(((thrown as SerializerError).cause as Error).message).toBe('bad row')
    await expect(cache.get('b', () => ({ name: 'x' }), { l1Serializer: () => undefined })).rejects.toBeInstanceOf(SerializerError)
  })

  it('set() passes the value through l1Serializer into L1', async () => {
    const { cache } = testCache<Row>('c', { l1Serializer: upper })
    await cache.set('k', { name: 'ada' })
    expect(await cache.lookup('k')).toMatchObject({ value: { name: 'ADA' }, hitLevel: 1 })
  })

  it('get() callers sharing one load each get the value through their own per-call l1Serializer', async () => {
    const { cache, lru } = testCache<Row, unknown>('c')
    let release!: (row: Row) => void
    const gate = new Promise<Row>((resolve) => (release = resolve))
    const loader = () => gate
    const first = cache.lookup('k', loader, { l1Serializer: (row) => `first:${row.name}` })
    const second = cache.lookup('k', loader, { l1Serializer: (row) => `second:${row.name}` })
    const third = cache.lookup('k', loader)
    release({ name: 'ada' })
    expect(await first).toMatchObject({ value: 'first:ada', hitLevel: 3 })
    expect(await second).toMatchObject({ value: 'second:ada', hitLevel: 2 })
    expect(await third).toMatchObject({ value: { name: 'ada' }, hitLevel: 2 })
    // L1 holds what the caller that ran the load made of it.
    expect(lru.get('k')).toBe('first:ada')
  })

  it('set() whose l1Serializer throws drops the key from this L1 and every other L1, L2 keeping the new value', async () => {
    const { a, b } = twoWorkers<Row>('c')
    await a.set('k', { name: 'old' })
    await b.get('k')
    expect(await a.lookup('k')).toMatchObject({ value: { name: 'old' }, hitLevel: 1 })
    expect(await b.lookup('k')).toMatchObject({ value: { name: 'old' }, hitLevel: 1 })
    const failing = () => {
      throw new Error('bad row')
    }
    await expect(a.set('k', { name: 'new' }, { l1Serializer: failing })).rejects.toBeInstanceOf(SerializerError)
    await b.update()
    expect(await a.lookup('k')).toEqual({ value: { name: 'new' }, hitLevel: 2, stale: false })
    expect(await b.lookup('k')).toEqual({ value: { name: 'new' }, hitLevel: 2, stale: false })
  })
})
