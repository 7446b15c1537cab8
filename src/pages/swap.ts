/**
 * A page swap, from the worker that runs it (Kong's DB-less reload: lock,
 * fill the shadow page, flip, count the workers that flipped):
 *
 * 1. Take the swap lock of the name in the store (Kong:
 *    `add("declarative:lock")`): held elsewhere → `BusyError`. Its lease is
 *    renewed while the swap runs, so a worker that dies mid-swap frees it.
 * 2. Reclaim what a swap that died may have left (its shadow page, and the
 *    page before the current one), then fill page `current + 1` through a
 *    {@link BulkWriter}, which never evicts: `fill` failing or the page not
 *    fitting purges the shadow page and leaves the current one untouched.
 * 3. Commit: write the new number into the store's record, the one point
 *    after which every worker that starts or resyncs opens on the new page.
 * 4. Publish the flip; every live worker of the bus switches and answers.
 *    Once all did, the old page is reclaimed (at once, or when the
 *    snapshots pinned to it are released or their grace ends).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { type EventBus, WORKER_SOURCE } from '../bus/event-bus.js'
import { BusError, BusyError, L2Error, NoMemoryError } from '../errors.js'
import { uniqueId } from '../internal/nonce.js'
import type { L2Store } from '../l2/l2-store.js'
import type { L2Tier } from '../l2/l2-tier.js'
import type { PageWriter } from '../types.js'
import {
  CACHE_EVENT_SOURCE,
  PAGE_FLIP_EVENT,
  PAGE_RELEASED_EVENT,
  PAGE_RETIRED_EVENT,
  PAGE_SWITCHED_EVENT,
  type PageFlip,
  type PageReleased,
  type PageSwitched,
} from './page-events.js'
import type { PageSet } from './page-set.js'
import { PAGE_TABLE_NAMESPACE, pageNamespace, raiseOldestPage, readCurrentPage, swapLockKey, writeCurrentPage } from './page-table.js'
import { BulkWriter } from './page-writer.js'

/** The lease of the swap lock, ms (renewed every third of it while the swap runs). */
const SWAP_LEASE = 10_000
/** How often a wait for workers re-reads `workers()`, ms: a member that died leaves it without an event on some buses. */
const MEMBERSHIP_POLL = 100

/** What a swap works with: the cache's store, bus and pages. */
export interface SwapContext<V> {
  readonly name: string
  readonly store: L2Store
  readonly tier: L2Tier<V>
  readonly bus: EventBus
  readonly pages: PageSet
  readonly defaults: { ttl: number; negTtl: number }
  /** Runs the reclamation of an old page after the swap resolved; the cache finishes it on close. */
  readonly later: (reclaim: Reclamation) => void
}

/** An old page waiting for its snapshots before its entries go. */
export interface Reclamation {
  /** Resolves once the old page is reclaimed. */
  readonly done: Promise<void>
  /** Reclaims it now, whatever still pins it. */
  finish(): Promise<void>
}

/**
 * Runs one swap (see the file comment).
 * @throws {BusyError} a swap of this name runs (rejects)
 * @throws {NoMemoryError} the page does not fit (rejects)
 * @throws {BusError} a live worker did not switch within `timeout`; the switch is done (rejects)
 * @throws {L2Error} the store failed (rejects)
 * @throws what `fill` threw (rejects)
 */
