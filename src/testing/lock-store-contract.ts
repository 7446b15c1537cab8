/**
 * The contract test suite of {@link LockStore}: what every store of loader
 * locks must do for MLCache's stampede protection to hold. It never calls a
 * value method, so a store without values can pass it.
 */
import { describe, expect, it, vi } from 'vitest'
import type { LockResult, LockStore } from '../l2/l2-store.js'
import {
  acquire,
  expectHeld,
  LONG_LEASE,
  REAL_TTL,
  REAL_WAIT,
  settles,
  SHORT_LEASE,
  sleep,
  sleepPast,
  type StoreContractOptions,
  useStoreFixtures,
} from './store-contract-support.js'

/** The options of {@link registerLockStoreContract}. */
export type LockStoreContractOptions<S extends LockStore = LockStore> = StoreContractOptions<S>

/**
 * Registers the LockStore contract suite, a vitest
 * `describe(\`LockStore contract: ${name}\`)`, against the store that
 * `options.create` builds.
 *
 * What it checks: locks are leases with a compare-and-delete `unlock`;
 * leases run on real time, whatever the store's clock does; `extendLock`
 * renews the lease of its holder only, and only while it runs; locks of
 * different namespaces and keys are independent; `waitForUnlock` wakes up
 * on unlock and on its timeout and never rejects. Every method's result is
 * awaited, so synchronous and promise-based stores both work. The lease
 * tests wait for short real leases (50 to 100 ms).
 *
 * @example
 * ```ts
 * import { registerLockStoreContract } from 'mlcache/testing'
 *
 * registerLockStoreContract({
 *   name: 'MyLockStore',
 *   create: () => new MyLockStore(),
 *   cleanup: (store) => store.close(),
 * })
 * ```
 */
