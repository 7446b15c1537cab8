/**
 * Run with `--expose-gc`: encodes a 50 M-character string, then decodes a
 * copy of its bytes, then decodes an object of one such string after a
 * small object of its shape (so that the decoder compares their tables);
 * drops every reference after each step, collects, and prints as JSON how
 * many MiB of buffers each step left behind.
 */
import { decodeValue, encodeValue, entryFlags } from '../../../src/codec/codec.js'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with --expose-gc')
const MiB = 1024 * 1024
const LENGTH = 50_000_000

function buffersAfterGc(): number {
  gc?.()
  gc?.()
  return process.memoryUsage().arrayBuffers / MiB
}

// Each step runs in a function of its own, so that no variable of this module keeps its value alive.
function encodeHuge(): Uint8Array {
  const bytes = encodeValue('x'.repeat(LENGTH))
  encodeValue({ small: 1 })
  return Uint8Array.from(bytes)
}

function decodeCopy(copy: Uint8Array): void {
  const decoded = decodeValue(copy, entryFlags(false, false)) as string
  if (decoded.length !== LENGTH) throw new Error('the value did not round-trip')
}

const baseline = buffersAfterGc()
let copy: Uint8Array | undefined = encodeHuge()
const copyMiB = copy.byteLength / MiB
const encoder = buffersAfterGc() - baseline - copyMiB
decodeCopy(copy)
copy = undefined
const decoder = buffersAfterGc() - baseline

function decodeHugeObject(): void {
  const flags = entryFlags(false, false)
  decodeValue(encodeValue({ text: 'small' }), flags)
  const bytes = encodeValue({ text: 'x'.repeat(LENGTH) })
  const decoded = decodeValue(Uint8Array.from(bytes), flags) as { text: string }
  if (decoded.text.length !== LENGTH) throw new Error('the object did not round-trip')
  encodeValue({ small: 1 })
}

decodeHugeObject()
const objectDecoder = buffersAfterGc() - baseline
console.log(JSON.stringify({ encoder, decoder, objectDecoder }))
