import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { H_ARENA_BYTES, H_ARENA_OFF, H_BUCKET_COUNT, H_BUCKETS_OFF } from '../../../src/l2/shared-dict/layout.js'
import { type DictValue, SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

/** Runs `fn` against a dict holding one entry, then asserts the dict is unchanged. */
function unchanged(fn: (dict: SharedDict) => void): void {
  const dict = dicts.create({ size: '16k' })
  dict.set('present', 'value', 0, 1)
  const before = dict.stats()
  fn(dict)
  expect(dict.stats()).toEqual(before)
  expect(dict.get('present')).toEqual({ value: 'value', flags: 1 })
}

describe('bad keys', () => {
  it('keys of 0 and 65536 UTF-8 bytes are rejected, 65535 accepted', () => {
    unchanged((dict) => {
      expect(() => dict.set('', 1)).toThrow(RangeError)
      expect(() => dict.get('')).toThrow('key must not be empty')
      expect(() => dict.set('k'.repeat(65_536), 1)).toThrow('key must be at most 65535 UTF-8 bytes')
      expect(() => dict.get(`${'é'.repeat(32_767)}kk`)).toThrow(RangeError)
    })
    const dict = dicts.create({ size: '256k' })
    expect(dict.set('k'.repeat(65_535), 1).ok).toBe(true)
  })

  it('a non-string key is a TypeError for every method', () => {
    unchanged((dict) => {
      const key = 5 as unknown as string
      expect(() => dict.get(key)).toThrow('key must be a string')
      expect(() => dict.getStale(key)).toThrow(TypeError)
      expect(() => dict.set(key, 1)).toThrow(TypeError)
      expect(() => dict.safeSet(key, 1)).toThrow(TypeError)
      expect(() => dict.add(key, 1)).toThrow(TypeError)
      expect(() => dict.safeAdd(key, 1)).toThrow(TypeError)
      expect(() => dict.replace(key, 1)).toThrow(TypeError)
      expect(() => dict.delete(key)).toThrow(TypeError)
      expect(() => dict.incr(key, 1)).toThrow(TypeError)
      expect(() => dict.ttl(key)).toThrow(TypeError)
      expect(() => dict.expire(key, 1)).toThrow(TypeError)
      expect(() => dict.readEntry('ns', key)).toThrow(TypeError)
      expect(() => dict.writeEntry('ns', key, new Uint8Array(1), 0, 0)).toThrow(TypeError)
      expect(() => dict.deleteEntry('ns', key)).toThrow(TypeError)
      expect(() => dict.tryLock('ns', key, 't', 1)).toThrow(TypeError)
      expect(() => dict.extendLock('ns', key, 't', 1)).toThrow(TypeError)
      expect(() => dict.unlock('ns', key, 't')).toThrow(TypeError)
      expect(() => dict.readEntries('ns', ['key', key])).toThrow(TypeError)
    })
  })
})

describe('bad ttls and flags', () => {
  // t/043-shdict.t TEST 92: bad "exptime" argument.
  it('a negative, NaN, infinite or non-number ttl is rejected', () => {
    unchanged((dict) => {
      expect(() => dict.set('key', 1, -1)).toThrow('ttl must be >= 0')
      expect(() => dict.set('key', 1, -1)).toThrow(RangeError)
      expect(() => dict.add('key', 1, Number.NaN)).toThrow(TypeError)
      expect(() => dict.safeSet('key', 1, Number.POSITIVE_INFINITY)).toThrow('ttl must be finite')
      expect(() => dict.replace('present', 1, '5' as unknown as number)).toThrow('ttl must be a number')
      expect(() => dict.expire('present', -1)).toThrow('ttl must be >= 0')
      expect(() => dict.expire('present', undefined as unknown as number)).toThrow(TypeError)
      expect(() => dict.writeEntry('ns', 'key', new Uint8Array(1), -5, 0)).toThrow('ttl must be >= 0')
      expect(() => dict.tryLock('ns', 'key', 't', -1)).toThrow('lease must be >= 0')
      expect(() => dict.extendLock('ns', 'key', 't', Number.NaN)).toThrow(TypeError)
      expect(() => dict.extendLock('ns', 'key', 't', -1)).toThrow('lease must be >= 0')
    })
  })

  it('flags must be a uint32', () => {
    unchanged((dict) => {
      expect(() => dict.set('key', 1, 0, -1)).toThrow(RangeError)
      expect(() => dict.set('key', 1, 0, 1.5)).toThrow('flags must be an integer from 0 to 4294967295')
      expect(() => dict.set('key', 1, 0, 2 ** 32)).toThrow(RangeError)
      expect(() => dict.set('key', 1, 0, Number.NaN)).toThrow(RangeError)
      expect(() => dict.set('key', 1, 0, '1' as unknown as number)).toThrow('flags must be a number')
      expect(() => dict.writeEntry('ns', 'key', new Uint8Array(1), 0, -1)).toThrow(RangeError)
    })
  })
})

describe('bad values and other arguments', () => {
  it('values other than strings, numbers, booleans and Uint8Arrays are a TypeError', () => {
    unchanged((dict) => {
      const values: unknown[] = [{}, [], () => 1, Symbol('s'), 1n, new ArrayBuffer(4), new Uint16Array(2), new Date()]
      for (const value of values) {
        expect(() => dict.set('key', value as DictValue)).toThrow(TypeError)
        expect(() => dict.safeSet('key', value as DictValue)).toThrow(TypeError)
        expect(() => dict.add('key', value as DictValue)).toThrow(TypeError)
        expect(() => dict.replace('present', value as DictValue)).toThrow(TypeError)
      }
      expect(() => dict.writeEntry('ns', 'key', 'text' as unknown as Uint8Array, 0, 0)).toThrow(
        'value must be a Uint8Array',
      )
    })
  })

  it('keys(max) and flushExpired(max) need an integer >= 0', () => {
    unchanged((dict) => {
      expect(() => dict.keys(-1)).toThrow('max must be >= 0')
      expect(() => dict.keys(1.5)).toThrow('max must be an integer')
      expect(() => dict.keys('2' as unknown as number)).toThrow(TypeError)
      expect(() => dict.flushExpired(-1)).toThrow(RangeError)
      expect(() => dict.flushExpired(Number.NaN)).toThrow(TypeError)
    })
  })

  it('namespaces and tokens must be strings', () => {
    unchanged((dict) => {
      const bad = 1 as unknown as string
      expect(() => dict.readEntry(bad, 'key')).toThrow('namespace must be a string')
      expect(() => dict.writeEntry(bad, 'key', new Uint8Array(1), 0, 0)).toThrow(TypeError)
      expect(() => dict.deleteEntry(bad, 'key')).toThrow(TypeError)
      expect(() => dict.purgeNamespace(bad, false)).toThrow(TypeError)
      expect(() => dict.tryLock('ns', 'key', bad, 1)).toThrow('token must be a string')
      expect(() => dict.extendLock('ns', 'key', bad, 1)).toThrow('token must be a string')
      expect(() => dict.unlock('ns', 'key', bad)).toThrow(TypeError)
      expect(() => dict.readEntries(bad, ['key'])).toThrow(TypeError)
    })
  })

  it('writeEntry() options must be an object with a staleTtl >= 0, a string fence and a boolean noEvict', () => {
    unchanged((dict) => {
      const write = (options: unknown): unknown => dict.writeEntry('ns', 'key', new Uint8Array(1), 0, 0, options as { staleTtl: number })
      expect(() => write(null)).toThrow('options must be an object')
      expect(() => write(5)).toThrow(TypeError)
      expect(() => write({ staleTtl: -1 })).toThrow('options.staleTtl must be >= 0')
      expect(() => write({ staleTtl: '5' })).toThrow(TypeError)
      expect(() => write({ fence: 5 })).toThrow('options.fence must be a string')
      expect(() => write({ noEvict: 1 })).toThrow('options.noEvict must be a boolean')
      expect(() => write({ noEvict: 'true' })).toThrow(TypeError)
    })
  })

  it('readEntries() needs an array of keys', () => {
    unchanged((dict) => {
      expect(() => dict.readEntries('ns', 'key' as unknown as string[])).toThrow('keys must be an array')
      expect(() => dict.readEntries('ns', undefined as unknown as string[])).toThrow(TypeError)
      expect(() => dict.readEntries('ns', [''])).toThrow(RangeError)
    })
  })
})

describe('input an adversarial run slipped through', () => {
  it('set() of a string value with a lone surrogate is a TypeError and keeps the old value (UTF-8 would turn it into U+FFFD)', () => {
    unchanged((dict) => {
      for (const value of ['\uD83D', 'a\uDC00b', '\uDBFF']) {
        expect(() => dict.set('present', value)).toThrow('value must be well-formed UTF-16')
        expect(() => dict.add('other', value)).toThrow(TypeError)
      }
    })
    const dict = dicts.create({ size: '16k' })
    expect(dict.set('pair', '\uD83D\uDE00').ok).toBe(true)
    expect(dict.get('pair')?.value).toBe('\uD83D\uDE00')
  })

  it('incr() that would make the value non-finite is a RangeError and leaves the value as it was', () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('n', Number.MAX_VALUE, 0, 3)
    expect(() => dict.incr('n', Number.MAX_VALUE)).toThrow('incr would make the value of "n" non-finite')
    expect(() => dict.incr('fresh', Number.MAX_VALUE, Number.MAX_VALUE)).toThrow(RangeError)
    expect(dict.get('n')).toEqual({ value: Number.MAX_VALUE, flags: 3 })
    expect(dict.get('fresh')).toBeUndefined()
    expect(dict.incr('n', -Number.MAX_VALUE)).toEqual({ value: 0, forcible: false })
    expect(dict.stats().recoveries).toBe(0)
  })

  it('create() and attach() reject unknown option names, naming them', () => {
    expect(() => SharedDict.create({ size: '16k', clok: Date.now } as never)).toThrow('options.clok is not a known option')
    const dict = dicts.create({ size: '16k' })
    expect(() => SharedDict.attach(dict.handle, { size: '16k' } as never)).toThrow('options.size is not a known option')
  })

  it('create() and attach() take ownerDeadAfter > 0 (Infinity for never) and reject anything else', () => {
    const dict = dicts.create({ size: '16k', ownerDeadAfter: 5_000 })
    expect(() => SharedDict.attach(dict.handle, { ownerDeadAfter: Number.POSITIVE_INFINITY })).not.toThrow()
    for (const bad of [0, -1, Number.NaN]) {
      expect(() => SharedDict.create({ size: '16k', ownerDeadAfter: bad })).toThrow(/ownerDeadAfter/)
      expect(() => SharedDict.attach(dict.handle, { ownerDeadAfter: bad })).toThrow(/ownerDeadAfter/)
    }
    expect(() => SharedDict.create({ size: '16k', ownerDeadAfter: '1' as unknown as number })).toThrow(TypeError)
  })

  it('attach() refuses a forged handle whose magic, version and size are right but whose geometry is not', () => {
    const dict = dicts.create({ size: '16k' })
    const header = new Uint32Array(dict.handle.buffer)
    for (const field of [H_BUCKETS_OFF, H_BUCKET_COUNT, H_ARENA_OFF, H_ARENA_BYTES]) {
      const forged = new SharedArrayBuffer(dict.handle.buffer.byteLength)
      new Uint8Array(forged).set(new Uint8Array(dict.handle.buffer))
      new Uint32Array(forged)[field] = field === H_BUCKET_COUNT ? 0 : header[field]! + 8
      expect(() => SharedDict.attach({ buffer: forged })).toThrow('its header does not match its size')
    }
  })

  it('a refused set() of a huge string keeps no scratch buffer of its size', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const dict = dicts.create({ size: '16k' })
    const huge = 'x'.repeat(50_000_000)
    gc()
    const before = process.memoryUsage().arrayBuffers
    expect(dict.set('huge', huge)).toEqual({ ok: false, err: 'no memory', forcible: false })
    // Backing stores are freed by a sweeper after the collection: give it turns.
    for (let i = 0; i < 5 && process.memoryUsage().arrayBuffers - before >= 10_000_000; i++) {
      gc()
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    // The 150 MB scratch the string was encoded into is gone.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(10_000_000)
    expect(dict.set('small', 'value').ok).toBe(true)
  })
})

