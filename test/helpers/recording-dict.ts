/**
 * A checked SharedDict whose recoveries (`onRecover`) are recorded in an
 * array instead of being emitted as process warnings, for the crash and
 * recovery tests.
 */
import type { SharedDict, SharedDictRecovery } from '../../src/l2/shared-dict/shared-dict.js'
import type { CheckedDicts } from './shared-dict-invariants.js'

/** A dict and the recoveries this thread performed on it, oldest first. */
export interface RecordingDict {
  readonly dict: SharedDict
  readonly recoveries: SharedDictRecovery[]
}

/**
 * Creates a dict of `size` (and `ownerDeadAfter`, see SharedDictOptions) through `dicts` (so it is checked after the
 * test) that records its recoveries. They are reported in a microtask:
 * `await Promise.resolve()` before reading them.
 */
export function recordingDict(dicts: CheckedDicts, size = '16k', ownerDeadAfter?: number): RecordingDict {
  const recoveries: SharedDictRecovery[] = []
  const dict = dicts.create({ size, ...(ownerDeadAfter === undefined ? {} : { ownerDeadAfter }), onRecover: (recovery) => recoveries.push(recovery) })
  return { dict, recoveries }
}
