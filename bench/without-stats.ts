/**
 * MLCache with its statistics counters compiled out, to measure what they
 * cost: `stats()` is always on (there is no switch to pay for on the hot
 * path), so the only honest "without" is the same source with every counter
 * update removed. This reads `src/mlcache.ts`, replaces each update by
 * `undefined`, writes the copy to `bench/.generated/` (inside the package,
 * so it is an ES module that resolves the same dependencies; its relative
 * imports pointed back at `src/`, so it shares every other module with the
 * real one) and imports it.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { MLCache } from '../src/index.js'

const SOURCE = new URL('../src/mlcache.ts', import.meta.url)
const GENERATED = new URL('./.generated/', import.meta.url)

/** `this.#l1Hits++`, `this.#stats.lockWaits++`, `this.#stats.answered(2, read.negative)`. */
const COUNTER_UPDATES = /this\.#l1Hits\+\+|this\.#stats\.\w+\+\+|this\.#stats\.answered\([^()]*\)/g

/** The MLCache class without counter updates; throws if the source no longer has the updates it expects. */
export async function mlcacheWithoutStats(): Promise<typeof MLCache> {
  const source = readFileSync(SOURCE, 'utf8')
  let removed = 0
  const stripped = source
    .replace(COUNTER_UPDATES, () => {
      removed++
      return 'undefined'
    })
    .replace(/from '\.\//g, "from '../../src/")
  // The L1 hit path counts `#l1Hits` in get() and in lookup(); more updates elsewhere.
  if (removed < 4 || /#l1Hits\+\+|#stats\.\w+\+\+/.test(stripped)) throw new Error(`could not strip the counters of src/mlcache.ts (${removed} removed)`)
  // One file per process: scenarios may run side by side.
  const file = new URL(`mlcache-without-stats-${process.pid}.ts`, GENERATED)
  mkdirSync(GENERATED, { recursive: true })
  writeFileSync(file, stripped)
  try {
    const module = (await import(file.href)) as { MLCache: typeof MLCache }
    return module.MLCache
  } finally {
    rmSync(file, { force: true })
  }
}
