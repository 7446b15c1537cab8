/**
 * The handler registry every bus dispatches through (lua-resty-events'
 * `callback.lua`): subscribe, unsubscribe, and calling the matching handlers
 * of one event.
 */
import type { EventHandler } from './event-bus.js'
import { assertEventName, type HandlerErrorReporter } from './bus-options.js'
import { assertFunction } from '../internal/validate.js'

interface Subscription {
  readonly key: string
  readonly handler: EventHandler
}

/** A `(source, event)` pair as one string; the length prefix makes it unambiguous. */
function keyOf(source: string, event: string): string {
  return `${source.length}:${source}${event}`
}

/**
 * Handlers by `(source, event)`, `'*'` matching any source or event.
 *
 * Dispatch order: `('*','*')`, then `(source,'*')`, then `('*',event)`, then
 * `(source,event)`; registration order inside a level. lua-resty-events
 * walks the first, second and fourth lists (in `pairs()` order) and never
 * consults `('*',event)`; the contract makes `'*'` match either side, so that
 * level is placed with the other partial wildcard, before the exact match,
 * keeping "most general first, exact match last". A subscription runs at
 * most once per event, even for an event published with source or event `'*'`.
 */
export class Subscriptions {
  #lastId = 0
  readonly #byId = new Map<number, Subscription>()
  readonly #byKey = new Map<string, Map<number, EventHandler>>()

  /**
   * Adds a handler and answers its id (a positive integer, never reused).
   * @throws {TypeError} `source`/`event` is not a non-empty string, or `handler` is not a function
   */
  add(source: string, event: string, handler: EventHandler): number {
    assertEventName(source, 'source')
    assertEventName(event, 'event')
    assertFunction(handler, 'handler')
    const id = ++this.#lastId
    const key = keyOf(source, event)
    let list = this.#byKey.get(key)
    if (list === undefined) this.#byKey.set(key, (list = new Map()))
    list.set(id, handler)
    this.#byId.set(id, { key, handler })
    return id
  }

  /**
   * Removes a handler; answers whether it was subscribed.
   * @throws {TypeError} `id` is not a number
   */
  delete(id: number): boolean {
    if (typeof id !== 'number') throw new TypeError('id must be a number')
    const subscription = this.#byId.get(id)
    if (subscription === undefined) return false
    this.#byId.delete(id)
    const list = this.#byKey.get(subscription.key)
    list?.delete(id)
    if (list?.size === 0) this.#byKey.delete(subscription.key)
    return true
  }

  /** Whether any handler matches an event (what {@link Subscriptions.match} would list, without the list). */
  has(source: string, event: string): boolean {
    const byKey = this.#byKey
    return byKey.has(keyOf('*', '*')) || byKey.has(keyOf(source, '*')) || byKey.has(keyOf('*', event)) || byKey.has(keyOf(source, event))
  }

  /** The ids of the handlers matching an event, in dispatch order. */
  match(source: string, event: string): number[] {
    const keys = [keyOf('*', '*'), keyOf(source, '*'), keyOf('*', event), keyOf(source, event)]
    const ids: number[] = []
    keys.forEach((key, level) => {
      if (keys.indexOf(key) !== level) return // a `'*'` source or event: same list twice
      const list = this.#byKey.get(key)
      if (list !== undefined) ids.push(...list.keys())
    })
    return ids
  }

  /**
   * Calls the matching handlers one after the other, awaiting a returned
   * promise before the next (lua-resty-events runs callbacks one by one in
   * its event thread). Errors go to `report` and never stop the others (its
   * `xpcall`). The handlers are matched when the event is dispatched, so one
   * subscribed after the publish still receives it; one unsubscribed by an
   * earlier handler is skipped; once `signal` aborts (the bus closed) no
   * further handler starts. Never rejects.
   */
  async dispatch(
    source: string,
    event: string,
    data: unknown,
    workerId: number | undefined,
    report: HandlerErrorReporter,
    signal: AbortSignal,
  ): Promise<void> {
    for (const id of this.match(source, event)) {
      if (signal.aborted) return
      const handler = this.#byId.get(id)?.handler
      if (handler === undefined) continue
      try {
        await handler(data, event, source, workerId)
      } catch (error) {
        report(error, { source, event })
      }
    }
  }
}
