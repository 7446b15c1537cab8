import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { H_VERSION, HEADER_BYTES } from '../../../src/l2/shared-dict/layout.js'
import { SharedDict, type SharedDictHandle } from '../../../src/l2/shared-dict/shared-dict.js'
import { MAX_DICT_BYTES, MIN_DICT_BYTES, parseDictSize } from '../../../src/l2/shared-dict/size.js'
import { fakeClock, useCheckedDicts } from '../../helpers/shared-dict-invariants.js'

const dicts = useCheckedDicts()

describe('SharedDict.create()', () => {
  it('create() makes a dict of exactly the requested size', () => {
    expect(dicts.create({ size: '64m' }).capacity()).toBe(64 * 1024 * 1024)
    expect(dicts.create({ size: '512k' }).capacity()).toBe(512 * 1024)
    expect(dicts.create({ size: '16K' }).capacity()).toBe(16 * 1024)
    expect(dicts.create({ size: 20_000 }).capacity()).toBe(20_000)
    expect(dicts.create({ size: '20001' }).capacity()).toBe(20_001)
    expect(dicts.create({ size: 8192 }).capacity()).toBe(8192)
  })

  it('parseDictSize() understands k, m and g suffixes in either case', () => {
    expect(parseDictSize('1g')).toBe(1024 ** 3)
    expect(parseDictSize('3G')).toBe(3 * 1024 ** 3)
    expect(parseDictSize('2M')).toBe(2 * 1024 ** 2)
    expect(parseDictSize('8k')).toBe(MIN_DICT_BYTES)
    expect(parseDictSize(MAX_DICT_BYTES)).toBe(2 ** 32 - 1)
  })

  it('create() rejects sizes out of range, malformed or of the wrong type', () => {
    expect(() => SharedDict.create({ size: MIN_DICT_BYTES - 1 })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: MIN_DICT_BYTES - 1 })).toThrow('options.size must be >= 8192 bytes')
    expect(() => SharedDict.create({ size: '4g' })).toThrow('options.size must be <= 4294967295 bytes')
    expect(() => SharedDict.create({ size: 2 ** 32 })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: '12x' })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: '-16k' })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: '' })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: 16_384.5 })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: Number.NaN })).toThrow(RangeError)
    expect(() => SharedDict.create({ size: true as unknown as number })).toThrow(TypeError)
    expect(() => SharedDict.create({} as { size: number })).toThrow('options.size must be a number or a string')
    expect(() => SharedDict.create(undefined as unknown as { size: number })).toThrow('options must be an object')
  })

  it('create() rejects a clock that is not a function', () => {
    expect(() => SharedDict.create({ size: '16k', clock: 5 as unknown as () => number })).toThrow(
      'options.clock must be a function',
    )
  })

  it('a new dict is empty and all its arena is free', () => {
    const dict = dicts.create({ size: '16k' })
    const stats = dict.stats()
    expect(stats).toEqual({
      entries: 0,
      usedBytes: 0,
      freeBytes: stats.freeBytes,
      forcibleEvictions: 0,
      expiredFreed: 0,
      noMemory: 0,
      recoveries: 0,
    })
    // 16 KiB minus the 4 KiB header and 64 buckets of 4 bytes.
    expect(dict.freeSpace()).toBe(16 * 1024 - HEADER_BYTES - 64 * 4)
    expect(dict.keys()).toEqual([])
  })

  it('the constructor is not public', () => {
    const Ctor = SharedDict as unknown as new (...args: unknown[]) => SharedDict
    expect(() => new Ctor(Symbol('x'), new SharedArrayBuffer(8192), Date.now)).toThrow(TypeError)
  })
})

