/**
 * RedisStore on a real redis-server, beyond the L2Store contract: Redis's
 * clock, stale windows and key expiries, prefixes, glob-proof namespace
 * purges, the incremental purge of a large namespace, fences, release
 * messages and their polling fallback, leases, memory pressure, the script
 * cache, options and close().
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { L2Error } from '../../../src/errors.js'
import { RedisKeys } from '../../../src/l2/redis/redis-keys.js'
import { RedisStore, type RedisStoreOptions } from '../../../src/l2/redis/redis-store.js'
import { WRITE_ENTRY } from '../../../src/l2/redis/store-scripts.js'
import { expectBytes, pattern, settles, sleep } from '../../../src/testing/store-contract-support.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'

/** A lease or TTL no test outlives. */
const LONG = 60_000

describe.runIf(redisServerInstalled)('RedisStore', () => {
  const server = useRedisServer()
  /** A plain connection to look at what the stores leave in Redis and to configure the server. */
  let raw: Redis
  const stores: RedisStore[] = []

  beforeAll(() => {
    raw = new Redis(server().url)
  })
  afterAll(async () => {
    await raw.quit()
  })
  afterEach(async () => {
    vi.useRealTimers()
    for (const store of stores.splice(0)) await store.close()
  })

  /** A store with a prefix of its own unless given one, closed after the test. */
  function open(options: Partial<RedisStoreOptions> = {}): { store: RedisStore; keys: RedisKeys; prefix: string } {
    const prefix = options.prefix ?? `t${randomUUID()}:`
    const store = new RedisStore({ url: server().url, ...options, prefix } as RedisStoreOptions)
    stores.push(store)
    return { store, keys: new RedisKeys(prefix), prefix }
  }

  /** How many keys match the SCAN MATCH pattern `match`. */
  async function countKeys(match: string): Promise<number> {
    let count = 0
    let cursor = '0'
    do {
      const [next, found] = await raw.scan(cursor, 'MATCH', match, 'COUNT', 1000)
      cursor = next
      count += found.length
    } while (cursor !== '0')
    return count
  }

  /** Redis's clock, in ms. */
  async function serverNow(): Promise<number> {
    const [seconds, micros] = await raw.time()
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  }

  /**
   * Starts `waitForUnlock(ns, key, 10 s)` until one is still waiting 300 ms
   * later (a wait that release messages will end, not the polling
   * fallback), and answers it (boxed: an async function would await it).
   */
  async function trustedWait(store: RedisStore, ns: string, key: string): Promise<{ waiting: Promise<void> }> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const waiting = store.waitForUnlock(ns, key, 10_000)
      const first = await Promise.race([waiting.then(() => 'woke' as const), sleep(300).then(() => 'waiting' as const)])
      if (first === 'waiting') return { waiting }
    }
    throw new Error('every wait ended early: release messages never became trusted')
  }

  describe("Redis's clock", () => {
    it("readEntry() answers fresh and stale by the server's clock, whatever the host's clock says", async () => {
      const { store } = open()
      vi.useFakeTimers({ toFake: ['Date'] })
      // Far from the server's time both ways: an expiry computed on the host's clock would be decades off.
      for (const [i, hostTime] of ['2100-01-01T00:00:00Z', '1990-01-01T00:00:00Z'].entries()) {
        vi.setSystemTime(new Date(hostTime))
        expect(await store.writeEntry('ns', `long${i}`, pattern(4, i), LONG, 1)).toBe('ok')
        expect(await store.writeEntry('ns', `short${i}`, pattern(4, i), 100, 1, { staleTtl: LONG })).toBe('ok')
        const long = await store.readEntry('ns', `long${i}`)
        expect(long?.stale).toBe(false)
        expect(long?.ttl).toBeGreaterThan(0)
        expect(long?.ttl).toBeLessThanOrEqual(LONG)
        await vi.waitFor(async () => expect((await store.readEntry('ns', `short${i}`))?.stale).toBe(true), { timeout: 2_000, interval: 10 })
        // Moving the host's clock back does not make it fresh again.
        vi.setSystemTime(new Date('1970-01-02T00:00:00Z'))
        const short = await store.readEntry('ns', `short${i}`)
        expect(short?.stale).toBe(true)
        expect(short?.ttl).toBeLessThanOrEqual(0)
      }
    })

    it("writeEntry() stores the expiry instant in the server's milliseconds", async () => {
      const { store, keys } = open()
      vi.useFakeTimers({ toFake: ['Date'] })
      vi.setSystemTime(new Date('2100-01-01T00:00:00Z'))
      const before = await serverNow()
      expect(await store.writeEntry('ns', 'key', pattern(4), 5_000, 0)).toBe('ok')
      const after = await serverNow()
      const expires = (await raw.getBuffer(keys.entry('ns', 'key')))?.readDoubleBE(4)
      expect(expires).toBeGreaterThanOrEqual(before + 5_000)
      expect(expires).toBeLessThanOrEqual(after + 5_000)
      expect(await store.writeEntry('ns', 'never', pattern(4), 0, 0)).toBe('ok')
      expect((await raw.getBuffer(keys.entry('ns', 'never')))?.readDoubleBE(4)).toBe(0)
    })
  })

  describe('stale windows and key expiry', () => {
    it('an entry written with staleTtl reads as stale after its TTL, then Redis deletes its key', async () => {
      const { store, keys } = open()
      const key = keys.entry('ns', 'key')
      expect(await store.writeEntry('ns', 'key', pattern(8, 1), 100, 7, { staleTtl: 400 })).toBe('ok')
      const pttl = await raw.pttl(key)
      expect(pttl).toBeGreaterThan(100)
      expect(pttl).toBeLessThanOrEqual(500)
      await vi.waitFor(async () => expect((await store.readEntry('ns', 'key'))?.stale).toBe(true), { timeout: 2_000, interval: 10 })
      const stale = await store.readEntry('ns', 'key')
      if (stale !== undefined) {
        expectBytes(stale, pattern(8, 1))
        expect(stale.flags).toBe(7)
        expect(stale.ttl).toBeLessThanOrEqual(0)
      }
      await vi.waitFor(async () => expect(await raw.exists(key)).toBe(0), { timeout: 3_000, interval: 20 })
      expect(await store.readEntry('ns', 'key')).toBeUndefined()
    })

    it('readEntry() marks every entry written before a purge as purged, one its TTL expired first included, and none written after', async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'short', pattern(4, 1), 50, 0, { staleTtl: 60_000 })).toBe('ok')
      expect(await store.writeEntry('ns', 'live', pattern(4, 2), 0, 0, { staleTtl: 60_000 })).toBe('ok')
      await vi.waitFor(async () => expect((await store.readEntry('ns', 'short'))?.stale).toBe(true), { timeout: 2_000, interval: 10 })
      await store.purgeNamespace('ns', false)
      const live = await store.readEntry('ns', 'live')
      expect(live).toMatchObject({ stale: true, purged: true })
      expect(live?.ttl).toBeLessThanOrEqual(0)
      expect(await store.readEntry('ns', 'short')).toMatchObject({ stale: true, purged: true })
      expect(await store.writeEntry('ns', 'after', pattern(4, 3), 50, 0, { staleTtl: 60_000 })).toBe('ok')
      await vi.waitFor(async () => expect((await store.readEntry('ns', 'after'))?.stale).toBe(true), { timeout: 2_000, interval: 10 })
      expect((await store.readEntry('ns', 'after'))?.purged).toBeUndefined()
    })

    it('an entry written without staleTtl expires with its key, and ttl 0 sets no key expiry', async () => {
      const { store, keys } = open()
      expect(await store.writeEntry('ns', 'short', pattern(4), 100, 0)).toBe('ok')
      const pttl = await raw.pttl(keys.entry('ns', 'short'))
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(100)
      // A finite TTL over "never", then "never" over a finite TTL: the key's expiry follows.
      expect(await store.writeEntry('ns', 'never', pattern(4), LONG, 0)).toBe('ok')
      expect(await raw.pttl(keys.entry('ns', 'never'))).toBeGreaterThan(0)
      expect(await store.writeEntry('ns', 'never', pattern(4), 0, 0)).toBe('ok')
      expect(await raw.pttl(keys.entry('ns', 'never'))).toBe(-1)
      await vi.waitFor(async () => expect(await raw.exists(keys.entry('ns', 'short'))).toBe(0), { timeout: 2_000, interval: 10 })
      expect(await store.readEntry('ns', 'short')).toBeUndefined()
      expect((await store.readEntry('ns', 'never'))?.ttl).toBe(0)
    })
  })

  describe('prefixes and namespaces', () => {
    it('two prefixes on one server never see each other', async () => {
      const one = open({ prefix: `${randomUUID()}:one:` }).store
      const two = open({ prefix: `${randomUUID()}:two:` }).store
      expect(await one.writeEntry('ns', 'key', pattern(4, 1), 0, 1)).toBe('ok')
      expect(await two.readEntry('ns', 'key')).toBeUndefined()
      expect(await two.writeEntry('ns', 'key', pattern(4, 2), 0, 2)).toBe('ok')
      expect(await one.tryLock('ns', 'key', 'a', LONG)).toBe('acquired')
      expect(await two.tryLock('ns', 'key', 'b', LONG)).toBe('acquired')
      await one.purgeNamespace('ns', true)
      await one.deleteEntry('ns', 'key')
      // The other prefix's entry and fence are untouched.
      expect(await two.writeEntry('ns', 'key', pattern(4, 3), 0, 3, { fence: 'b' })).toBe('ok')
      expectBytes(await two.readEntry('ns', 'key'), pattern(4, 3))
      expect(await one.readEntry('ns', 'key')).toBeUndefined()
    })

    it('a namespace whose name holds glob characters is purged with flushExpired and the others are untouched', async () => {
      const { store, keys } = open()
      const names = ['a*', 'a', 'a?', '[a]', 'a\\', '*', 'a]', 'a[', '\\*', 'a*b', 'a:b']
      const keyNames = ['k', '*', '?', '[k]', 'k\\', 'k*']
      for (const target of names) {
        for (const ns of names) {
          for (const [i, key] of keyNames.entries()) expect(await store.writeEntry(ns, key, pattern(4, i), 0, i)).toBe('ok')
        }
        await store.purgeNamespace(target, true)
        for (const key of keyNames) {
          expect(await store.readEntry(target, key)).toBeUndefined()
          expect(await raw.exists(keys.entry(target, key))).toBe(0)
        }
        for (const ns of names.filter((name) => name !== target)) {
          for (const [i, key] of keyNames.entries()) {
            const entry = await store.readEntry(ns, key)
            expectBytes(entry, pattern(4, i))
            expect(entry?.stale).toBe(false)
          }
        }
      }
    })

    // Retried: on a loaded 2-core machine the OS may preempt redis-server for milliseconds in the
    // middle of any command (a lone HGET was seen taking 3 ms); one script unlinking 100,000 keys
    // would fail every try.
    it('purging 100,000 entries with flushExpired never blocks Redis for 5 ms, empties the namespace and spares the others', { timeout: 120_000, retry: 2 }, async () => {
      const { store, keys } = open()
      const value = pattern(16)
      const write = async (ns: string, count: number): Promise<void> => {
        for (let start = 0; start < count; start += 2_000) {
          const batch = Array.from({ length: Math.min(2_000, count - start) }, (_, i) => store.writeEntry(ns, `key${start + i}`, value, 0, 0))
          expect(new Set(await Promise.all(batch))).toEqual(new Set(['ok']))
        }
      }
      await write('big', 100_000)
      await write('other', 1_000)
      expect(await countKeys(keys.entryPattern('big'))).toBe(100_000)
      const [, threshold] = (await raw.config('GET', 'slowlog-log-slower-than')) as [string, string]
      await raw.config('SET', 'slowlog-log-slower-than', '5000')
      try {
        await raw.slowlog('RESET')
        const purging = store.purgeNamespace('big', true)
        // Written once the purge has begun (its generation bumped): it must survive the flush.
        await vi.waitFor(async () => expect((await raw.getBuffer(keys.meta('big')))?.readDoubleBE(0)).toBe(1), { timeout: 5_000, interval: 1 })
        expect(await store.writeEntry('big', 'late', pattern(4, 9), 0, 9)).toBe('ok')
        await purging
        const slow = (await raw.slowlog('GET', 128)) as [number, number, number, string[]][]
        expect(slow.map(([, , micros, command]) => `${command.join(' ').slice(0, 80)} took ${micros} µs`)).toEqual([])
      } finally {
        await raw.config('SET', 'slowlog-log-slower-than', threshold)
      }
      expect(await countKeys(keys.entryPattern('big'))).toBe(1)
      expectBytes(await store.readEntry('big', 'late'), pattern(4, 9))
      expect(await store.readEntry('big', 'key0')).toBeUndefined()
      expect(await countKeys(keys.entryPattern('other'))).toBe(1_000)
      const others = await store.readEntries('other', ['key0', 'key500', 'key999'])
      for (const entry of others) {
        expectBytes(entry, value)
        expect(entry?.stale).toBe(false)
      }
    })

    it("readEntry() asks Redis for its clock (TIME) once for a burst of reads, not once per read", async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'key', pattern(4), 60_000, 0)).toBe('ok')
      const calls = async (): Promise<number> => Number(/cmdstat_time:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1] ?? 0)
      const before = await calls()
      const reads = await Promise.all(Array.from({ length: 200 }, () => store.readEntry('ns', 'key')))
      expect(reads.every((entry) => entry !== undefined && !entry.stale && entry.ttl > 0 && entry.ttl <= 60_000)).toBe(true)
      // One measurement shared by the burst (two if it straddled the end of a one-second window).
      expect((await calls()) - before).toBeLessThanOrEqual(2)
    })

    it('readEntry() and readEntries() of 50 keys are one plain MGET each, and run no script', async () => {
      const { store } = open()
      for (let i = 0; i < 50; i += 2) expect(await store.writeEntry('ns', `key${i}`, pattern(4, i), 0, i)).toBe('ok')
      await store.readEntry('ns', 'warm') // the clock offset is measured from here on
      const calls = async (command: string): Promise<number> => Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await raw.info('commandstats'))?.[1] ?? 0)
      const before = { mget: await calls('mget'), evalsha: await calls('evalsha'), eval: await calls('eval') }
      expect((await store.readEntry('ns', 'key0'))?.flags).toBe(0)
      const entries = await store.readEntries('ns', Array.from({ length: 50 }, (_, i) => `key${i}`))
      expect({ mget: await calls('mget'), evalsha: await calls('evalsha'), eval: await calls('eval') }).toEqual({ ...before, mget: before.mget + 2 })
      for (const [i, entry] of entries.entries()) {
        if (i % 2 === 1) expect(entry).toBeUndefined()
        else expect(entry?.flags).toBe(i)
      }
    })
  })

  describe('fences', () => {
    it('writeEntry() without a fence and deleteEntry() void the fence and keep the lock and its lease', async () => {
      const { store, keys } = open()
      for (const voiding of [() => store.writeEntry('ns', 'key', pattern(4), 0, 0), () => store.deleteEntry('ns', 'key')]) {
        expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
        await voiding()
        expect(await raw.pttl(keys.lock('ns', 'key'))).toBeGreaterThan(LONG / 2)
        expect(await store.writeEntry('ns', 'key', pattern(4, 1), 0, 1, { fence: 'owner' })).toBe('fenced')
        expect(await store.tryLock('ns', 'key', 'other', LONG)).toBe('held')
        expect(await store.unlock('ns', 'key', 'owner')).toBe(true)
      }
    })

    it('purgeNamespace() voids the fences of locks taken before it, not of locks taken after it', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'before', 'owner', LONG)).toBe('acquired')
      await store.purgeNamespace('ns', false)
      expect(await store.tryLock('ns', 'after', 'owner', LONG)).toBe('acquired')
      expect(await store.writeEntry('ns', 'before', pattern(4), 0, 0, { fence: 'owner' })).toBe('fenced')
      expect(await store.writeEntry('ns', 'after', pattern(4), 0, 0, { fence: 'owner' })).toBe('ok')
      // Another namespace's purge changes nothing here.
      await store.purgeNamespace('ns2', true)
      expect(await store.writeEntry('ns', 'after', pattern(4), 0, 0, { fence: 'owner' })).toBe('ok')
    })

    it('an entry purged without flushExpired reads as stale, never fresh again, and a new write is fresh', async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'forever', pattern(4, 1), 0, 1)).toBe('ok')
      expect(await store.writeEntry('ns', 'timed', pattern(4, 2), LONG, 2, { staleTtl: LONG })).toBe('ok')
      await store.purgeNamespace('ns', false)
      for (const key of ['forever', 'timed']) {
        const entry = await store.readEntry('ns', key)
        expect(entry?.stale).toBe(true)
        expect(entry?.ttl).toBeLessThanOrEqual(0)
      }
      expect(await store.writeEntry('ns', 'forever', pattern(4, 3), 0, 3)).toBe('ok')
      expect(await store.readEntry('ns', 'forever')).toMatchObject({ stale: false, ttl: 0, flags: 3 })
    })
  })

  describe('locks and release messages', () => {
    it("a waiter on one store wakes on another store's unlock(), by the release message", async () => {
      const { store: holder, prefix } = open()
      const { store: waiter } = open({ prefix })
      expect(await holder.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      // Still waiting 300 ms later: neither polling nor its 10 s timeout can end it within settles()'s 5 s.
      const { waiting } = await trustedWait(waiter, 'ns', 'key')
      expect(await holder.unlock('ns', 'key', 'owner')).toBe(true)
      expect(await settles(waiting)).toBe('settled')
    })

    it('unlock() publishes the lock key on the release channel only when someone waited', async () => {
      const { store, keys, prefix } = open()
      const listener = raw.duplicate()
      const messages: string[] = []
      listener.on('message', (channel: string, message: string) => messages.push(`${channel} ${message}`))
      await listener.subscribe(`${prefix}unlock`)
      try {
        expect(await store.tryLock('ns', 'alone', 'owner', LONG)).toBe('acquired')
        expect(await store.unlock('ns', 'alone', 'owner')).toBe(true)
        expect(await store.tryLock('ns', 'awaited', 'owner', LONG)).toBe('acquired')
        const { waiting } = await trustedWait(store, 'ns', 'awaited')
        expect(await store.unlock('ns', 'awaited', 'owner')).toBe(true)
        await waiting
        // Messages of one publisher arrive in order: had the first unlock published, it would be first.
        await vi.waitFor(() => expect(messages).toEqual([`${prefix}unlock ${keys.lock('ns', 'awaited')}`]), { timeout: 2_000 })
      } finally {
        listener.disconnect()
      }
    })

    it('a waiter whose lock is never released wakes by its timeout, and the lock stays held', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      // Once release messages are trusted, only the timeout ends the wait (the lease is 60 s).
      await trustedWait(store, 'ns', 'key')
      expect(await settles(store.waitForUnlock('ns', 'key', 400))).toBe('settled')
      expect(await store.tryLock('ns', 'key', 'other', LONG)).toBe('held')
    })

    it('a holder that never unlocks frees the key after its lease, and its waiter then acquires it', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'dead holder', 300)).toBe('acquired')
      const acquired = (async () => {
        for (;;) {
          if ((await store.tryLock('ns', 'key', 'waiter', LONG)) === 'acquired') return
          await store.waitForUnlock('ns', 'key', 10_000)
        }
      })()
      expect(await settles(acquired)).toBe('settled')
      expect(await store.unlock('ns', 'key', 'dead holder')).toBe(false)
      expect(await store.unlock('ns', 'key', 'waiter')).toBe(true)
    })

    it('a wait starts by polling until the subscription is confirmed, so a release in between is not missed', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      // The store's first wait: not subscribed yet, it must not sleep for its 10 s.
      expect(await settles(store.waitForUnlock('ns', 'key', 10_000))).toBe('settled')
      expect(await store.tryLock('ns', 'key', 'other', LONG)).toBe('held')
    })

    it('waiters still wake when the subscriber connection is killed, and release messages work again after it reconnects', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      const { waiting } = await trustedWait(store, 'ns', 'key')
      expect(await raw.client('KILL', 'TYPE', 'pubsub')).toBeGreaterThanOrEqual(1)
      // Woken by the loss (a release may be lost with the connection), not by its timeout.
      expect(await settles(waiting)).toBe('settled')
      const { waiting: again } = await trustedWait(store, 'ns', 'key')
      expect(await store.unlock('ns', 'key', 'owner')).toBe(true)
      expect(await settles(again)).toBe('settled')
    })

    it('waiters keep waking while the subscriber connection cannot come back, and acquire after an unlock', async () => {
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      await trustedWait(store, 'ns', 'key')
      const [, maxclients] = (await raw.config('GET', 'maxclients')) as [string, string]
      // No room for the subscriber to reconnect once killed (the connections already open stay).
      await raw.config('SET', 'maxclients', '1')
      try {
        await raw.client('KILL', 'TYPE', 'pubsub')
        for (let i = 0; i < 3; i++) expect(await settles(store.waitForUnlock('ns', 'key', 10_000))).toBe('settled')
        const acquired = (async () => {
          for (;;) {
            if ((await store.tryLock('ns', 'key', 'waiter', LONG)) === 'acquired') return
            await store.waitForUnlock('ns', 'key', 10_000)
          }
        })()
        expect(await store.unlock('ns', 'key', 'owner')).toBe(true)
        expect(await settles(acquired)).toBe('settled')
      } finally {
        await raw.config('SET', 'maxclients', maxclients)
      }
    })
  })

  describe('memory', () => {
    it("writeEntry() and tryLock() answer 'no memory' when Redis is full under noeviction; reads, deletes, unlocks and purges still work", async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'kept', pattern(8, 1), 0, 1)).toBe('ok')
      expect(await store.tryLock('ns', 'held', 'owner', LONG)).toBe('acquired')
      const [, maxmemory] = (await raw.config('GET', 'maxmemory')) as [string, string]
      const [, policy] = (await raw.config('GET', 'maxmemory-policy')) as [string, string]
      await raw.config('SET', 'maxmemory-policy', 'noeviction')
      await raw.config('SET', 'maxmemory', '1')
      try {
        expect(await store.writeEntry('ns', 'new', pattern(8, 2), 0, 2)).toBe('no memory')
        expect(await store.writeEntry('ns', 'kept', pattern(8, 3), 0, 3)).toBe('no memory')
        expect(await store.tryLock('ns', 'free', 'owner', LONG)).toBe('no memory')
        // Nothing changed.
        expectBytes(await store.readEntry('ns', 'kept'), pattern(8, 1))
        expect(await store.readEntry('ns', 'new')).toBeUndefined()
        expect(await store.readEntries('ns', ['kept'])).toHaveLength(1)
        expect(await store.extendLock('ns', 'held', 'owner', LONG)).toBe(true)
        expect(await store.unlock('ns', 'held', 'owner')).toBe(true)
        await store.deleteEntry('ns', 'kept')
        await store.purgeNamespace('ns', true)
        expect(await store.readEntry('ns', 'kept')).toBeUndefined()
      } finally {
        await raw.config('SET', 'maxmemory', maxmemory)
        await raw.config('SET', 'maxmemory-policy', policy)
      }
      expect(await store.writeEntry('ns', 'new', pattern(8, 2), 0, 2)).toBe('ok')
      expect(await store.tryLock('ns', 'free', 'owner', LONG)).toBe('acquired')
    })
  })

  describe('scripts and values', () => {
    it('every operation works after SCRIPT FLUSH empties the script cache, which it fills again', async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'key', pattern(8), 0, 0)).toBe('ok')
      await raw.script('FLUSH')
      expect(await raw.script('EXISTS', WRITE_ENTRY.sha)).toEqual([0])
      expect(await store.writeEntry('ns', 'key', pattern(8, 1), 0, 0)).toBe('ok')
      expect(await raw.script('EXISTS', WRITE_ENTRY.sha)).toEqual([1])
      expectBytes(await store.readEntry('ns', 'key'), pattern(8, 1))
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      expect(await store.extendLock('ns', 'key', 'owner', LONG)).toBe(true)
      expect(await store.writeEntry('ns', 'key', pattern(8, 2), 0, 0, { fence: 'owner' })).toBe('ok')
      expect(await store.unlock('ns', 'key', 'owner')).toBe(true)
      await store.deleteEntry('ns', 'key')
      await store.purgeNamespace('ns', true)
      expect(await settles(store.waitForUnlock('ns', 'key', 1_000))).toBe('settled')
      await raw.script('FLUSH')
      expect(await store.readEntry('ns', 'key')).toBeUndefined()
    })

    it('values are bytes: every byte value, invalid UTF-8 and 1 MiB round-trip exactly', async () => {
      const { store } = open()
      const every = Uint8Array.from({ length: 512 }, (_, i) => i % 256)
      const invalid = Uint8Array.from([0xff, 0xfe, 0xc3, 0x28, 0x00, 0xed, 0xa0, 0x80])
      const big = pattern(1024 * 1024, 5)
      for (const [i, bytes] of [every, invalid, big].entries()) {
        expect(await store.writeEntry('ns', `key${i}`, bytes, 0, 0xffff_ffff)).toBe('ok')
        const entry = await store.readEntry('ns', `key${i}`)
        expectBytes(entry, bytes)
        expect(entry?.flags).toBe(0xffff_ffff)
        // A private copy of exactly its bytes.
        expect(entry?.value.byteOffset).toBe(0)
        expect(entry?.value.buffer.byteLength).toBe(bytes.byteLength)
      }
    })
  })

  describe('options, arguments and close()', () => {
    it('bad options throw a TypeError or RangeError naming the option', () => {
      const url = server().url
      expect(() => new RedisStore({ url, prefx: 'a:' } as unknown as RedisStoreOptions)).toThrow(/options\.prefx is not a known option/)
      expect(() => new RedisStore({} as RedisStoreOptions)).toThrow(TypeError)
      expect(() => new RedisStore({ url, client: raw } as unknown as RedisStoreOptions)).toThrow(/exactly one of url and client/)
      expect(() => new RedisStore({ client: {} } as unknown as RedisStoreOptions)).toThrow(/options\.client/)
      expect(() => new RedisStore({ url, prefix: 5 } as unknown as RedisStoreOptions)).toThrow(/options\.prefix/)
      expect(() => new RedisStore({ url, commandTimeout: -1 })).toThrow(RangeError)
      expect(() => new RedisStore({ url, commandTimeout: -1 })).toThrow(/options\.commandTimeout/)
      expect(() => new RedisStore({ url, commandTimeout: 0 })).toThrow(/options\.commandTimeout/)
      expect(() => new RedisStore(undefined as unknown as RedisStoreOptions)).toThrow(TypeError)
      const prefixed = new Redis(url, { keyPrefix: 'app:', lazyConnect: true })
      expect(() => new RedisStore({ client: prefixed })).toThrow(/options\.client must not have a keyPrefix/)
      prefixed.disconnect()
    })

    it('bad arguments reject with a TypeError or RangeError naming them', async () => {
      const { store } = open()
      await expect(store.readEntry(1 as unknown as string, 'key')).rejects.toThrow(/namespace must be a string/)
      await expect(store.readEntry('ns', '')).rejects.toThrow(RangeError)
      await expect(store.readEntries('ns', 'key' as unknown as string[])).rejects.toThrow(/keys must be an array/)
      await expect(store.writeEntry('ns', 'key', 'text' as unknown as Uint8Array, 0, 0)).rejects.toThrow(/value must be a Uint8Array/)
      await expect(store.writeEntry('ns', 'key', pattern(1), -1, 0)).rejects.toThrow(/ttl must be >= 0/)
      await expect(store.writeEntry('ns', 'key', pattern(1), 0, 2 ** 32)).rejects.toThrow(/flags must be an integer/)
      await expect(store.writeEntry('ns', 'key', pattern(1), 0, 0, { staleTtl: Number.NaN })).rejects.toThrow(/options\.staleTtl/)
      await expect(store.writeEntry('ns', 'key', pattern(1), 0, 0, { noEvict: 1 as unknown as boolean })).rejects.toThrow(
        /options\.noEvict must be a boolean/,
      )
      await expect(store.tryLock('ns', 'key', 'owner', -5)).rejects.toThrow(/lease must be >= 0/)
      await expect(store.purgeNamespace('ns', 'yes' as unknown as boolean)).rejects.toThrow(/flushExpired must be a boolean/)
      await expect(store.waitForUnlock('ns', 'key', Number.POSITIVE_INFINITY)).rejects.toThrow(/timeout must be finite/)
    })

    it('close() leaves a caller client open and closes the subscriber it made with duplicate()', async () => {
      const client = new Redis(server().url)
      try {
        const duplicate = vi.spyOn(client, 'duplicate')
        const store = new RedisStore({ client, prefix: `t${randomUUID()}:` })
        expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
        await store.waitForUnlock('ns', 'key', 50)
        expect(duplicate).toHaveBeenCalledTimes(1)
        const subscriber = duplicate.mock.results[0]?.value as Redis
        expect(subscriber).not.toBe(client)
        await store.close()
        expect(subscriber.status).toBe('end')
        expect(client.status).toBe('ready')
        expect(await client.ping()).toBe('PONG')
      } finally {
        client.disconnect()
      }
    })

    it('close() is idempotent, every later call rejects with L2Error, and a later wait resolves at once', async () => {
      const { store } = open()
      expect(await store.writeEntry('ns', 'key', pattern(4), 0, 0)).toBe('ok')
      await Promise.all([store.close(), store.close()])
      await store.close()
      const calls: (() => Promise<unknown>)[] = [
        () => store.readEntry('ns', 'key'),
        () => store.readEntries('ns', ['key']),
        () => store.writeEntry('ns', 'key', pattern(4), 0, 0),
        () => store.deleteEntry('ns', 'key'),
        () => store.purgeNamespace('ns', true),
        () => store.tryLock('ns', 'key', 'owner', LONG),
        () => store.extendLock('ns', 'key', 'owner', LONG),
        () => store.unlock('ns', 'key', 'owner'),
      ]
      for (const call of calls) {
        const error = await call().catch((e: unknown) => e)
        expect(error).toBeInstanceOf(L2Error)
        expect((error as L2Error).code).toBe('E_L2')
      }
      expect(await settles(store.waitForUnlock('ns', 'key', 10_000))).toBe('settled')
    })

    it('close() ends the connections it made, the subscriber too, and wakes its waiters', async () => {
      const clients = async (): Promise<number> => Number(/connected_clients:(\d+)/.exec(await raw.info('clients'))?.[1])
      const baseline = await clients()
      const { store } = open()
      expect(await store.tryLock('ns', 'key', 'owner', LONG)).toBe('acquired')
      const { waiting } = await trustedWait(store, 'ns', 'key')
      expect(await clients()).toBe(baseline + 2)
      await store.close()
      expect(await settles(waiting)).toBe('settled')
      await vi.waitFor(async () => expect(await clients()).toBe(baseline), { timeout: 2_000, interval: 10 })
    })
  })
})
