/**
 * Encodes, on this worker's stack, a value nested `workerData.depth` deep
 * (built here: posting it would clone it recursively) and posts the bytes,
 * or the error's name and code.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { encodeValue } from '../../../src/codec/codec.js'
import { MLCacheError } from '../../../src/errors.js'
import { nested } from '../nested.js'

const { depth, kind } = workerData as { depth: number; kind: 'object' | 'array' | 'map' }
try {
  parentPort?.postMessage({ bytes: encodeValue(nested(depth, kind)) })
} catch (error) {
  parentPort?.postMessage({ error: { name: (error as Error).name, code: error instanceof MLCacheError ? error.code : undefined } })
}
