/**
 * Child process of the cross-process stampede scenario (forked by
 * `scenarios/redis-stampede.ts`, not a worker thread): holds one cache of
 * each library over the scenario's Redis, as each process of a deployment
 * would: MLCache over RedisStore, bentocache (memory L1 + Redis L2),
 * cache-manager (an LRU + Redis through Keyv). It talks to its parent over
 * IPC: it sends `ready` once its caches exist; on `go` it waits for the
 * agreed start instant, fires `gets` concurrent reads of one cold key and
 * answers when they settled; on `close` it closes its caches and exits.
 * Loaders count their calls with `INCR` on a Redis key, so the count spans
 * the processes.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import KeyvRedis from '@keyv/redis'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisDriver } from 'bentocache/drivers/redis'
import { createCache } from 'cache-manager'
import { Redis } from 'ioredis'
import { Keyv } from 'keyv'
import { LRUCache } from 'lru-cache'
import { MLCache } from '../../src/index.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { USER, type User } from '../fixtures.js'
import { type Library, epochNow } from '../scenarios/redis-stampede.js'

/** What the parent sends. */
export type ToChild =
  | {
      op: 'go'
      library: Library
      key: string
      /** The Redis key the loaders `INCR`. */
      counter: string
      gets: number
      loaderMs: number
      /** When to fire the gets, in ms since the epoch (`performance.timeOrigin + performance.now()`), the same instant in every child. */
      at: number
    }
  | { op: 'close' }

/** What the child sends. */
export type FromChild =
  | { op: 'ready' }
  | { op: 'done'; result: ChildResult }
  | { op: 'closed' }
  | { op: 'error'; message: string }

/** The answer to `go`. */
export interface ChildResult {
  /** When the last of this child's gets settled, in ms since the epoch. */
  settledAt: number
  /** How late after the start instant the gets were fired (ms): the process was busy or the `go` arrived late. */
  lateMs: number
  /** This child's `cache.stats().loaderCalls` delta (mlcache only; 0 for the peers). */
  mlcacheLoaderCalls: number
}

function send(message: FromChild): void {
  process.send?.(message)
}

/**
 * Waits until the epoch instant `at` on a timer. No busy-wait for the last
 * millisecond: 4 processes spinning on 2 cores would take turns by whole
 * scheduler slices, starting later than a timer does.
 */
async function until(at: number): Promise<void> {
  const wait = at - epochNow()
  if (wait > 0) await sleep(wait)
}

async function main(url: string): Promise<void> {
  const counter = new Redis(url)
  const store = new RedisStore({ url })
  const mlcache = new MLCache<User>('bench-redis-stampede', { store, lruSize: 1_000 })
  const bento = new BentoCache({
    default: 'tiered',
    stores: {
      tiered: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 1_000 }))
        .useL2Layer(redisDriver({ connection: { host: new URL(url).hostname, port: Number(new URL(url).port) } })),
    },
  })
  const cacheManager = createCache({ stores: [new Keyv({ store: new LRUCache<string, string>({ max: 1_000 }) }), new Keyv({ store: new KeyvRedis(url) })] })
  type Get = (key: string, loader: () => Promise<User>) => Promise<unknown>
  const GETS: Record<Library, Get> = {
    mlcache: (key, loader) => mlcache.get(key, loader),
    bentocache: (key, loader) => bento.getOrSet({ key, factory: loader }),
    'cache-manager': (key, loader) => cacheManager.wrap(key, loader),
  }
  const close = async () => {
    await Promise.allSettled([mlcache.close().then(() => store.close()), bento.disconnectAll(), cacheManager.disconnect()])
    counter.disconnect()
  }

  const go = async ({ library, key, counter: counterKey, gets, loaderMs, at }: Extract<ToChild, { op: 'go' }>): Promise<ChildResult> => {
    const loader = async () => {
      await counter.incr(counterKey)
      await sleep(loaderMs)
      return USER
    }
    const get = GETS[library]
    const before = mlcache.stats().loaderCalls
    await until(at)
    const firedAt = epochNow()
    const pending: Promise<unknown>[] = []
    for (let i = 0; i < gets; i++) pending.push(get(key, loader))
    const values = await Promise.all(pending)
    const settledAt = epochNow()
    const wrong = values.filter((value) => (value as User | undefined)?.id !== USER.id).length
    if (wrong > 0) throw new Error(`${library}: ${wrong} of ${gets} gets of ${key} answered another value`)
    return { settledAt, lateMs: firedAt - at, mlcacheLoaderCalls: mlcache.stats().loaderCalls - before }
  }

  process.on('message', (message: ToChild) => {
    if (message.op === 'close') {
      void close().then(() => {
        send({ op: 'closed' })
        process.exit(0)
      })
      return
    }
    go(message).then(
      (result) => send({ op: 'done', result }),
      (error: unknown) => send({ op: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    )
  })
  send({ op: 'ready' })
}

// Without its parent (it died, or closed the channel) this process has nothing to do.
process.on('disconnect', () => process.exit(1))
const url = process.argv[2]
if (url === undefined) throw new Error('usage: redis-stampede.ts <redis url> (forked by the redis-stampede scenario)')
await main(url)
