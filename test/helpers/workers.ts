/**
 * Drives scripted worker threads from tests: the benchmark's worker plumbing
 * (`bench/workers/threads.ts`). Each worker runs a TypeScript entry (booted
 * through ts-worker.mjs), says `{ ready: true }`, then answers every
 * `{ id, op, ... }` command with `{ id, result }` or `{ id, error }`.
 * Workers are terminated when the test finishes.
 */
import { onTestFinished } from 'vitest'
import { BenchWorker } from '../../bench/workers/threads.js'

export type ScriptedWorker = BenchWorker

export const ScriptedWorker = {
  /** Starts a worker on `entry` with `data`, waits until it is ready, and terminates it when the test finishes. */
  async start(entry: URL, data: Record<string, unknown>): Promise<ScriptedWorker> {
    const worker = await BenchWorker.start(entry, data)
    onTestFinished(() => worker.terminate())
    return worker
  },
}
