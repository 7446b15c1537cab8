/**
 * The bus side of page swapping (Kong's `flip_config` worker event and the
 * `declarative:lock` counter of workers that flipped, as events):
 *
 * - `page-flip` `{ name, swap, replaced }`: a swap of `name` committed.
 *   Every member re-reads the store's record, switches its pages of that
 *   name, and answers `page-switched` `{ swap, pinned }` (`pinned`:
 *   snapshots of this member still read page `replaced`).
 * - `page-released` `{ name, page }`: the last snapshot of a member on an
 *   old page let go of it.
 * - `page-retired` `{ name, page }`: the swap reclaimed the pages up to
 *   `page` from L2; snapshots still pinned to them read their L1 only.
 *
 * Flips and retirements carry the copy of the swapping store's page table
 * when it has one: with an L2 per host, each copy has its own page table,
 * and another host's swap neither retires nor holds back this host's old
 * pages. With a near tier per host in front of a shared store, the page
 * table is shared: every host's snapshots hold the old page, and a
 * retirement also drops each host's near copy of it.
 *
 * Every member of a bus answers flips, whether or not it has a cache of
 * that name (it then has nothing to switch): a swap waits for every live
 * worker of the bus, and one that opens a cache later reads the record.
 * MLCache installs the answering handlers on its bus, and the buses of
 * this package install them on themselves, so a thread that only holds a
 * bus (the main thread of a WorkerBus) answers too.
 */
import type { EventBus } from '../bus/event-bus.js'
import { pageSetsNamed } from './page-set.js'

/** The bus source of MLCache's events (Kong used `"mlcache"` too). */
export const CACHE_EVENT_SOURCE = 'mlcache'
export const PAGE_FLIP_EVENT = 'page-flip'
export const PAGE_SWITCHED_EVENT = 'page-switched'
export const PAGE_RELEASED_EVENT = 'page-released'
export const PAGE_RETIRED_EVENT = 'page-retired'

export interface PageFlip {
  name: string
  swap: string
  /** The page the swap replaced: the one whose snapshots matter. */
  replaced: number
  /** The copy of the swapping store's page table: members on another copy of L2 have their own pages. */
  copy?: string
}
export interface PageSwitched {
  swap: string
  pinned: boolean
}
export interface PageReleased {
  name: string
  page: number
  /** On `page-retired`: the copy of the swapping store's page table, as on {@link PageFlip}. */
  copy?: string
  /** On `page-retired`: the `copyId` of the swapping store's entries. */
  from?: string
}

const answering = new WeakSet<EventBus>()

/**
 * Makes this thread's member of `bus` answer page flips and apply
 * retirements. Idempotent; the subscriptions last as long as the bus.
 */
export function answerPageEvents(bus: EventBus): void {
  if (answering.has(bus)) return
  answering.add(bus)
  bus.subscribe(CACHE_EVENT_SOURCE, PAGE_FLIP_EVENT, async (data) => {
    const flip = data as PageFlip
    let pinned = false
    for (const pages of pageSetsNamed(flip.name) ?? []) {
      await pages.refresh()
      pinned ||= pages.ownsCopy(flip.copy) && pages.pinsOld(flip.replaced)
    }
    const answer: PageSwitched = { swap: flip.swap, pinned }
    // A closed bus cannot answer: the swap then counts this member out once it leaves.
    await bus.publish('all', CACHE_EVENT_SOURCE, PAGE_SWITCHED_EVENT, answer).catch(() => undefined)
  })
  bus.subscribe(CACHE_EVENT_SOURCE, PAGE_RETIRED_EVENT, (data) => {
    const retired = data as PageReleased
    for (const pages of pageSetsNamed(retired.name) ?? []) if (pages.ownsCopy(retired.copy)) pages.retire(retired.page, retired.from)
  })
}
