/**
 * Waits for background work (a background reload, a load that goes on after
 * a soft timeout) to reach a point the test can observe, without sleeping:
 * lets every L2 call of the thread settle, then checks again.
 */
import { l2CallsSettled } from './cache-factory.js'

/** Resolves once `reached()` is true, checked after each round of settled L2 calls; rejects after `rounds` rounds. */
export async function eventually(reached: () => boolean, what: string, rounds = 500): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    if (reached()) return
    await l2CallsSettled()
  }
  throw new Error(`never happened: ${what}`)
}

/** A promise with its resolve and reject, for loaders the test finishes by hand. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** The timers this process has pending (to check that nothing is left running). */
export function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
}
