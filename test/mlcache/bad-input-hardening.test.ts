/**
 * Input that once slipped through validation: keys that collide once
 * encoded, values that do not come back as they went in, durations a timer
 * cannot honour, L1 sizes that exhaust the heap.
 */
import { describe, expect, it } from 'vitest'
import { MAX_DEPTH } from '../../src/codec/value-check.js'
import { EncodeError } from '../../src/errors.js'
import { MAX_TIMER_MS } from '../../src/internal/validate.js'
import { MAX_LRU_SIZE } from '../../src/l1/l1-cache.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import { countingLoader, testCache, twoWorkers } from '../helpers/cache-factory.js'

/** Keys holding a lone surrogate; UTF-8 would write each of them with U+FFFD. */
const ILL_FORMED_KEYS = ['\uD800', '\uDBFF', 'user:\uDC00', 'a\uD83Db', '\uDE00\uD83D']
const KEY_ERROR = new TypeError('key must be well-formed UTF-16 (it holds a lone surrogate)')

describe('keys that are not well-formed UTF-16', () => {
  it('set() rejects a key with a lone surrogate with TypeError and writes nothing', async () => {
    const { cache, store, lru } = testCache()
    for (const key of ILL_FORMED_KEYS) {
      await expect(cache.set(key, 'v')).rejects.toThrow(KEY_ERROR)
    }
    expect(store.keys(0)).toEqual([])
    expect(lru.size).toBe(0)
  })

  it('get(), lookup(), peek() and delete() reject a key with a lone surrogate with TypeError, running no loader', async () => {
    const { cache } = testCache()
    const loader = countingLoader(() => 'v')
    for (const key of ILL_FORMED_KEYS) {
      await expect(cache.get(key)).rejects.toThrow(KEY_ERROR)
      await expect(cache.get(key, loader)).rejects.toThrow(KEY_ERROR)
      await expect(cache.lookup(key, loader)).rejects.toThrow(KEY_ERROR)
      await expect(cache.peek(key)).rejects.toThrow(KEY_ERROR)
      await expect(cache.delete(key)).rejects.toThrow(KEY_ERROR)
    }
    expect(loader.calls).toBe(0)
  })

  it('getBulk() answers TypeError for an op whose key holds a lone surrogate and serves the others', async () => {
    const { cache } = testCache()
    const results = await cache.getBulk([
      { key: 'good', loader: () => 'g' },
      { key: 'user:\uDC00', loader: () => 'bad' },
    ])
    expect(results[0]).toMatchObject({ value: 'g', hitLevel: 3 })
    expect(results[1]?.error).toStrictEqual(KEY_ERROR)
    expect(await cache.peek('user:\uFFFD')).toBeUndefined()
  })

  it('delete() of a key with a lone surrogate leaves the key with U+FFFD in its place alone', async () => {
    const { cache } = testCache()
    await cache.set('user:\uFFFD', 'kept')
    await expect(cache.delete('user:\uDC00')).rejects.toThrow(KEY_ERROR)
    await expect(cache.set('user:\uD800', 'other')).rejects.toThrow(KEY_ERROR)
    expect(await cache.peek('user:\uFFFD')).toMatchObject({ value: 'kept' })
  })

  it('get() keeps well-formed keys with astral characters, U+FFFD and surrogate pairs apart', async () => {
    const { cache } = testCache()
    const keys = ['user:\uFFFD', 'user:😀', 'user:\uD83D\uDE01', 'user:\u{10FFFF}']
    for (const key of keys) await cache.set(key, key)
    for (const key of keys) expect(await cache.peek(key)).toMatchObject({ value: key })
  })

  it('new MLCache() rejects a name with a lone surrogate with TypeError', () => {
    expect(() => new MLCache('users\uD800')).toThrow(new TypeError('name must be well-formed UTF-16 (it holds a lone surrogate)'))
  })

  it('SharedDict rejects a key with a lone surrogate with TypeError', () => {
    const dict = SharedDict.create({ size: '64k' })
    expect(() => dict.set('\uD800', 'a')).toThrow(KEY_ERROR)
    expect(() => dict.get('\uDBFF')).toThrow(KEY_ERROR)
    expect(() => dict.delete('k\uDC00')).toThrow(KEY_ERROR)
    expect(() => dict.add('\uD83D', 1)).toThrow(KEY_ERROR)
    expect(dict.keys(0)).toEqual([])
  })
})

