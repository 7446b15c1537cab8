/**
 * Page swapping over TieredStore (a SharedDict per host in front of one
 * RedisStore) and RedisBus on a real redis-server: the page record lives in
 * Redis, never in a host's near copy, so every swap switches every host.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RedisBus } from '../../src/bus/redis-bus.js'
import { RedisStore } from '../../src/l2/redis/redis-store.js'
import { SharedDict } from '../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../src/l2/tiered/tiered-store.js'
import { MLCache } from '../../src/mlcache.js'
import type { PageWriter } from '../../src/types.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('page swapping over TieredStore and RedisBus', () => {
  const server = useRedisServer()
  let run = 0
  const opened: { close(): Promise<void> }[] = []
  afterEach(async () => {
    for (const resource of opened.splice(0).reverse()) await resource.close()
  })

  /** A host: a cache named 'routes' over its own SharedDict in front of its own RedisStore, with its own bus. */
  function host(prefix: string): { cache: MLCache<string>; bus: RedisBus; near: SharedDict; far: RedisStore } {
    const far = new RedisStore({ url: server().url, prefix })
    const bus = new RedisBus({ url: server().url, prefix, heartbeatInterval: 100 })
    const near = SharedDict.create({ size: '1m' })
    const cache = new MLCache<string>('routes', { store: new TieredStore({ near, far }), bus })
    opened.push(far, bus, cache)
    return { cache, bus, near, far }
  }

  async function twoHosts() {
    const prefix = `tiered-swap${++run}:`
    const [a, b] = [host(prefix), host(prefix)]
    while ([a, b].some(({ bus }) => bus.workers().length < 2)) await new Promise((resolve) => setTimeout(resolve, 20))
    return { a, b }
  }

  const generation = (value: string) => (page: PageWriter<string>) => {
    for (const key of ['a', 'b', 'c']) void page.set(key, value)
  }

  it('successive swap()s on one host switch another host each time, which then serves the new generation', async () => {
    const prefix = `tiered-swap${++run}:`
    const [a, b] = [host(prefix), host(prefix)]
    while ([a, b].some(({ bus }) => bus.workers().length < 2)) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await b.cache.get('a', () => 'gen1')).toBe('gen1')
    for (const [page, value] of [[2, 'gen2'], [3, 'gen3'], [4, 'gen4']] as const) {
      await a.cache.swap(generation(value))
      expect(b.cache.page).toBe(page)
      expect(await b.cache.lookup('a')).toEqual({ value, hitLevel: 2, stale: false })
    }
    // A host that starts now opens on the current page.
    const late = host(prefix)
    expect(await late.cache.lookup('b')).toEqual({ value: 'gen4', hitLevel: 2, stale: false })
    expect(late.cache.page).toBe(4)
  })

  it("a swap on one host drops another host's near copy of the old page when it reclaims it", async () => {
    const { a, b } = await twoHosts()
    expect(await b.cache.get('a', () => 'gen1')).toBe('gen1')
    expect(b.near.readEntry('routes', 'a')?.stale).toBe(false)
    await a.cache.swap(generation('gen2'))
    await b.cache.update()
    expect(b.near.readEntry('routes', 'a')?.stale ?? true).toBe(true)
    expect(await b.far.readEntry('routes', 'a')).toBeUndefined()
  })

  it("a swap on one host keeps the old page in Redis while another host's snapshot reads it, until the grace ends", async () => {
    const { a, b } = await twoHosts()
    expect(await b.cache.get('a', () => 'gen1')).toBe('gen1')
    const pinned = b.cache.snapshot()
    // Both hosts run in this thread here, so each host's answer counts the other's snapshot too: only
    // the grace ends the wait (hosts in processes of their own release it as the snapshot is released).
    await a.cache.swap(generation('gen2'), { grace: 1_000 })
    expect(b.cache.page).toBe(2)
    expect(await pinned.peek('a')).toMatchObject({ value: 'gen1' })
    expect(await b.far.readEntry('routes', 'a')).toBeDefined()
    await vi.waitFor(async () => expect(await b.far.readEntry('routes', 'a')).toBeUndefined(), { timeout: 10_000, interval: 50 })
    // Host B's near copy of page 1 goes when the retirement reaches it over the bus, a moment after
    // far let go of the page: until then the snapshot still reads page 1 whole, from near.
    await vi.waitFor(() => expect(pinned.peek('a')).rejects.toMatchObject({ code: 'E_PAGE_RETIRED' }), { timeout: 10_000, interval: 50 })
    pinned.release()
  })
})
