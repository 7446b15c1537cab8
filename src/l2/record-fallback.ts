/**
 * Records on any store: a store with `readRecord`/`writeRecord` keeps them
 * itself; on one without, a record is an ordinary entry of the same
 * namespace and key that never expires, its value the record's UTF-8. Every
 * member sharing a store agrees on the format, so one that reads the page
 * table through this fallback sees what another wrote through it.
 */
import type { L2Store, MaybePromise } from './l2-store.js'

/** Reads the record `key` of `namespace` in `store`, or the entry standing for it. */
export function readRecordIn(store: L2Store, namespace: string, key: string): MaybePromise<string | undefined> {
  if (store.readRecord !== undefined) return store.readRecord(namespace, key)
  const entry = store.readEntry(namespace, key)
  const text = (found: Awaited<typeof entry>): string | undefined => (found === undefined ? undefined : new TextDecoder().decode(found.value))
  return entry instanceof Promise ? entry.then(text) : text(entry)
}

/**
 * Writes the record `key` of `namespace` in `store`, or the entry standing
 * for it (an evicting store may lose such an entry: see the README).
 * Answers `false` when the store had no memory for it.
 */
export async function writeRecordIn(store: L2Store, namespace: string, key: string, value: string): Promise<boolean> {
  if (store.writeRecord !== undefined) return store.writeRecord(namespace, key, value)
  const written = await store.writeEntry(namespace, key, new TextEncoder().encode(value), 0, 0)
  return written === 'ok'
}
