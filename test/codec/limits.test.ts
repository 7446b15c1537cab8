/**
 * What the codec refuses so that every value comes back exactly, on every
 * thread: strings that UTF-8 cannot carry, nesting deeper than some thread
 * can decode. And what it keeps of a huge value once done with it: nothing.
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { decodeValue, encodeValue, encoderBufferBytes, entryFlags } from '../../src/codec/codec.js'
import { MAX_DEPTH } from '../../src/codec/value-check.js'
import { EncodeError } from '../../src/errors.js'
import { nextMessage } from '../helpers/ts-workers.js'
import { nested } from './nested.js'

const FLAGS = entryFlags(false, false)
const BOOT = new URL('../../src/internal/ts-worker.mjs', import.meta.url)

function roundTrip(value: unknown): unknown {
  return decodeValue(encodeValue(value), FLAGS)
}

function encodeError(value: unknown): EncodeError {
  try {
    encodeValue(value, 'k')
  } catch (error) {
    expect(error).toBeInstanceOf(EncodeError)
    return error as EncodeError
  }
  throw new Error('encodeValue() accepted the value')
}

describe('strings that are not well-formed UTF-16', () => {
  const LONE = '\uD83D'

  it('encodeValue() rejects a string with a lone surrogate with EncodeError, wherever it is', () => {
    const values: unknown[] = [
      LONE,
      '\uDC00',
      `${'a'.repeat(100)}${LONE}`, // long strings take msgpackr's native UTF-8 path
      `x${LONE}y`,
      { name: LONE },
      { [`k${LONE}`]: 1 },
      [1, 'ok', [LONE]],
      new Map([[LONE, 1]]),
      new Map([['k', { deep: LONE }]]),
      new Set(['a', LONE]),
      new Error(LONE),
      new RegExp(LONE),
      new (class Custom {
        toJSON(): unknown {
          return { v: LONE }
        }
      })(),
    ]
    for (const value of values) {
      const error = encodeError(value)
      expect(error.code).toBe('E_ENCODE')
      expect(error.key).toBe('k')
      expect(error.message).toBe("value of key 'k' cannot be encoded: it holds a string that is not well-formed UTF-16 (a lone surrogate)")
      expect(error.cause).toBeInstanceOf(TypeError)
    }
  })

  it('encodeValue() round-trips strings with surrogate pairs, U+FFFD, Hangul and every BMP edge', () => {
    const strings = ['😀', '\uD83D\uDE00'.repeat(40), '\uFFFD', 'x\uFFFDy'.repeat(30), '한국어 텍스트', '\uD7FF\uE000\uFFFF', '\u{10FFFF}']
    for (const string of strings) {
      expect(roundTrip(string)).toBe(string)
      expect(roundTrip({ [string]: [string], nested: new Map([[string, string]]) })).toStrictEqual({ [string]: [string], nested: new Map([[string, string]]) })
    }
  })
})

describe('nesting depth', () => {
  it(`encodeValue() rejects a value nested deeper than ${MAX_DEPTH} levels with EncodeError`, () => {
    for (const kind of ['object', 'array', 'map'] as const) {
      const error = encodeError(nested(MAX_DEPTH + 1, kind))
      expect(error.message).toContain(`nests deeper than ${MAX_DEPTH} levels`)
      expect(error.cause).toBeInstanceOf(RangeError)
    }
  })

  it(`encodeValue() round-trips values nested exactly ${MAX_DEPTH} levels on the main thread`, () => {
    for (const kind of ['object', 'array', 'map'] as const) {
      const value = nested(MAX_DEPTH, kind)
      expect(roundTrip(value)).toStrictEqual(value)
    }
  })

  it('encodeValue() rejects a value that holds a cycle with EncodeError', () => {
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = { back: cycle }
    expect(encodeError(cycle).cause).toBeInstanceOf(RangeError)
  })

  it('encodeValue() on a worker with a large stack refuses what the main thread could not decode, and its bytes at the limit decode here', async () => {
    const encodeOnWorker = async (depth: number): Promise<{ bytes?: Uint8Array; error?: { name: string; code?: string } }> => {
      const entry = new URL('./workers/encode-nested.ts', import.meta.url).href
      const worker = new Worker(BOOT, { workerData: { entry, depth, kind: 'object' }, resourceLimits: { stackSizeMb: 16 } })
      try {
        return await nextMessage(worker)
      } finally {
        await worker.terminate()
      }
    }
    // 4,000 levels encode on a 16 MB stack, but overflow the main thread's when decoded.
    expect(await encodeOnWorker(4_000)).toEqual({ error: { name: 'EncodeError', code: 'E_ENCODE' } })
    const atLimit = await encodeOnWorker(MAX_DEPTH)
    expect(atLimit.bytes).toBeInstanceOf(Uint8Array)
    expect(decodeValue(atLimit.bytes!, FLAGS)).toStrictEqual(nested(MAX_DEPTH, 'object'))
  })
})

describe('scratch space after a huge value', () => {
  const MiB = 1024 * 1024
  const HUGE = 50_000_000

  it('encodeValue() writes the next value into a buffer of at most 1 MiB after a 50 M-character string', () => {
    expect(encodeValue('x'.repeat(HUGE)).length).toBeGreaterThan(HUGE)
    encodeValue({ small: 1 })
    expect(encoderBufferBytes()).toBeLessThanOrEqual(MiB)
  })

  it('encodeValue() writes the next value into a buffer of at most 1 MiB after a huge value that failed midway', () => {
    encodeError(['x'.repeat(HUGE), () => 1])
    encodeValue({ small: 1 })
    expect(encoderBufferBytes()).toBeLessThanOrEqual(MiB)
  })

  it('encodeValue() and decodeValue() hold no buffer of a 50 M-character string, alone or in an object, once it is dropped (after a full GC)', () => {
    const script = fileURLToPath(new URL('./scripts/codec-memory.ts', import.meta.url))
    const output = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    })
    const { encoder, decoder, objectDecoder } = JSON.parse(output) as { encoder: number; decoder: number; objectDecoder: number }
    // Before: the encoder kept 179 MiB of scratch, the decoder the 48 MiB it last read.
    expect(encoder).toBeLessThan(8)
    expect(decoder).toBeLessThan(8)
    expect(objectDecoder).toBeLessThan(8)
  })
})