describe('values that would not come back as they went in', () => {
  it('set() rejects a string value with a lone surrogate with EncodeError and writes nothing', async () => {
    const { cache, lru } = testCache()
    await cache.set('k', 'old')
    for (const value of ['\uD83D', { name: 'x\uDC00' }, new Map([['\uD800', 1]])]) {
      const error = await cache.set('k', value).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(EncodeError)
      expect((error as EncodeError).code).toBe('E_ENCODE')
    }
    expect(await cache.peek('k')).toMatchObject({ value: 'old' })
    expect(lru.get('k')).toBe('old')
  })

  it('get() rejects a loader value with a lone surrogate with EncodeError, caches nothing and leaves no lock held', async () => {
    const { cache, store } = testCache()
    await expect(cache.get('k', () => ({ list: ['fine', '\uD83D'] }))).rejects.toThrow(EncodeError)
    expect(await cache.peek('k', { stale: true })).toBeUndefined()
    expect(store.tryLock('cache', 'k', 'probe', 1_000)).toBe('acquired')
    store.unlock('cache', 'k', 'probe')
    expect(await cache.get('k', () => 'fine')).toBe('fine')
  })

  it(`get() rejects a loader value nested deeper than ${MAX_DEPTH} levels with EncodeError and caches nothing`, async () => {
    const { cache } = testCache()
    let deep: unknown = 'leaf'
    for (let i = 0; i <= MAX_DEPTH; i++) deep = [deep]
    await expect(cache.get('k', () => deep)).rejects.toThrow(EncodeError)
    expect(await cache.peek('k', { stale: true })).toBeUndefined()
  })

  it('get() from another worker returns strings with surrogate pairs exactly as set', async () => {
    const { a, b } = twoWorkers()
    const value = { emoji: '\uD83D\uDE00', text: 'caf\u00E9 \uFFFD', [`key \uD83D\uDE01`]: ['\u{10FFFF}'.repeat(40)] }
    await a.set('k', value)
    expect(await b.lookup('k')).toMatchObject({ value, hitLevel: 2 })
  })
})

describe('durations that drive a timer', () => {
  const TOO_LONG = [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]

  it('update() rejects a timeout beyond 2^31 - 1 ms with RangeError (Node would fire it after 1 ms)', async () => {
    const { cache } = testCache()
    for (const timeout of TOO_LONG) {
      await expect(cache.update(timeout)).rejects.toThrow(new RangeError(`timeout must be <= ${MAX_TIMER_MS} (a timer's longest delay)`))
    }
    await expect(cache.update(MAX_TIMER_MS)).resolves.toBeUndefined()
  })

  it('new MLCache(), get() and lookup() reject a lockTimeout beyond 2^31 - 1 ms with RangeError', async () => {
    const message = `options.lockTimeout must be <= ${MAX_TIMER_MS} (a timer's longest delay)`
    expect(() => new MLCache('c', { lockTimeout: 2 ** 31 })).toThrow(new RangeError(message))
    const { cache } = testCache()
    const loader = countingLoader(() => 'v')
    await expect(cache.get('k', loader, { lockTimeout: 2 ** 31 })).rejects.toThrow(new RangeError(message))
    await expect(cache.lookup('k', loader, { lockTimeout: 2 ** 40 })).rejects.toThrow(new RangeError(message))
    expect(loader.calls).toBe(0)
    expect(await cache.get('k', loader, { lockTimeout: MAX_TIMER_MS })).toBe('v')
  })

  it('set() and get() keep TTLs beyond 2^31 - 1 ms: they are data, not timers', async () => {
    const { cache } = testCache('c', { ttl: 2 ** 40, lockExptime: 2 ** 40, resurrectTtl: 2 ** 40 })
    await cache.set('a', 'v', { ttl: 2 ** 35 })
    expect((await cache.peek('a'))?.ttl).toBeGreaterThan(2 ** 34)
    expect(await cache.get('b', () => 'w', { negTtl: 2 ** 33 })).toBe('w')
    expect((await cache.peek('b'))?.ttl).toBeGreaterThan(2 ** 39)
  })
})

describe('the size of the default L1', () => {
  it('new MLCache() rejects an lruSize beyond 1,000,000 slots with RangeError before allocating any', () => {
    // 10^8 slots used to abort the process (V8 out of memory) at the first set, 5 * 10^8 at construction.
    for (const lruSize of [MAX_LRU_SIZE + 1, 1e7, 1e8, 5e8, 2 ** 32]) {
      expect(() => new MLCache('c', { lruSize })).toThrow(new RangeError('options.lruSize must be <= 1000000'))
    }
  })

  it('get() serves L1 hits from an L1 of the maximum size', async () => {
    const cache = new MLCache('max-l1', { lruSize: MAX_LRU_SIZE })
    try {
      const loader = countingLoader(() => 'v')
      expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 3 })
      expect(await cache.lookup('k', loader)).toMatchObject({ value: 'v', hitLevel: 1 })
    } finally {
      await cache.close()
    }
  })
})
