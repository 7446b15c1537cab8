/**
 * A process with its own copy of the codec: decodes the hex bytes of
 * `argv[2]` written with the flags `argv[3]`, and prints the value as JSON
 * (bigints as strings, Maps and Sets as entry arrays, Dates as times, bytes
 * as arrays, each with its type).
 */
import { decodeValue } from '../../../src/codec/codec.js'

const value = decodeValue(Buffer.from(process.argv[2] ?? '', 'hex'), Number(process.argv[3]))
const json = JSON.stringify(value, function replacer(this: unknown, _key: string, item: unknown) {
  if (typeof item === 'bigint') return { bigint: String(item) }
  if (item instanceof Map) return { map: [...item] }
  if (item instanceof Set) return { set: [...item] }
  if (item instanceof Uint8Array) return { bytes: [...item] }
  return item
})
console.log(json)