describe('keys and namespaces that are not well-formed UTF-16', () => {
  it('are a TypeError for every keyed method, L2Store ones included, so two keys never share an entry', async () => {
    unchanged((dict) => {
      for (const key of ['\uD800', 'user:\uDC00', 'a\uDBFFb']) {
        expect(() => dict.get(key)).toThrow('key must be well-formed UTF-16')
        expect(() => dict.set(key, 1)).toThrow(TypeError)
        expect(() => dict.incr(key, 1, 0)).toThrow(TypeError)
        expect(() => dict.readEntry('ns', key)).toThrow(TypeError)
        expect(() => dict.writeEntry('ns', key, Uint8Array.of(1), 0, 0)).toThrow(TypeError)
        expect(() => dict.tryLock('ns', key, 'token', 1_000)).toThrow(TypeError)
        expect(() => dict.readEntry(key, 'k')).toThrow('namespace must be well-formed UTF-16')
      }
    })
    const dict = dicts.create({ size: '16k' })
    await expect(dict.waitForUnlock('ns', '\uD800', 10)).rejects.toThrow(TypeError)
    dict.set('user:\uFFFD', 'replacement character')
    expect(() => dict.delete('user:\uDC00')).toThrow(TypeError)
    expect(dict.get('user:\uFFFD')?.value).toBe('replacement character')
  })
})
