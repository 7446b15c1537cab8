/**
 * A thread with its own copy of the codec (its own encoder and decoders):
 * decodes `workerData.bytes` written with `workerData.flags`, and encodes
 * `workerData.value`; posts both.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { decodeValue, encodeValue } from '../../../src/codec/codec.js'

const { bytes, flags, value } = workerData as { bytes: Uint8Array; flags: number; value: unknown }
parentPort?.postMessage({ decoded: decodeValue(bytes, flags), encoded: encodeValue(value) })
