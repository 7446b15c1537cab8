/**
 * Copies of stored bytes handed to callers (`readEntry`, `get` of a
 * Uint8Array), carved from a per-thread slab as Node's
 * `Buffer.allocUnsafe` carves its pool.
 *
 * Why: V8 keeps typed arrays of at most 64 bytes on its heap; a larger
 * `new Uint8Array(n)` gets its own off-heap backing store, which costs
 * ~300 ns for a 77-byte value on a 2-vCPU machine against ~75 ns for a view
 * on a slab, and that copy is on mlcache's L2-hit path.
 *
 * Consequences, as for pooled Buffers: a small value is a view (mind
 * `byteOffset`/`byteLength`) on a 32 KiB ArrayBuffer shared with other
 * values, which it keeps alive; its bytes are still private to the caller.
 * Slabs are marked untransferable so that a `postMessage` transfer list
 * cannot detach the other values of the slab.
 */

import { markAsUntransferable } from 'node:worker_threads'

/** Values up to this many bytes come from a slab; larger ones get their own buffer. */
const POOLED_MAX = 4096

/** Bytes of one slab. */
const SLAB_BYTES = 32 * 1024

/** Up to this many bytes, a loop copies faster than `set()` of a subarray. */
const LOOP_COPY_MAX = 32

let slab = newSlab()
let slabOffset = 0

function newSlab(): ArrayBuffer {
  const buffer = new ArrayBuffer(SLAB_BYTES)
  markAsUntransferable(buffer)
  return buffer
}

/** A private copy of `source[start .. start + length)`, 8-byte aligned when pooled. */
export function copyBytes(source: Uint8Array, start: number, length: number): Uint8Array {
  let target: Uint8Array
  if (length > POOLED_MAX) {
    target = new Uint8Array(length)
  } else {
    if (slabOffset + length > SLAB_BYTES) {
      slab = newSlab()
      slabOffset = 0
    }
    target = new Uint8Array(slab, slabOffset, length)
    slabOffset = (slabOffset + length + 7) & ~7
  }
  if (length <= LOOP_COPY_MAX) for (let i = 0; i < length; i++) target[i] = source[start + i]!
  else target.set(source.subarray(start, start + length))
  return target
}
