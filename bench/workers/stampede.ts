/**
 * Worker of the stampede scenario: holds one cache of each library, as a
 * user of that library would have in every worker (mlcache over the
 * SharedDict all workers share; bentocache, cache-manager, cacheable and
 * lru-cache in memory, their defaults). On `stampede` it fires `gets` concurrent reads of one
 * cold key, released by the start barrier, and answers when they settled.
 * Loaders count their calls in a shared Int32Array the main thread reads.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { createCache } from 'cache-manager'
import { Cacheable } from 'cacheable'
import { LRUCache } from 'lru-cache'
import { MLCache, SharedDict, type SharedDictHandle } from '../../src/index.js'
import { USER, type User } from '../fixtures.js'
import type { Library } from '../scenarios/stampede.js'
import { StartBarrier, data, serve } from './threads.js'

export interface StampedeData {
  dict: SharedDictHandle
  barrier: SharedArrayBuffer
  /** One Int32: loader calls, every worker and library. */
  loaderCalls: SharedArrayBuffer
}

/** The answer of `stampede`: when all this worker's gets had settled (`performance.now()`). */
export interface StampedeResult {
  settledAt: number
  /** This worker's `cache.stats().loaderCalls` delta (mlcache only). */
  mlcacheLoaderCalls: number
}

const { dict, barrier: barrierBuffer, loaderCalls } = data<StampedeData>()
const barrier = new StartBarrier(barrierBuffer)
const calls = new Int32Array(loaderCalls)

const mlcache = new MLCache<User>('bench-stampede', { store: SharedDict.attach(dict), lruSize: 1_000 })
const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) } })
const cacheManager = createCache()
const cacheable = new Cacheable()
// lru-cache loads through one fetchMethod per instance: each fetch passes its loader as the context.
const lru = new LRUCache<string, User, () => Promise<User>>({ max: 1_000, fetchMethod: (_key, _stale, { context }) => context() })

type Get = (key: string, loader: () => Promise<User>) => Promise<unknown>
const GETS: Record<Library, Get> = {
  mlcache: (key, loader) => mlcache.get(key, loader),
  bentocache: (key, loader) => bento.getOrSet({ key, factory: loader }),
  'cache-manager': (key, loader) => cacheManager.wrap(key, loader),
  cacheable: (key, loader) => cacheable.getOrSet(key, loader),
  'lru-cache': (key, loader) => lru.fetch(key, { context: loader }),
}

serve({
  stampede: async (args) => {
    const { library, key, gets, loaderMs, generation } = args as { library: Library; key: string; gets: number; loaderMs: number; generation: number }
    const get = GETS[library]
    const loader = async () => {
      Atomics.add(calls, 0, 1)
      await sleep(loaderMs)
      return USER
    }
    const before = mlcache.stats().loaderCalls
    barrier.arriveAndWait(generation)
    const pending: Promise<unknown>[] = []
    for (let i = 0; i < gets; i++) pending.push(get(key, loader))
    const values = await Promise.all(pending)
    const settledAt = performance.now()
    const wrong = values.filter((value) => (value as User | undefined)?.id !== USER.id).length
    if (wrong > 0) throw new Error(`${library}: ${wrong} of ${gets} gets of ${key} answered another value`)
    return { settledAt, mlcacheLoaderCalls: mlcache.stats().loaderCalls - before } satisfies StampedeResult
  },
  close: async () => {
    await Promise.all([mlcache.close(), bento.disconnectAll(), cacheManager.disconnect(), cacheable.disconnect()])
  },
})
