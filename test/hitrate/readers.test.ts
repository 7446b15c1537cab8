import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { loadTrace, parseTrace, type TraceFormat } from '../../src/hitrate/readers.js'

const GLI = fileURLToPath(new URL('../fixtures/gli.lirs.gz', import.meta.url))

/** The bytes as a stream of chunks of `size` bytes, to cross every boundary. */
async function* chunks(bytes: Uint8Array, size = bytes.length): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

async function keysOf(bytes: Uint8Array, format: TraceFormat, size?: number): Promise<string[]> {
  const keys: string[] = []
  for await (const key of parseTrace(chunks(bytes, size), format)) keys.push(key)
  return keys
}

const text = (value: string): Uint8Array => new TextEncoder().encode(value)

function int32s(values: number[]): Uint8Array {
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((value, index) => view.setInt32(index * 4, value, false))
  return bytes
}

const CASES: { format: TraceFormat; input: Uint8Array; keys: string[] }[] = [
  { format: 'arc', input: text('10 3 0 0\n\n7 1 0 0\r\n100 2 5 9'), keys: ['10', '11', '12', '7', '100', '101'] },
  { format: 'lirs', input: text('*comment\n5\n\n6\n5\n* 3 unique\n'), keys: ['5', '6', '5'] },
  { format: 'cache2k', input: int32s([1, 256, -2, 0x7fffffff, 1]), keys: ['1', '256', '-2', '2147483647', '1'] },
  { format: 'lines', input: text('user:1\nuser:2\r\n\nuser:1'), keys: ['user:1', 'user:2', 'user:1'] },
]

describe('trace readers', () => {
  for (const { format, input, keys } of CASES) {
    it(`reads ${format}, plain and gzipped, in one chunk or byte by byte`, async () => {
      expect(await keysOf(input, format)).toEqual(keys)
      expect(await keysOf(input, format, 1)).toEqual(keys)
      expect(await keysOf(gzipSync(input), format)).toEqual(keys)
      expect(await keysOf(gzipSync(input), format, 3)).toEqual(keys)
    })
  }

  it('reads cache2k keys split across chunk boundaries at every offset', async () => {
    const input = int32s([0x01020304, 0x05060708, -1])
    for (const size of [1, 2, 3, 5, 7]) expect(await keysOf(input, 'cache2k', size)).toEqual(['16909060', '84281096', '-1'])
  })

  it('rejects malformed input, naming the line', async () => {
    await expect(keysOf(text('1 2 0 0\nx 1 0 0\n'), 'arc')).rejects.toThrow(/arc trace, line 2/)
    await expect(keysOf(text('3\n4.5\n'), 'lirs')).rejects.toThrow(/lirs trace, line 2/)
    await expect(keysOf(new Uint8Array(6), 'cache2k')).rejects.toThrow(/2 trailing bytes/)
  })

  it('reads the gli trace: 6,015 requests, 2,529 unique keys', async () => {
    const keys = await loadTrace(GLI, 'lirs')
    expect(keys).toHaveLength(6015)
    expect(new Set(keys).size).toBe(2529)
  })
})
