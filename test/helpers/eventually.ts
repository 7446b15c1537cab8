/**
 * Waiting for background work (a background reload, a load that goes on
 * after a soft timeout) without sleeping, and checking that none is left.
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

/** The timers this process has pending (to check that nothing is left running). */
export function pendingTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length
}
