/**
 * Where the pages of a cache live in its store, and which one is current.
 *
 * Page `n` of cache `name` keeps its entries and loader locks under the
 * namespace {@link pageNamespace}`(name, n)`. The current page's number is a
 * record in the store (Kong kept it in the shared dict key
 * `declarative:page`, so that a respawned worker opens on the live page):
 * writing it is the one commit point of a swap, and a worker that starts or
 * resyncs reads it instead of relying on having seen the swap's event. The
 * lock that makes swaps of a name exclusive across workers lives beside it
 * (Kong: `declarative:lock`, taken with `add`).
 */
import type { L2Store, MaybePromise } from '../l2/l2-store.js'
import { readRecordIn, writeRecordIn } from '../l2/record-fallback.js'

/**
 * The namespace of the page table. Page namespaces that contain NUL end
 * with NUL and digits, so this one is never a page's.
 */
export const PAGE_TABLE_NAMESPACE = '\u0000pages'

/**
 * The L2 namespace of page `page` of cache `name`. Page 1 of a name without
 * NUL is the name itself, so a cache that never swaps keeps its entries
 * where they always were. Every other page appends NUL and the number: a
 * name containing NUL always gets the suffix, which keeps the mapping
 * one-to-one (the suffix parses back from the last NUL).
 */
export function pageNamespace(name: string, page: number): string {
  return page === 1 && !name.includes('\u0000') ? name : `${name}\u0000${page}`
}

/**
 * The copy holding `store`'s page table, as swap events name it: its
 * records' copy, else its entries' (`undefined`: every member shares one).
 */
export function pageTableCopy(store: L2Store): string | undefined {
  return 'recordsCopyId' in store ? store.recordsCopyId : store.copyId
}

/** The key of the record holding the current page of `name`. */
function currentKey(name: string): string {
  return `page:${name}`
}

/**
 * The key of the record holding the oldest page of `name` still readable:
 * raised before an old page's entries are purged, so a read of an old page
 * that found nothing can tell a key the page never had from a page being
 * reclaimed.
 */
function oldestKey(name: string): string {
  return `oldest:${name}`
}

/** The key of the lock held by a swap of `name`. */
export function swapLockKey(name: string): string {
  return `swap:${name}`
}

/**
 * The current page of `name` in `store`: `1` when no swap ever committed.
 * A record the store cannot read answers `undefined` (the caller keeps the
 * page it has and reads again after a resync or the store's recovery).
 */
export function readCurrentPage(store: L2Store, name: string): MaybePromise<number | undefined> {
  return readPage(store, currentKey(name))
}

/** The oldest page of `name` whose entries are still in `store` (`undefined`: the store failed). */
export function readOldestPage(store: L2Store, name: string): MaybePromise<number | undefined> {
  return readPage(store, oldestKey(name))
}

/**
 * Commits `page` as the current page of `name`: `false` when the store had
 * no memory for the record.
 * @throws the store's failure (rejects)
 */
export function writeCurrentPage(store: L2Store, name: string, page: number): Promise<boolean> {
  return writeRecord(store, currentKey(name), String(page))
}

/**
 * Declares the pages of `name` below `page` gone, before their entries are
 * purged; never lowers it.
 * @throws the store's failure (rejects)
 */
export async function raiseOldestPage(store: L2Store, name: string, page: number): Promise<boolean> {
  const oldest = await readOldestPage(store, name)
  if (oldest !== undefined && oldest >= page) return true
  return writeRecord(store, oldestKey(name), String(page))
}

function readPage(store: L2Store, key: string): MaybePromise<number | undefined> {
  try {
    const record = readRecordIn(store, PAGE_TABLE_NAMESPACE, key)
    return record instanceof Promise ? record.then(pageOf, () => undefined) : pageOf(record)
  } catch {
    return undefined
  }
}

function writeRecord(store: L2Store, key: string, value: string): Promise<boolean> {
  return writeRecordIn(store, PAGE_TABLE_NAMESPACE, key, value)
}

function pageOf(record: string | undefined): number {
  const page = record === undefined ? 1 : Number(record)
  return Number.isSafeInteger(page) && page >= 1 ? page : 1
}
