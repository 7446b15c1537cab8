/**
 * L2 bytes are shared by every thread and, with Redis, every process: they
 * must decode anywhere, with nothing shared with the encoder (another
 * thread's or process's copy of the codec has its own decoders).
 */
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { decodeValue, encodeValue, entryFlags } from '../../src/codec/codec.js'
import { nextMessage, useTsWorkers } from '../helpers/ts-workers.js'

const VALUE = {
  name: 'ada',
  visits: 2n ** 64n,
  joined: new Date(1_700_000_000_000),
  tags: new Set(['a', 'b']),
  prefs: new Map<string, unknown>([['theme', 'dark'], ['nested', { deep: [1, 2.5] }]]),
  avatar: Uint8Array.of(1, 2, 3),
}

const FLAGS = entryFlags(false, false)

describe('encoded values across threads and processes', () => {
  const workers = useTsWorkers()

  it('encodeValue() bytes decode in a worker thread, whose own encoder writes the same bytes for the same value', async () => {
    const bytes = encodeValue(VALUE)
    const worker = workers.spawn(new URL('./workers/codec-peer.ts', import.meta.url), { bytes, flags: FLAGS, value: VALUE })
    const { decoded, encoded } = await nextMessage<{ decoded: unknown; encoded: Uint8Array }>(worker)
    expect(decoded).toStrictEqual(VALUE)
    expect(Buffer.from(encoded).equals(Buffer.from(bytes))).toBe(true)
    // And this thread reads what the worker wrote.
    expect(decodeValue(encoded, FLAGS)).toStrictEqual(VALUE)
  })

  it('encodeValue() bytes decode in another process', () => {
    const hex = Buffer.from(encodeValue(VALUE)).toString('hex')
    const script = fileURLToPath(new URL('./scripts/decode-hex.ts', import.meta.url))
    const output = execFileSync(process.execPath, ['--import', 'tsx', script, hex, String(FLAGS)], {
      encoding: 'utf8',
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    })
    expect(JSON.parse(output)).toEqual({
      name: 'ada',
      visits: { bigint: String(2n ** 64n) },
      joined: new Date(1_700_000_000_000).toJSON(),
      tags: { set: ['a', 'b'] },
      prefs: { map: [['theme', 'dark'], ['nested', { deep: [1, 2.5] }]] },
      avatar: { bytes: [1, 2, 3] },
    })
  })
})