export async function swapPages<V>(context: SwapContext<V>, fill: (page: PageWriter<V>) => void | Promise<void>, timeout: number, grace: number): Promise<void> {
  const { name, store, pages } = context
  if (pages.swapping) throw new BusyError(`a page swap of cache '${name}' is already running`)
  pages.swapping = true
  try {
    await pages.current.opening
    const token = uniqueId()
    const lockKey = swapLockKey(name)
    const locked = await l2Call(name, () => store.tryLock(PAGE_TABLE_NAMESPACE, lockKey, token, SWAP_LEASE))
    if (locked === 'held') throw new BusyError(`a page swap of cache '${name}' is already running`)
    if (locked === 'no memory') throw new NoMemoryError(`no memory in L2 for the swap lock of cache '${name}'`)
    const renewal = setInterval(() => {
      Promise.resolve()
        .then(() => store.extendLock(PAGE_TABLE_NAMESPACE, lockKey, token, SWAP_LEASE))
        .catch(() => undefined)
    }, SWAP_LEASE / 3)
    renewal.unref()
    try {
      const old = await commit(context, fill)
      await switchEverywhere(context, old, timeout, grace)
    } finally {
      clearInterval(renewal)
      await Promise.resolve()
        .then(() => store.unlock(PAGE_TABLE_NAMESPACE, lockKey, token))
        .catch(() => undefined)
    }
  } finally {
    pages.swapping = false
  }
}

/** Steps 2 and 3: fills the next page and commits it; answers the number of the page it replaced. */
async function commit<V>(context: SwapContext<V>, fill: (page: PageWriter<V>) => void | Promise<void>): Promise<number> {
  const { name, store, tier, pages } = context
  const recorded = await readCurrentPage(store, name)
  if (recorded === undefined) throw new L2Error(`L2 failed for cache '${name}': could not read its current page`)
  const current = Math.max(recorded, pages.current.number)
  const shadow = pageNamespace(name, current + 1)
  // Leftovers of a swap that died midway (Kong purged the shadow page before each load), and the
  // page before the current one, declared gone first so that its snapshots fail rather than read holes.
  await tier.purge(shadow, true)
  if (current > 1) {
    await l2Call(name, () => raiseOldestPage(store, name, current))
    await tier.purge(pageNamespace(name, current - 1), true)
  }
  const writer = new BulkWriter<V>(tier, shadow, context.defaults)
  try {
    await fill(writer)
    await writer.settle()
    writer.close()
    if (!(await l2Call(name, () => writeCurrentPage(store, name, current + 1)))) {
      throw new NoMemoryError(`no memory in L2 for the current page of cache '${name}'`)
    }
  } catch (error) {
    writer.close()
    // Writes the fill did not wait for land before the purge that reclaims them.
    await writer.settle().catch(() => undefined)
    await tier.purge(shadow, true).catch(() => undefined)
    throw error
  }
  pages.switchTo(current + 1)
  return current
}

/** Step 4: the flip, the wait for every live worker, and the old page's reclamation. */
async function switchEverywhere<V>(context: SwapContext<V>, old: number, timeout: number, grace: number): Promise<void> {
  const { name, bus, store } = context
  const swap = uniqueId()
  // Releases are listened to from before the flip: a worker may let go of its last snapshot of the
  // old page right after it answered, while others have not yet; a release missed then would keep
  // the old page for its whole grace.
  const releases = watchReleases(bus, name, old)
  let missing: number[]
  try {
    missing = await waitForWorkers(bus, swap, timeout, releases.pinned, () =>
      bus.publish('all', CACHE_EVENT_SOURCE, PAGE_FLIP_EVENT, { name, swap, replaced: old, ...copyOf(store) } satisfies PageFlip),
    )
  } catch (error) {
    releases.stop()
    throw error
  }
  if (missing.length > 0) {
    releases.stop()
    // A worker that did not switch may still read the old page: it stays until the next swap reclaims it.
    throw new BusError(`page swap of cache '${name}': worker(s) ${missing.join(', ')} did not switch within ${timeout} ms (the switch is done)`)
  }
  const reclamation = reclaimWhenReleased(context, old, releases, grace)
  if (releases.pinned.size === 0) await reclamation.done
  else context.later(reclamation)
}

/** The workers whose snapshots still read an old page, as their answers and releases come. */
interface Releases {
  /** Workers that answered the flip with `pinned` and have not released since. */
  readonly pinned: Set<number>
  /** Called once `pinned` empties after a release. */
  onEmpty: () => void
  stop(): void
}

/**
 * Listens to `page-released` of page `old`. A release counts only
 * once its worker's answer said it pinned the old page (both come from that
 * worker, in order): one sent before was of an older page.
 */
