/**
 * Bulk-loading entries into L2 (Kong's `cache/warmup.lua`): a lock-free,
 * non-evicting write of each entry through the same path as a swap's fill,
 * so warmed entries are indistinguishable from loaded ones. Like Kong's, it
 * stops at the first entry L2 has no room for, keeping what it wrote,
 * and reports instead of failing.
 */
import { NoMemoryError } from '../errors.js'
import type { WarmupReport } from '../types.js'
import type { BulkWriter } from './page-writer.js'

/** What a warmup reads: `[key, value]` pairs, synchronously or not. */
export type WarmupSource<V> = Iterable<readonly [string, V | null | undefined]> | AsyncIterable<readonly [string, V | null | undefined]>

/**
 * Writes every pair of `source` through `writer`, with at most
 * `concurrency` writes in flight on an asynchronous store; a synchronous
 * source on a synchronous store runs without a single await.
 * @throws the first failure other than "no memory" (rejects); what was written stays
 */
export async function warmUp<V>(writer: BulkWriter<V>, source: WarmupSource<V>, concurrency: number): Promise<WarmupReport> {
  const started = performance.now()
  const inFlight = new Set<Promise<void>>()
  const write = (entry: unknown): void | Promise<unknown> => {
    if (!Array.isArray(entry) || entry.length !== 2) throw new TypeError('entries must yield [key, value] pairs')
    const written = writer.set(entry[0] as string, entry[1] as V | null | undefined)
    if (!(written instanceof Promise)) return undefined
    // Its failure is also kept by the writer, which settle() reports.
    const tracked = written.catch(() => undefined)
    inFlight.add(tracked)
    void tracked.then(() => inFlight.delete(tracked))
    return inFlight.size >= concurrency ? Promise.race(inFlight) : undefined
  }
  try {
    if (Symbol.asyncIterator in source) {
      for await (const entry of source) {
        await write(entry)
        if (writer.failure !== undefined) break
      }
    } else {
      for (const entry of source) {
        // A synchronous store answers synchronously: no await per entry.
        const full = write(entry)
        if (full !== undefined) await full
        if (writer.failure !== undefined) break
      }
    }
    await writer.settle()
  } catch (error) {
    // Nothing keeps running after the call settles.
    await writer.settle().catch(() => undefined)
    if (!(error instanceof NoMemoryError)) throw error
  } finally {
    writer.close()
  }
  return { entries: writer.entries, bytes: writer.bytes, duration: performance.now() - started, full: writer.failure instanceof NoMemoryError }
}
