/**
 * L2 bytes are shared by every thread and, with Redis, every process: they
 * must decode with a fresh msgpackr decoder anywhere, without state shared
 * with the encoder.
 */
import { execFileSync } from 'node:child_process'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { encodeValue } from '../../src/codec/codec.js'

const VALUE = {
  name: 'ada',
  visits: 2n ** 64n,
  joined: new Date(1_700_000_000_000),
  tags: new Set(['a', 'b']),
  prefs: new Map<string, unknown>([['theme', 'dark'], ['nested', { deep: [1, 2.5] }]]),
  avatar: Uint8Array.of(1, 2, 3),
}

// An independent decoder: msgpackr's own defaults plus Map decoding.
const DECODE = `
  const { Unpackr } = require('msgpackr')
  const decode = (bytes) => new Unpackr({ moreTypes: true, mapsAsObjects: false }).unpack(Buffer.from(bytes))
`

describe('encoded values across threads and processes', () => {
  it('encodeValue() bytes decode in a worker thread with a fresh decoder', async () => {
    const worker = new Worker(
      `${DECODE}
      const { parentPort, workerData } = require('node:worker_threads')
      parentPort.postMessage(decode(workerData))`,
      { eval: true, workerData: encodeValue(VALUE) },
    )
    const decoded = await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    expect(decoded).toStrictEqual(VALUE)
  })

  it('encodeValue() bytes decode in another process with a fresh decoder', () => {
    const hex = Buffer.from(encodeValue(VALUE)).toString('hex')
    const script = `${DECODE}
      const v = decode(Buffer.from('${hex}', 'hex'))
      console.log(JSON.stringify({ name: v.name, visits: String(v.visits), joined: v.joined.getTime(), tags: [...v.tags],
        prefs: [...v.prefs], avatar: [...v.avatar], isMap: v.prefs instanceof Map, isDate: v.joined instanceof Date }))`
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: new URL('../..', import.meta.url) }))
    expect(out).toEqual({
      name: 'ada',
      visits: String(2n ** 64n),
      joined: 1_700_000_000_000,
      tags: ['a', 'b'],
      prefs: [['theme', 'dark'], ['nested', { deep: [1, 2.5] }]],
      avatar: [1, 2, 3],
      isMap: true,
      isDate: true,
    })
  })
})
