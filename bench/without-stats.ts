/**
 * MLCache with its statistics counters, or its `diagnostics_channel`
 * checks, compiled out, to measure what they cost: `stats()` is always on
 * and tracing is checked on every call (there is no switch to pay for on
 * the hot path), so the only honest "without" is the same source with every
 * counter update (every check) removed. This reads `src/mlcache.ts`, replaces each update by
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
/** `getChannel.hasSubscribers` and the like: the one check each traced call makes when nobody listens. */
const TRACING_CHECKS = /\b(?:get|set|delete|load)Channel\.hasSubscribers\b/g

/** The MLCache class without counter updates; throws if the source no longer has the updates it expects. */
export function mlcacheWithoutStats(): Promise<typeof MLCache> {
  return stripped('stats', (source) => {
    let removed = 0
    const without = source.replace(COUNTER_UPDATES, () => {
      removed++
      return 'undefined'
    })
    // The L1 hit path counts `#l1Hits` in get() and in lookup(); more updates elsewhere.
    if (removed < 4 || /#l1Hits\+\+|#stats\.\w+\+\+/.test(without)) throw new Error(`could not strip the counters of src/mlcache.ts (${removed} removed)`)
    return without
  })
}

/** The MLCache class without its `diagnostics_channel` checks (never traced): what tracing costs when nobody listens. */
export function mlcacheWithoutTracing(): Promise<typeof MLCache> {
  return stripped('tracing', (source) => {
    let removed = 0
    const without = source.replace(TRACING_CHECKS, () => {
      removed++
      return 'false'
    })
    // get(), lookup(), set(), delete(), purge() and the loader run each check once.
    if (removed < 6) throw new Error(`could not strip the tracing checks of src/mlcache.ts (${removed} removed)`)
    return without
  })
}

/** Imports `src/mlcache.ts` as edited by `edit`, its relative imports pointing back at `src/`. */
async function stripped(tag: string, edit: (source: string) => string): Promise<typeof MLCache> {
  const source = edit(readFileSync(SOURCE, 'utf8')).replace(/from '\.\//g, "from '../../src/")
  // One file per process and variant: scenarios may run side by side.
  const file = new URL(`mlcache-without-${tag}-${process.pid}.ts`, GENERATED)
  mkdirSync(GENERATED, { recursive: true })
  writeFileSync(file, source)
  try {
    const module = (await import(file.href)) as { MLCache: typeof MLCache }
    return module.MLCache
  } finally {
    rmSync(file, { force: true })
  }
}
