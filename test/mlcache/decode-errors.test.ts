import { describe, expect, it } from 'vitest'
import { entryFlags } from '../../src/codec/codec.js'
import { DecodeError } from '../../src/errors.js'
import { countingLoader, l2CallsSettled, testCache } from '../helpers/cache-factory.js'

describe('corrupt L2 entries', () => {
  it('get() treats undecodable bytes as a miss: deletes the entry, counts it and runs the loader', async () => {
    const { cache, store } = testCache()
    store.writeEntry('cache', 'k', Uint8Array.of(0xc1, 0xc1, 0xc1), 0, entryFlags(false, false))
    const loader = countingLoader(() => 'reloaded')
    expect(await cache.lookup('k', loader)).toMatchObject({ value: 'reloaded', hitLevel: 3 })
    expect(cache.stats().decodeErrors).toBe(1)
    expect(loader.calls).toBe(1)
  })

  it('get() treats an unknown format version as a miss', async () => {
    const { cache, store } = testCache()
    store.writeEntry('cache', 'k', Uint8Array.of(0xa1, 0x61), 0, 0x7f00)
    expect(await cache.lookup('k')).toMatchObject({ hitLevel: -1 })
    // The delete is not awaited by the lookup (best effort): over an asynchronous store it lands a little later.
    await l2CallsSettled()
    expect(store.readEntry('cache', 'k')).toBeUndefined()
    expect(cache.stats().decodeErrors).toBe(1)
  })

  it('peek() reports undecodable bytes with DecodeError and leaves them in place', async () => {
    const { cache, store } = testCache()
    store.writeEntry('cache', 'k', Uint8Array.of(0xc1), 0, entryFlags(false, false))
    const error = await cache.peek('k').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DecodeError)
    expect((error as DecodeError).code).toBe('E_DECODE')
    expect(store.readEntry('cache', 'k')).toMatchObject({ value: Uint8Array.of(0xc1), flags: entryFlags(false, false) })
  })
})