export function registerLockStoreContract<S extends LockStore>(options: LockStoreContractOptions<S>): void {
  describe(`LockStore contract: ${options.name}`, () => {
    const setup = useStoreFixtures(options)

    /** Waits (in real time, {@link REAL_WAIT} at most) until `token` takes the lock. */
    async function takeOver(store: S, namespace: string, key: string, token: string): Promise<void> {
      await vi.waitFor(
        async () => {
          expect(await store.tryLock(namespace, key, token, LONG_LEASE)).toBe('acquired')
        },
        { timeout: REAL_WAIT, interval: 5 },
      )
    }

    describe('tryLock() and unlock()', () => {
      it("tryLock() acquires a free lock, then answers 'held' to another token", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        expect(await store.tryLock(ns, 'key', 'owner', LONG_LEASE)).toBe('acquired')
        expect(await store.tryLock(ns, 'key', 'other', LONG_LEASE)).toBe('held')
        expect(await store.tryLock(ns, 'key', 'third', LONG_LEASE)).toBe('held')
      })

      it('unlock() with a wrong token answers false and the lock stays held', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.unlock(ns, 'key', 'other')).toBe(false)
        expect(await store.unlock(ns, 'key', 'owne')).toBe(false)
        expect(await store.unlock(ns, 'key', 'owner2')).toBe(false)
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it("unlock() with the owner's token answers true and frees the lock", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        await acquire(store, ns, 'key', 'next')
        await expectHeld(store, ns, 'key')
        // The previous owner cannot release the new owner's lock.
        expect(await store.unlock(ns, 'key', 'owner')).toBe(false)
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'next')).toBe(true)
      })

      it('unlock() of a lock nobody holds answers false', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        expect(await store.unlock(ns, 'key', 'owner')).toBe(false)
        await acquire(store, ns, 'key', 'owner')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(false)
      })

      it("tryLock() acquires a lock whose lease has elapsed, and the old owner's unlock() answers false", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'first', REAL_TTL)
        expect(await store.tryLock(ns, 'key', 'second', LONG_LEASE)).toBe('held')
        await takeOver(store, ns, 'key', 'second')
        // Compare-and-delete: the late unlock of the first owner must not free the lock.
        expect(await store.unlock(ns, 'key', 'first')).toBe(false)
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'second')).toBe(true)
        await acquire(store, ns, 'key', 'third')
      })

      it('locks of different namespaces and keys are independent', async () => {
        const { store, prefix } = await setup()
        const locks: [string, string][] = [
          [`${prefix}one`, 'key'],
          [`${prefix}two`, 'key'],
          [`${prefix}one`, 'key2'],
          [`${prefix}ab`, 'c'],
          [`${prefix}a`, 'bc'],
          [`${prefix}a:b`, 'c'],
          [`${prefix}a`, 'b:c'],
        ]
        for (const [ns, key] of locks) await acquire(store, ns, key, `owner of ${ns}/${key}`)
        for (const [ns, key] of locks) await expectHeld(store, ns, key)
        // Releasing one leaves the others held.
        const [first, ...rest] = locks
        if (first === undefined) throw new Error('unreachable')
        expect(await store.unlock(first[0], first[1], `owner of ${first[0]}/${first[1]}`)).toBe(true)
        for (const [ns, key] of rest) await expectHeld(store, ns, key)
        // An owner's token does not open another key's lock.
        const [second] = rest
        if (second === undefined) throw new Error('unreachable')
        expect(await store.unlock(second[0], second[1], `owner of ${first[0]}/${first[1]}`)).toBe(false)
        await expectHeld(store, second[0], second[1])
        await acquire(store, first[0], first[1], 'again')
      })

      it("100 parallel tryLock() calls with distinct tokens on one key give exactly one 'acquired'", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        const tokens = Array.from({ length: 100 }, (_, i) => `token-${i}`)
        const results: LockResult[] = await Promise.all(
          tokens.map((token) => Promise.resolve(store.tryLock(ns, 'key', token, LONG_LEASE))),
        )
        expect(results.filter((result) => result === 'acquired')).toHaveLength(1)
        expect(results.filter((result) => result === 'held')).toHaveLength(99)
        const winner = tokens[results.indexOf('acquired')] ?? ''
        // Only the winner owns it.
        const releases = await Promise.all(
          tokens.filter((token) => token !== winner).map((token) => Promise.resolve(store.unlock(ns, 'key', token))),
        )
        expect(releases.every((released) => !released)).toBe(true)
        expect(await store.unlock(ns, 'key', winner)).toBe(true)
      })
    })

    describe('leases run on real time', () => {
      it("a lease ends on real time while the store's clock stands still", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'first', SHORT_LEASE)
        // The fake clock never moves in this test: only real time can end the lease.
        await takeOver(store, ns, 'key', 'second')
        expect(await store.unlock(ns, 'key', 'first')).toBe(false)
        expect(await store.unlock(ns, 'key', 'second')).toBe(true)
      })

      it("advancing the store's clock by an hour does not end a 60 s lease", async () => {
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner', LONG_LEASE)
        advance(3_600_000)
        await expectHeld(store, ns, 'key')
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(true)
        advance(3_600_000)
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })
    })

    describe('extendLock()', () => {
      it('extendLock() answers true for the holder within its lease, and the lease is longer afterwards', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        // The first lease ends at the latest `lease` ms after `since`.
        const lease = 400
        const since = performance.now()
        await acquire(store, ns, 'key', 'owner', lease)
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(true)
        await sleepPast(since, lease + SHORT_LEASE)
        await expectHeld(store, ns, 'key')
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(true)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it('extendLock() renews the lease to its own length from now, shorter ones included', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner', LONG_LEASE)
        expect(await store.extendLock(ns, 'key', 'owner', SHORT_LEASE)).toBe(true)
        await takeOver(store, ns, 'key', 'next')
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(false)
        expect(await store.unlock(ns, 'key', 'next')).toBe(true)
      })

      it('extendLock() answers false for another token and changes nothing', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.extendLock(ns, 'key', 'other', LONG_LEASE)).toBe(false)
        expect(await store.extendLock(ns, 'key', 'owne', LONG_LEASE)).toBe(false)
        expect(await store.extendLock(ns, 'key', 'owner2', LONG_LEASE)).toBe(false)
        expect(await store.extendLock(`${prefix}other`, 'key', 'owner', LONG_LEASE)).toBe(false)
        expect(await store.extendLock(ns, 'key2', 'owner', LONG_LEASE)).toBe(false)
        // Still the owner's, and only the owner's.
        expect(await store.unlock(ns, 'key', 'other')).toBe(false)
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        // A refused extendLock() created nothing.
        await acquire(store, `${prefix}other`, 'key', 'next')
        await acquire(store, ns, 'key2', 'next')
      })

      it('extendLock() answers false once the lease has ended and does not revive the lock', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        const since = performance.now()
        await acquire(store, ns, 'key', 'owner', SHORT_LEASE)
        await sleepPast(since, 2 * SHORT_LEASE)
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(false)
        await acquire(store, ns, 'key', 'next')
        // Nor does it take a lock another token took over.
        expect(await store.extendLock(ns, 'key', 'owner', LONG_LEASE)).toBe(false)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(false)
        expect(await store.unlock(ns, 'key', 'next')).toBe(true)
      })

      it('extendLock() of a lock nobody holds answers false and takes nothing', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        expect(await store.extendLock(ns, 'free', 'owner', LONG_LEASE)).toBe(false)
        await acquire(store, ns, 'free', 'other')
        await acquire(store, ns, 'released', 'owner')
        expect(await store.unlock(ns, 'released', 'owner')).toBe(true)
        expect(await store.extendLock(ns, 'released', 'owner', LONG_LEASE)).toBe(false)
        await acquire(store, ns, 'released', 'next')
      })
    })

    describe('waitForUnlock()', () => {
      it('waitForUnlock() resolves after unlock()', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        // Its timeout (10 s) is twice what settles() waits for: only the unlock can wake it in time.
        const waiting = store.waitForUnlock(ns, 'key', 10_000)
        await sleep(10) // let the waiter start waiting
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await settles(waiting)).toBe('settled')
      })

      it('waitForUnlock() wakes every waiter of the key', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        let unlocked = false
        const waitUntilUnlocked = async (): Promise<void> => {
          while (!unlocked) await store.waitForUnlock(ns, 'key', 10_000)
        }
        const waiters = Promise.all([waitUntilUnlocked(), waitUntilUnlocked(), waitUntilUnlocked()])
        waiters.catch(() => undefined) // a failure surfaces through settles() below
        await sleep(10)
        unlocked = true
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await settles(waiters)).toBe('settled')
      })

      it('a waiter acquires the lock once the owner unlocks', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        let unlocked = false
        const waiter = (async (): Promise<boolean> => {
          for (;;) {
            const result = await store.tryLock(ns, 'key', 'waiter', LONG_LEASE)
            if (result === 'acquired') return unlocked
            expect(result).toBe('held')
            await store.waitForUnlock(ns, 'key', 10_000)
          }
        })()
        waiter.catch(() => undefined) // a failure surfaces through settles() below
        const released = sleep(20).then(() => {
          unlocked = true
          return store.unlock(ns, 'key', 'owner')
        })
        expect(await released).toBe(true)
        expect(await settles(waiter)).toBe('settled')
        // It got the lock only after the owner had released it.
        expect(await waiter).toBe(true)
        expect(await store.unlock(ns, 'key', 'waiter')).toBe(true)
      })

      it('waitForUnlock() resolves by itself after its timeout when nobody unlocks', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'owner')
        expect(await settles(store.waitForUnlock(ns, 'key', 30))).toBe('settled')
        // Giving up waiting releases nothing.
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it('waitForUnlock() resolves for a lock that nobody holds', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}locks`
        expect(await settles(store.waitForUnlock(ns, 'free', 30))).toBe('settled')
        await acquire(store, ns, 'free', 'owner')
      })
    })
  })
}
