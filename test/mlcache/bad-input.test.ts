import { describe, expect, it } from 'vitest'
import { EncodeError, NoMemoryError } from '../../src/errors.js'
import { MLCache } from '../../src/mlcache.js'
import { countingLoader, fakeClock, testCache, testDict } from '../helpers/cache-factory.js'

describe('bad input', () => {
  it('new MLCache() throws TypeError or RangeError naming the option', () => {
    expect(() => new MLCache(1 as never)).toThrow(new TypeError('name must be a string'))
    expect(() => new MLCache('c', 'x' as never)).toThrow(new TypeError('options must be an object'))
    expect(() => new MLCache('c', { ttl: -1 })).toThrow(new RangeError('options.ttl must be >= 0'))
    expect(() => new MLCache('c', { ttl: '1' as never })).toThrow(new TypeError('options.ttl must be a number'))
    expect(() => new MLCache('c', { negTtl: -1 })).toThrow(new RangeError('options.negTtl must be >= 0'))
    expect(() => new MLCache('c', { resurrectTtl: 0 })).toThrow(new RangeError('options.resurrectTtl must be > 0'))
    expect(() => new MLCache('c', { setTries: 0 })).toThrow(new RangeError('options.setTries must be >= 1'))
    expect(() => new MLCache('c', { setTries: 1.5 })).toThrow(new RangeError('options.setTries must be an integer'))
    expect(() => new MLCache('c', { lruSize: -1 })).toThrow(new RangeError('options.lruSize must be >= 0'))
    expect(() => new MLCache('c', { lockTimeout: NaN })).toThrow(new TypeError('options.lockTimeout must be a number'))
    expect(() => new MLCache('c', { lockExptime: 0 })).toThrow(new RangeError('options.lockExptime must be > 0'))
    expect(() => new MLCache('c', { l1Serializer: 'x' as never })).toThrow(new TypeError('options.l1Serializer must be a function'))
    expect(() => new MLCache('c', { clock: 5 as never })).toThrow(new TypeError('options.clock must be a function'))
    expect(() => new MLCache('c', { store: {} as never })).toThrow(new TypeError('options.store must be an L2Store (missing readEntry())'))
    expect(() => new MLCache('c', { bus: { publish() {} } as never })).toThrow(TypeError)
    expect(() => new MLCache('c', { lru: { get() {}, set() {}, delete() {} } as never })).toThrow(new TypeError('options.lru must be an L1 store (missing clear())'))
    expect(() => new MLCache('c', { negTTL: 5 } as never)).toThrow(new TypeError('options.negTTL is not a known option'))
  })

  it('get() rejects keys of 0 and 65536 bytes and accepts 65535', async () => {
    const { cache } = testCache()
    await expect(cache.get('', () => 'v')).rejects.toThrow(new RangeError('key must not be empty'))
    await expect(cache.get(5 as never, () => 'v')).rejects.toThrow(new TypeError('key must be a string'))
    await expect(cache.get('x'.repeat(65_536), () => 'v')).rejects.toThrow(new RangeError('key must be at most 65535 UTF-8 bytes'))
    await expect(cache.get('é'.repeat(32_768), () => 'v')).rejects.toThrow(RangeError)
    const longest = 'x'.repeat(65_535)
    expect(await cache.lookup(longest, () => 'v')).toMatchObject({ value: 'v', hitLevel: 3 })
    expect(await cache.lookup(longest)).toMatchObject({ value: 'v', hitLevel: 1 })
  })

  it('set(), delete(), peek() and lookup() reject bad keys and options', async () => {
    const { cache } = testCache()
    await expect(cache.set('', 'v')).rejects.toThrow(RangeError)
    await expect(cache.set('k', 'v', { ttl: -1 })).rejects.toThrow(new RangeError('options.ttl must be >= 0'))
    await expect(cache.set('k', 'v', { lockTimeout: 5 } as never)).rejects.toThrow(new TypeError('options.lockTimeout is not a known option'))
    await expect(cache.delete(undefined as never)).rejects.toThrow(TypeError)
    await expect(cache.peek('')).rejects.toThrow(RangeError)
    await expect(cache.lookup('k', () => 1, { setTries: 0 })).rejects.toThrow(RangeError)
    await expect(cache.purge({ flushExpired: 'yes' as never })).rejects.toThrow(new TypeError('options.flushExpired must be a boolean'))
    await expect(cache.update(-1)).rejects.toThrow(new RangeError('timeout must be >= 0'))
  })

  it('set() rejects a value larger than the dict with NoMemoryError and leaves L1 untouched', async () => {
    const clock = fakeClock()
    const { cache, lru } = testCache('c', { store: testDict(clock, '64k') }, clock)
    await cache.set('k', 'small')
    const error = await cache.set('k', 'x'.repeat(100_000)).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NoMemoryError)
    expect((error as NoMemoryError).code).toBe('E_NO_MEMORY')
    expect(lru.get('k')).toBe('small')
  })

  it('get() still returns and fills L1 with a loader value larger than the dict', async () => {
    const clock = fakeClock()
    const { cache } = testCache('c', { store: testDict(clock, '64k') }, clock)
    const big = 'x'.repeat(100_000)
    const loader = countingLoader(() => big)
    expect(await cache.lookup('k', loader)).toMatchObject({ value: big, hitLevel: 3 })
    expect(await cache.lookup('k', loader)).toMatchObject({ value: big, hitLevel: 1 })
    expect(loader.calls).toBe(1)
    expect(cache.stats().l2NoMemory).toBe(1)
  })

  it('get() rejects an unencodable loader result with EncodeError, writes nothing and leaves no lock held', async () => {
    const { cache, store } = testCache()
    const error = await cache.get('k', () => ({ callback: () => 1 })).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(EncodeError)
    expect((error as EncodeError).code).toBe('E_ENCODE')
    expect(await cache.peek('k', { stale: true })).toBeUndefined()
    expect(store.tryLock('cache', 'k', 'probe', 1_000)).toBe('acquired')
    store.unlock('cache', 'k', 'probe')
    // The key is not poisoned: a good value loads next time.
    expect(await cache.get('k', () => 'fine')).toBe('fine')
  })

  it('set() rejects an unencodable value with EncodeError before writing anything', async () => {
    const { cache } = testCache()
    await cache.set('k', 'old')
    await expect(cache.set('k', Symbol('s') as never)).rejects.toBeInstanceOf(EncodeError)
    expect(await cache.peek('k')).toMatchObject({ value: 'old' })
    expect(await cache.get('k')).toBe('old')
  })

  it('set() retries "no memory" setTries times, evicting older entries to fit', async () => {
    const clock = fakeClock()
    const store = testDict(clock, '64k')
    const { cache } = testCache('c', { store, setTries: 3 }, clock)
    for (let i = 0; i < 200; i++) await cache.set(`k${i}`, 'v'.repeat(1_000))
    expect(await cache.peek('k199')).toMatchObject({ stale: false })
    expect(await cache.peek('k0')).toBeUndefined()
  })
})
