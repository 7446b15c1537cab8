/** Helpers of the page-swapping tests: caches of one name on one dict and LocalBus, as workers of a thread would be. */
import { onTestFinished } from 'vitest'
import { LocalBus } from '../../src/bus/local-bus.js'
import type { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { MLCache } from '../../src/mlcache.js'
import type { PageWriter } from '../../src/types.js'
import { cacheStore, fakeClock, testDict, testLru } from '../helpers/cache-factory.js'

/** The keys of `namespace` the dict holds (SharedDict lists them as `${bytes}:${namespace}:${key}`). */
export function keysOf(dict: SharedDict, namespace: string): string[] {
  const prefix = `${Buffer.byteLength(namespace)}:${namespace}:`
  return dict
    .keys(0)
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length))
    .sort()
}

/** `count` caches of `name` on one dict and one LocalBus, each with its own L1, as workers would have. */
export function workers(count: number, name = 'cfg', size: number | string = '1m') {
  const clock = fakeClock()
  const dict = testDict(clock, size)
  const store = cacheStore(dict)
  const bus = new LocalBus()
  const make = (): MLCache<unknown> => new MLCache<unknown>(name, { store, bus, clock: clock.now, lru: testLru(clock) })
  const caches = Array.from({ length: count }, make)
  const opened: MLCache<unknown>[] = []
  onTestFinished(async () => {
    await Promise.all([...caches, ...opened].map((cache) => cache.close()))
    await bus.close()
  })
  const open = (): MLCache<unknown> => {
    const cache = make()
    opened.push(cache)
    return cache
  }
  return { caches, dict, store, bus, clock, open }
}

export function fillWith(entries: Record<string, unknown>) {
  return (page: PageWriter<unknown>) => {
    for (const [key, value] of Object.entries(entries)) page.set(key, value)
  }
}

