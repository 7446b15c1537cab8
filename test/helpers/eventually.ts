/**
 * Waiting for background work (a background reload, a load that goes on
 * after a soft timeout) without sleeping, and checking that none is left.
 */
import { onTestFinished, vi } from 'vitest'
import { l2CallsSettled } from './cache-factory.js'

/** Resolves once `reached()` is true, checked after each round of settled L2 calls; rejects after `rounds` rounds. */
export async function eventually(reached: () => boolean, what: string, rounds = 500): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    if (reached()) return
    await l2CallsSettled()
  }
  throw new Error(`never happened: ${what}`)
}

/**
 * Watches the timers set from now on (through the global `setTimeout`, as
 * mlcache's timeouts are): `pending()` counts those neither fired nor
 * cleared. Unlike the process's list of active handles, other suites' and
 * libraries' timers do not count. Restored when the test finishes.
 */
export function watchTimers(): { pending: () => number } {
  const live = new Set<unknown>()
  const realSet = globalThis.setTimeout
  const realClear = globalThis.clearTimeout
  const set = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const handle = realSet(() => {
      live.delete(handle)
      callback(...args)
    }, ms)
    live.add(handle)
    return handle
  }) as typeof setTimeout)
  const clear = vi.spyOn(globalThis, 'clearTimeout').mockImplementation((handle) => {
    live.delete(handle)
    realClear(handle)
  })
  onTestFinished(() => {
    set.mockRestore()
    clear.mockRestore()
  })
  return { pending: () => live.size }
}