function watchReleases(bus: EventBus, name: string, old: number): Releases {
  const releases: Releases = {
    pinned: new Set(),
    onEmpty: () => undefined,
    stop: () => bus.unsubscribe(subscription),
  }
  const subscription = bus.subscribe(CACHE_EVENT_SOURCE, PAGE_RELEASED_EVENT, (data, _event, _source, workerId) => {
    const event = data as PageReleased
    if (event.name !== name || event.page !== old || workerId === undefined) return
    if (releases.pinned.delete(workerId) && releases.pinned.size === 0) releases.onEmpty()
  })
  return releases
}

/**
 * Publishes with `announce`, then waits until every live worker of the bus
 * answered swap `swap`, or `timeout` ms. Answers who did not; adds those
 * that still pin an older page to `pinned`.
 */
async function waitForWorkers(bus: EventBus, swap: string, timeout: number, pinned: Set<number>, announce: () => Promise<void>): Promise<number[]> {
  const waiting = new Set(bus.workers())
  let wake: () => void = () => undefined
  const answered = bus.subscribe(CACHE_EVENT_SOURCE, PAGE_SWITCHED_EVENT, (data, _event, _source, workerId) => {
    const answer = data as PageSwitched
    if (answer.swap !== swap || workerId === undefined) return
    waiting.delete(workerId)
    if (answer.pinned) pinned.add(workerId)
    wake()
  })
  const exits = bus.subscribe(WORKER_SOURCE, 'exit', () => wake())
  try {
    await announce()
    const deadline = performance.now() + timeout
    for (;;) {
      const live = new Set(bus.workers())
      for (const id of waiting) if (!live.has(id)) waiting.delete(id)
      const left = deadline - performance.now()
      if (waiting.size === 0 || left <= 0) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, MEMBERSHIP_POLL))
        wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  } finally {
    bus.unsubscribe(answered)
    bus.unsubscribe(exits)
  }
  return [...waiting]
}

/**
 * Reclaims page `old` once the live workers in `releases.pinned` released
 * their snapshots of it, or after `grace` ms: purges its entries from L2 and
 * tells every worker it is retired.
 */
function reclaimWhenReleased<V>(context: SwapContext<V>, old: number, releases: Releases, grace: number): Reclamation {
  const { name, bus, tier, store } = context
  const { pinned } = releases
  let release: () => void = () => undefined
  const released = new Promise<void>((resolve) => (release = resolve))
  releases.onEmpty = release
  let over = false
  const watch = async (): Promise<void> => {
    const deadline = performance.now() + grace
    while (!over && pinned.size > 0 && performance.now() < deadline) {
      const live = new Set(bus.workers())
      for (const id of pinned) if (!live.has(id)) pinned.delete(id)
      if (pinned.size === 0) break
      await Promise.race([released, sleep(Math.min(MEMBERSHIP_POLL, Math.max(0, deadline - performance.now())), undefined, { ref: false })])
    }
  }
  let finished: Promise<void> | undefined
  const finish = (): Promise<void> =>
    (finished ??= (async () => {
      over = true
      release()
      releases.stop()
      await raiseOldestPage(store, name, old + 1).catch(() => undefined)
      await tier.purge(pageNamespace(name, old), true).catch(() => undefined)
      await bus.publish('all', CACHE_EVENT_SOURCE, PAGE_RETIRED_EVENT, { name, page: old, ...copyOf(store) } satisfies PageReleased).catch(() => undefined)
    })())
  const done = watch().then(finish)
  return { done, finish }
}

/** Runs a store call of the swap, turning its failures into `L2Error`. */
async function l2Call<T>(name: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (error) {
    throw new L2Error(`L2 failed for cache '${name}' during a page swap`, { cause: error })
  }
}

/** The store's `copyId` as an event field, or nothing when every member reads one store. */
function copyOf(store: L2Store): { copy?: string } {
  return store.copyId === undefined ? {} : { copy: store.copyId }
}