describe('SharedDict.attach()', () => {
  it('attach() of a structured clone of the handle shares the same memory', () => {
    const dict = dicts.create({ size: '16k' })
    const clone = structuredClone(dict.handle)
    expect(clone.buffer).not.toBe(dict.handle.buffer)
    const other = dicts.track(SharedDict.attach(clone))
    other.set('from-clone', 'hello', 0, 7)
    expect(dict.get('from-clone')).toEqual({ value: 'hello', flags: 7 })
    dict.delete('from-clone')
    expect(other.get('from-clone')).toBeUndefined()
    expect(other.capacity()).toBe(dict.capacity())
  })

  it('attach() works on a handle received through postMessage', async () => {
    const dict = dicts.create({ size: '16k' })
    dict.set('answer', 42)
    const { port1, port2 } = new MessageChannel()
    const received = new Promise<SharedDictHandle>((resolve) => {
      port2.once('message', (message: SharedDictHandle) => resolve(message))
    })
    port1.postMessage(dict.handle)
    const handle = await received
    port1.close()
    port2.close()
    const other = dicts.track(SharedDict.attach(handle))
    expect(other.get('answer')).toEqual({ value: 42, flags: 0 })
    expect(other.incr('answer', 1)).toEqual({ value: 43, forcible: false })
    expect(dict.get('answer')?.value).toBe(43)
  })

  it('two instances in one thread share entries and the LRU order', () => {
    const dict = dicts.create({ size: '16k' })
    const other = dicts.track(SharedDict.attach(dict.handle))
    dict.set('a', 1)
    dict.set('b', 2)
    other.get('a')
    expect(dict.keys()).toEqual(['b', 'a'])
  })

  it('attach() uses the clock given in its options', () => {
    const clock = fakeClock()
    const dict = dicts.create({ size: '16k', clock: clock.now })
    const lateClock = fakeClock(clock.now() + 10_000)
    const other = dicts.track(SharedDict.attach(dict.handle, { clock: lateClock.now }))
    dict.set('key', 'value', 5_000)
    expect(dict.get('key')?.value).toBe('value')
    expect(other.getStale('key')?.stale).toBe(true)
    expect(other.ttl('key')).toBe(-5_000)
    expect(other.get('key')).toBeUndefined()
  })

  it('attach() rejects anything that is not a SharedDict handle', () => {
    const attach = (handle: unknown): SharedDict => SharedDict.attach(handle as SharedDictHandle)
    expect(() => attach(undefined)).toThrow('handle is not a SharedDict handle')
    expect(() => attach(null)).toThrow(TypeError)
    expect(() => attach({})).toThrow('handle is not a SharedDict handle')
    expect(() => attach({ buffer: new ArrayBuffer(16_384) })).toThrow('handle is not a SharedDict handle')
    expect(() => attach({ buffer: new SharedArrayBuffer(16_384) })).toThrow('handle is not a SharedDict handle')
    expect(() => attach({ buffer: new SharedArrayBuffer(16) })).toThrow('handle is not a SharedDict handle')
  })

  it('attach() refuses another layout version', () => {
    const dict = SharedDict.create({ size: '16k' })
    const header = new Int32Array(dict.handle.buffer, 0, 4)
    header[H_VERSION] = 99
    expect(() => SharedDict.attach(dict.handle)).toThrow(TypeError)
    expect(() => SharedDict.attach(dict.handle)).toThrow('SharedDict layout version 99, expected 5')
  })

  it('attach() refuses a buffer whose size does not match its header', () => {
    const dict = SharedDict.create({ size: '16k' })
    const copy = new SharedArrayBuffer(32 * 1024)
    new Uint8Array(copy).set(new Uint8Array(dict.handle.buffer))
    expect(() => SharedDict.attach({ buffer: copy })).toThrow('handle is not a SharedDict handle')
  })

  it('attach() rejects bad options', () => {
    const dict = dicts.create({ size: '16k' })
    expect(() => SharedDict.attach(dict.handle, { clock: 'now' as unknown as () => number })).toThrow(
      'options.clock must be a function',
    )
    expect(() => SharedDict.attach(dict.handle, 5 as unknown as { clock: () => number })).toThrow(
      'options must be an object',
    )
  })
})
