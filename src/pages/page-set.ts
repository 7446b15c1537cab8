/**
 * The pages of one cache name and store in this thread: the current one,
 * which every new operation starts on, and older ones still pinned by
 * snapshots. Caches with the same name and store in one thread share one
 * (upstream keeps a weak-valued table of lrucaches per name; the contract
 * adds the store to the key, so two stores never mix), hence one L1 per
 * page; a custom `lru` makes a set of its own, never shared.
 */
import { L1 } from '../l1/l1-cache.js'
import type { L2Store } from '../l2/l2-store.js'
import type { L1Store } from '../types.js'
import { Page } from './page.js'
import { pageNamespace, pageTableCopy, readCurrentPage } from './page-table.js'

/** The pages of a name and store in this thread. */
export class PageSet {
  /** The page new operations start on. */
  current: Page
  /** Pages that stopped being current while snapshots still read them. */
  readonly older = new Set<Page>()
  /** A swap of this set runs in this thread (checked before the store's lock, which covers every worker). */
  swapping = false
  /** How many caches use this set. */
  refs = 1
  readonly #store: L2Store
  readonly #makeL1: () => L1
  readonly #customL1: L1 | undefined

  constructor(
    readonly name: string,
    store: L2Store,
    makeL1: () => L1,
    customL1?: L1,
  ) {
    this.#store = store
    this.#makeL1 = makeL1
    this.#customL1 = customL1
    // A worker that starts after a swap opens on the page the store's record names (Kong's
    // `declarative:page`), never on page 1 by default.
    const recorded = readCurrentPage(store, name)
    this.current = new Page(name, recorded instanceof Promise ? 1 : (recorded ?? 1), customL1 ?? makeL1())
    if (recorded instanceof Promise) {
      const page = this.current
      page.opening = recorded.then((number) => page.opened(number ?? 1))
    }
  }

  /**
   * Makes page `number` current if it is newer than the current one:
   * synchronous, so no operation sees half a switch. The old page stays
   * readable for the snapshots that pin it.
   * @returns whether it switched
   */
  switchTo(number: number): boolean {
    const old = this.current
    if (number <= old.number || old.opening !== undefined) return false
    let l1: L1
    if (this.#customL1 === undefined) {
      l1 = this.#makeL1()
    } else {
      // The custom lru follows the current page (the application inspects it); the old page keeps
      // a private L1 for its snapshots.
      old.l1 = this.#makeL1()
      this.#customL1.clear()
      l1 = this.#customL1
    }
    this.current = new Page(this.name, number, l1)
    if (old.pins > 0) this.older.add(old)
    return true
  }

  /**
   * Reads the store's record of the current page and switches to it (after
   * a swap's event, a resync or the store's recovery).
   */
  async refresh(): Promise<void> {
    await this.current.opening
    const number = await readCurrentPage(this.#store, this.name)
    if (number !== undefined) this.switchTo(number)
  }

  /** Whether snapshots still read page `number`, which is no longer current. */
  pinsOld(number: number): boolean {
    for (const page of this.older) if (page.number === number && page.pins > 0 && !page.retired) return true
    return false
  }

  /**
   * Whether a swap event stamped with `copy` (the copy of the swapping
   * store's page table) is about this set's pages: always, unless both name
   * copies and they differ (another host's own L2 has its own page table).
   */
  ownsCopy(copy: string | undefined): boolean {
    const own = pageTableCopy(this.#store)
    return copy === undefined || own === undefined || copy === own
  }

  /**
   * Page `number` was reclaimed by a swap whose store keeps entries in the
   * copy `from`: marks the pages up to it retired, and when this store keeps
   * a copy of its own (a near tier in front of the shared page table), that
   * copy of the page goes too, as the swapping host purged its own.
   */
  retire(number: number, from: string | undefined): void {
    for (const page of this.older) {
      if (page.number > number) continue
      page.retired = true
      this.older.delete(page)
    }
    if (from !== this.#store.copyId) void Promise.resolve(this.#store.forget?.(pageNamespace(this.name, number))).catch(() => undefined)
  }

  /** A snapshot released `page`: forgets it once nothing pins it. */
  unpinned(page: Page): void {
    if (page.pins === 0) this.older.delete(page)
  }
}

const shared = new WeakMap<object, Map<string, PageSet>>()
/** Every set of this thread by name, for the handlers of swap events. */
const byName = new Map<string, Set<PageSet>>()

/** The page sets of `name` in this thread. */
export function pageSetsNamed(name: string): ReadonlySet<PageSet> | undefined {
  return byName.get(name)
}

/**
 * The page set of (`store`, `name`) in this thread, made on first use with
 * an L1 of `lruSize`; a custom `lru` makes a set of its own. Call the
 * returned `release` when the cache closes.
 */
export function acquirePageSet(
  store: L2Store,
  name: string,
  lruSize: number,
  clock: () => number,
  lru: L1Store | undefined,
): { pages: PageSet; release: () => void } {
  const makeL1 = (): L1 => new L1(lruSize, clock)
  let names = shared.get(store)
  if (names === undefined) {
    names = new Map()
    shared.set(store, names)
  }
  let pages = lru === undefined ? names.get(name) : undefined
  if (pages === undefined) {
    pages = new PageSet(name, store, makeL1, lru === undefined ? undefined : new L1(lruSize, clock, lru))
    if (lru === undefined) names.set(name, pages)
    let sets = byName.get(name)
    if (sets === undefined) byName.set(name, (sets = new Set()))
    sets.add(pages)
  } else {
    pages.refs++
  }
  const acquired = pages
  const ownNames = names
  return {
    pages: acquired,
    release: () => {
      if (--acquired.refs > 0) return
      if (ownNames.get(name) === acquired) ownNames.delete(name)
      const sets = byName.get(name)
      sets?.delete(acquired)
      if (sets?.size === 0) byName.delete(name)
    },
  }
}
