/**
 * RedisStore while its redis-server is killed, paused and restarted: every
 * call rejects with an L2Error within about `commandTimeout` (a burst of
 * calls too, none left hanging), waits still end, and once the server
 * answers again calls succeed by themselves and recovery is announced once.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { L2Error } from '../../../src/errors.js'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { RedisUnavailableError } from '../../../src/redis/redis-link.js'
import { pattern, settles, sleep } from '../../../src/testing/store-contract-support.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'

describe.runIf(redisServerInstalled)('RedisStore during an outage', () => {
  const server = useRedisServer()
  const stores: RedisStore[] = []
  afterEach(async () => {
    server().resume()
    for (const store of stores.splice(0)) await store.close()
  })

  /** A store with a 200 ms command timeout that counts its recoveries. */
  async function open(): Promise<{ store: RedisStore; recoveries: () => number }> {
    const store = new RedisStore({ url: server().url, prefix: 'outage:', commandTimeout: 200 })
    stores.push(store)
    let recoveries = 0
    store.onRecovered(() => {
      recoveries += 1
    })
    // Connected, scripts cached, subscribed: what an outage takes away.
    expect(await store.writeEntry('ns', 'key', pattern(4), 0, 0)).toBe('ok')
    expect(await store.tryLock('ns', 'held', 'owner', 60_000)).toBe('acquired')
    await store.waitForUnlock('ns', 'held', 300)
    return { store, recoveries: () => recoveries }
  }

  /** Every method's call, as a thunk. */
  function everyCall(store: RedisStore): [string, () => Promise<unknown>][] {
    return [
      ['readEntry', () => store.readEntry('ns', 'key')],
      ['readEntries', () => store.readEntries('ns', ['key', 'other'])],
      ['writeEntry', () => store.writeEntry('ns', 'key', pattern(4, 1), 0, 1)],
      ['fenced writeEntry', () => store.writeEntry('ns', 'held', pattern(4, 1), 0, 1, { fence: 'owner' })],
      ['deleteEntry', () => store.deleteEntry('ns', 'key')],
      ['purgeNamespace', () => store.purgeNamespace('ns', false)],
      ['purgeNamespace flushing', () => store.purgeNamespace('ns', true)],
      ['tryLock', () => store.tryLock('ns', 'key', 'owner', 60_000)],
      ['extendLock', () => store.extendLock('ns', 'held', 'owner', 60_000)],
      ['unlock', () => store.unlock('ns', 'held', 'owner')],
    ]
  }

  /** Asserts that every method rejects with an L2Error carrying the cause, that waits still end, and that a burst of 300 calls all settle as L2Errors. */
  async function expectFailing(store: RedisStore): Promise<void> {
    for (const [name, call] of everyCall(store)) {
      const outcome = call().then(
        () => `${name} resolved`,
        (error: unknown) => error,
      )
      expect(await settles(outcome), name).toBe('settled')
      const error = await outcome
      expect(error, name).toBeInstanceOf(L2Error)
      expect((error as L2Error).code).toBe('E_L2')
      expect((error as L2Error).cause, name).toBeInstanceOf(RedisUnavailableError)
    }
    expect(await settles(store.waitForUnlock('ns', 'held', 10_000))).toBe('settled')
    const calls = everyCall(store)
    const burst = Promise.allSettled(Array.from({ length: 300 }, (_, i) => calls[i % calls.length]?.[1]()))
    expect(await settles(burst)).toBe('settled')
    for (const result of await burst) {
      expect(result.status).toBe('rejected')
      if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(L2Error)
    }
  }

  /** Waits until calls succeed again by themselves, then checks that recovery was announced exactly once. */
  async function expectRecovered(store: RedisStore, recoveries: () => number): Promise<void> {
    await vi.waitFor(async () => expect(await store.writeEntry('ns', 'after', pattern(4, 2), 0, 2)).toBe('ok'), { timeout: 10_000, interval: 50 })
    for (const [name, call] of everyCall(store)) await expect(call(), name).resolves.not.toThrow()
    await vi.waitFor(() => expect(recoveries()).toBe(1), { timeout: 5_000, interval: 20 })
    expect(await store.tryLock('ns', 'new', 'owner', 60_000)).toBe('acquired')
    expect(await store.unlock('ns', 'new', 'owner')).toBe(true)
    expect(recoveries()).toBe(1)
  }

  it('after the server is killed, every call rejects with an L2Error; after a restart calls succeed again and recovery is announced once', async () => {
    const { store, recoveries } = await open()
    await server().kill()
    await expectFailing(store)
    expect(recoveries()).toBe(0)
    await server().restart()
    await expectRecovered(store, recoveries)
    // The restart emptied Redis: the scripts were sent again and the old entry is gone.
    expect(await store.readEntry('ns', 'key')).toBeUndefined()
  })

  it('while the server is paused (its connections open, nothing answers), every call rejects with an L2Error; after it resumes calls succeed again and recovery is announced once', async () => {
    const { store, recoveries } = await open()
    server().pause()
    await expectFailing(store)
    expect(recoveries()).toBe(0)
    server().resume()
    await expectRecovered(store, recoveries)
  })

  it('a store that was subscribed before a restart is woken by release messages again after it', async () => {
    const { store: waiter } = await open()
    await server().restart()
    const holder = new RedisStore({ url: server().url, prefix: 'outage:' })
    stores.push(holder)
    expect(await holder.tryLock('ns', 'key', 'owner', 60_000)).toBe('acquired')
    // A wait still running 300 ms later is one that only a release message can end within settles()'s 5 s.
    let waiting: Promise<void> | undefined
    for (let attempt = 0; attempt < 50 && waiting === undefined; attempt++) {
      const wait = waiter.waitForUnlock('ns', 'key', 10_000)
      if ((await Promise.race([wait.then(() => 'woke'), sleep(300).then(() => 'waiting')])) === 'waiting') waiting = wait
    }
    if (waiting === undefined) throw new Error('every wait ended early: release messages never became trusted again')
    expect(await holder.unlock('ns', 'key', 'owner')).toBe(true)
    expect(await settles(waiting)).toBe('settled')
  })
})
