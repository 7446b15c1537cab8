/**
 * Helpers for SharedDict tests: a fake clock, and a dict factory whose dicts
 * are all checked with `checkSharedDictInvariants` after each test
 * (Caffeine's CacheValidationInterceptor idea).
 */
import { afterEach } from 'vitest'
import { checkSharedDictInvariants } from '../../src/l2/shared-dict/invariants.js'
import { SharedDict, type SharedDictOptions } from '../../src/l2/shared-dict/shared-dict.js'

export { type FakeClock, fakeClock } from './fake-clock.js'

export interface CheckedDicts {
  /** `SharedDict.create(options)`, checked after the test. */
  create(options: SharedDictOptions): SharedDict
  /** Checks `dict` (created or attached elsewhere) after the test, and returns it. */
  track(dict: SharedDict): SharedDict
}

/**
 * Registers an `afterEach` (call it at the top level of a test file) that
 * runs the invariant checker on every dict made or tracked during the test.
 */
export function useCheckedDicts(): CheckedDicts {
  const dicts: SharedDict[] = []
  afterEach(() => {
    const checked = dicts.splice(0)
    for (const dict of checked) checkSharedDictInvariants(dict)
  })
  return {
    create(options) {
      const dict = SharedDict.create(options)
      dicts.push(dict)
      return dict
    },
    track(dict) {
      dicts.push(dict)
      return dict
    },
  }
}
