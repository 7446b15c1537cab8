/**
 * The contract test suite of {@link L2Store}: the {@link ValueStore} and
 * {@link LockStore} suites, plus what needs both halves in one store: locks
 * and values kept apart under the same keys, and fenced writes.
 */
import { describe, expect, it, vi } from 'vitest'
import type { L2Entry, L2Store } from '../l2/l2-store.js'
import { registerLockStoreContract } from './lock-store-contract.js'
import {
  acquire,
  expectBytes,
  expectHeld,
  expectSameEntry,
  LONG_LEASE,
  pattern,
  REAL_WAIT,
  SHORT_LEASE,
  sleepPast,
  useStoreFixtures,
} from './store-contract-support.js'
import { registerValueStoreContract, type ValueStoreContractOptions } from './value-store-contract.js'

/** The options of {@link registerL2StoreContract}. */
export type L2StoreContractOptions<S extends L2Store = L2Store> = ValueStoreContractOptions<S>

/** The operations that void the fence of a lock of `key` in `namespace`. */
const VOIDINGS: readonly {
  readonly name: string
  readonly run: (store: L2Store, namespace: string, key: string) => Promise<unknown>
}[] = [
  { name: 'writeEntry() without a fence', run: async (store, ns, key) => await store.writeEntry(ns, key, pattern(5, 99), 0, 99) },
  { name: 'deleteEntry()', run: async (store, ns, key) => await store.deleteEntry(ns, key) },
  { name: 'purgeNamespace(ns, false)', run: async (store, ns) => await store.purgeNamespace(ns, false) },
  { name: 'purgeNamespace(ns, true)', run: async (store, ns) => await store.purgeNamespace(ns, true) },
]

/**
 * Registers the L2Store contract: {@link registerValueStoreContract} and
 * {@link registerLockStoreContract} on the same `options`, then a vitest
 * `describe(\`L2Store contract: ${name}\`)` of what needs both halves.
 * Every L2 adapter must pass it; MLCache relies on nothing else.
 *
 * What the last part checks: a lock is not a value and a value is not a
 * lock, under the same namespace and key, whatever is written, deleted or
 * purged; values never evict locks; a write with a `fence` lands only while
 * the lock of its key holds that token, within its lease, and no write
 * without a fence, delete or purge of the key (or of its namespace) voided
 * it since the lock was taken; a refused write answers `'fenced'` and
 * changes nothing, and a voided lock stays held.
 *
 * Each test calls `create` once, with a fake clock the store should use for
 * TTLs (never for leases); a store on its own time passes
 * `supportsClock: false`, and the TTL tests then wait for short real TTLs
 * (100 ms) instead. The suite needs a store that holds about 200 KiB
 * without evicting (one test writes 2 MiB to check that values never evict
 * locks, and asserts nothing about the values).
 *
 * @example
 * ```ts
 * // test/my-store.contract.test.ts
 * import { randomUUID } from 'node:crypto'
 * import { registerL2StoreContract } from 'mlcache/testing'
 * import { MyStore } from '../src/my-store.js'
 *
 * // A store that can run on an injected clock:
 * registerL2StoreContract({
 *   name: 'MyStore',
 *   create: ({ clock }) => new MyStore({ clock }),
 *   cleanup: (store) => store.close(),
 * })
 *
 * // A store on server time, sharing one database between tests:
 * registerL2StoreContract({
 *   name: 'MyRedisStore',
 *   supportsClock: false,
 *   create: () => new MyRedisStore({ url: process.env.REDIS_URL, prefix: `test:${randomUUID()}:` }),
 *   cleanup: async (store) => { await store.quit() },
 * })
 * ```
 */
export function registerL2StoreContract<S extends L2Store>(options: L2StoreContractOptions<S>): void {
  registerValueStoreContract(options)
  registerLockStoreContract(options)
  const exactTtl = options.supportsClock ?? true

  describe(`L2Store contract: ${options.name}`, () => {
    const setup = useStoreFixtures(options)

    /**
     * A fenced write that must be refused: answers 'fenced' and leaves the
     * key's entry as it was.
     */
    async function expectFenced(store: S, namespace: string, key: string, fence: string): Promise<void> {
      const before: L2Entry | undefined = await store.readEntry(namespace, key)
      expect(await store.writeEntry(namespace, key, pattern(11, 200), 0, 200, { fence })).toBe('fenced')
      expectSameEntry(await store.readEntry(namespace, key), before, exactTtl)
    }

    /** A fenced write that must land, with bytes and flags of its own. */
    async function expectLands(store: S, namespace: string, key: string, fence: string, seed: number): Promise<void> {
      expect(await store.writeEntry(namespace, key, pattern(9, seed), 0, seed, { fence })).toBe('ok')
      const entry = await store.readEntry(namespace, key)
      expectBytes(entry, pattern(9, seed))
      expect(entry?.flags).toBe(seed)
      expect(entry?.stale).toBe(false)
    }

    describe('locks and values under the same key', () => {
      it('a lock is not a value: readEntry() of the same key stays undefined', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        if (store.readEntries !== undefined) expect(await store.readEntries(ns, ['key'])).toEqual([undefined])
        await store.purgeNamespace(ns, false)
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })

      it('writeEntry() and deleteEntry() of the same key leave its lock held, its fence void', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe('ok')
        await expectHeld(store, ns, 'key')
        expectBytes(await store.readEntry(ns, 'key'), pattern(8))
        await expectFenced(store, ns, 'key', 'owner')
        await store.deleteEntry(ns, 'key')
        await expectHeld(store, ns, 'key')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        await expectFenced(store, ns, 'key', 'owner')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it('tryLock() and unlock() leave the value of the same key alone', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8, 4), 0, 4)).toBe('ok')
        await acquire(store, ns, 'key', 'owner')
        expectBytes(await store.readEntry(ns, 'key'), pattern(8, 4))
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(8, 4))
        expect(entry?.flags).toBe(4)
        expect(entry?.stale).toBe(false)
      })

      it('purgeNamespace() leaves locks held, in ns and elsewhere', async () => {
        const { store, prefix } = await setup()
        const target = `${prefix}users`
        const other = `${prefix}users2`
        expect(await store.writeEntry(target, 'key', pattern(4), 0, 0)).toBe('ok')
        await acquire(store, target, 'key', 'owner')
        await acquire(store, target, 'lonely', 'owner')
        await acquire(store, other, 'key', 'owner')
        for (const flushExpired of [false, true]) {
          await store.purgeNamespace(target, flushExpired)
          await expectHeld(store, target, 'key')
          await expectHeld(store, target, 'lonely')
          await expectHeld(store, other, 'key')
        }
        expect(await store.unlock(target, 'key', 'owner')).toBe(true)
        expect(await store.unlock(target, 'lonely', 'owner')).toBe(true)
        expect(await store.unlock(other, 'key', 'owner')).toBe(true)
      })

      it('writing values never makes a held lock acquirable by someone else', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const otherNs = `${prefix}other`
        const lockKeys = Array.from({ length: 10 }, (_, i) => `key${i}`)
        // Locks taken first are the least recently used: an LRU shared with values would drop them first.
        for (const key of lockKeys) await acquire(store, ns, key, `owner-${key}`)
        await acquire(store, otherNs, 'key0', 'owner-other')
        // 2 MiB of values: enough to fill a small store. Whether they fit is the store's business.
        const chunk = pattern(4 * 1024, 17)
        for (let i = 0; i < 512; i++) {
          const written = await store.writeEntry(ns, i < lockKeys.length ? `key${i}` : `filler${i}`, chunk, 0, 0)
          expect(['ok', 'no memory']).toContain(written)
        }
        for (const key of lockKeys) await expectHeld(store, ns, key)
        await expectHeld(store, otherNs, 'key0')
        for (const key of lockKeys) expect(await store.unlock(ns, key, `owner-${key}`)).toBe(true)
        expect(await store.unlock(otherNs, 'key0', 'owner-other')).toBe(true)
      })
    })

    describe('fenced writes', () => {
      it("writeEntry() with the lock's token as fence stores while the lock is held", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        await expectLands(store, ns, 'key', 'owner', 1)
        // A fenced write does not void its own fence: the next one lands too.
        await expectLands(store, ns, 'key', 'owner', 2)
        // Over a value that was there before the lock, too.
        expect(await store.writeEntry(ns, 'old', pattern(3), 0, 0)).toBe('ok')
        await acquire(store, ns, 'old', 'owner')
        await expectLands(store, ns, 'old', 'owner', 3)
        // The lock is still held, by its owner.
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await store.unlock(ns, 'old', 'owner')).toBe(true)
      })

      for (const voiding of VOIDINGS) {
        it(`writeEntry() with a fence answers 'fenced' and changes nothing after ${voiding.name} of the key`, async () => {
          const { store, prefix } = await setup()
          const ns = `${prefix}cache`
          // A key with a value and one without: voiding does not depend on a value being there.
          expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1)).toBe('ok')
          await acquire(store, ns, 'key', 'owner')
          await acquire(store, ns, 'empty', 'owner')
          await voiding.run(store, ns, 'key')
          await voiding.run(store, ns, 'empty')
          await expectFenced(store, ns, 'key', 'owner')
          await expectFenced(store, ns, 'empty', 'owner')
          // Refused again: the fence stays void.
          await expectFenced(store, ns, 'key', 'owner')
        })
      }

      it('writeEntry(), deleteEntry() of other keys and purgeNamespace() of other namespaces leave the fence valid', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}users`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.writeEntry(ns, 'key2', pattern(4), 0, 0)).toBe('ok')
        expect(await store.writeEntry(ns, 'ke', pattern(4), 0, 0)).toBe('ok')
        await store.deleteEntry(ns, 'keys')
        await store.deleteEntry(ns, 'ke')
        for (const other of [`${prefix}users2`, `${prefix}user`, `${prefix}users:key`, `${prefix}other`]) {
          expect(await store.writeEntry(other, 'key', pattern(4), 0, 0)).toBe('ok')
          await store.deleteEntry(other, 'key')
          await store.purgeNamespace(other, false)
          await store.purgeNamespace(other, true)
        }
        await expectLands(store, ns, 'key', 'owner', 5)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it("writeEntry() with a fence answers 'fenced' after the lease ended", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1)).toBe('ok')
        const since = performance.now()
        await acquire(store, ns, 'key', 'owner', SHORT_LEASE)
        await sleepPast(since, 2 * SHORT_LEASE)
        await expectFenced(store, ns, 'key', 'owner')
        await expectFenced(store, ns, 'missing', 'owner')
      })

      it("writeEntry() with a fence answers 'fenced' after another token took the lock over", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'first', SHORT_LEASE)
        await vi.waitFor(
          async () => {
            expect(await store.tryLock(ns, 'key', 'second', LONG_LEASE)).toBe('acquired')
          },
          { timeout: REAL_WAIT, interval: 5 },
        )
        await expectFenced(store, ns, 'key', 'first')
        await expectLands(store, ns, 'key', 'second', 6)
        expect(await store.unlock(ns, 'key', 'second')).toBe(true)
      })

      it('tryLock() over an ended lease whose fence was void gives a fresh, valid fence', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        // A token of the same length as the first (a store may reuse the lock in place) and a longer one.
        for (const key of ['same', 'longer']) {
          await acquire(store, ns, key, 'first', SHORT_LEASE)
          expect(await store.writeEntry(ns, key, pattern(8, 1), 0, 1)).toBe('ok')
        }
        for (const [key, next] of [['same', 'later'], ['longer', 'a longer token']] as const) {
          await vi.waitFor(
            async () => {
              expect(await store.tryLock(ns, key, next, LONG_LEASE)).toBe('acquired')
            },
            { timeout: REAL_WAIT, interval: 5 },
          )
          await expectLands(store, ns, key, next, 7)
          expect(await store.unlock(ns, key, next)).toBe(true)
        }
      })

      it("writeEntry() with a fence answers 'fenced' after unlock()", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        await expectLands(store, ns, 'key', 'owner', 1)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        await expectFenced(store, ns, 'key', 'owner')
      })

      it("writeEntry() with a wrong token as fence answers 'fenced' and leaves the owner's fence valid", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1)).toBe('ok')
        await acquire(store, ns, 'key', 'owner')
        for (const wrong of ['other', 'owne', 'owner2', 'OWNER', '']) await expectFenced(store, ns, 'key', wrong)
        await expectLands(store, ns, 'key', 'owner', 8)
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it("writeEntry() with a fence answers 'fenced' when no lock exists", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await expectFenced(store, ns, 'missing', 'owner')
        expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1)).toBe('ok')
        await expectFenced(store, ns, 'key', 'owner')
        // Nor did the refused write take a lock.
        await acquire(store, ns, 'key', 'next')
      })

      it('a fenced write with the lock of another key or namespace is refused', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        await acquire(store, `${prefix}ab`, 'c', 'ab-owner')
        await expectFenced(store, ns, 'other', 'owner')
        await expectFenced(store, ns, 'ke', 'owner')
        await expectFenced(store, `${prefix}other`, 'key', 'owner')
        await expectFenced(store, `${prefix}a`, 'bc', 'ab-owner')
        // Both fences are still valid where they belong.
        await expectLands(store, ns, 'key', 'owner', 9)
        await expectLands(store, `${prefix}ab`, 'c', 'ab-owner', 10)
      })

      for (const voiding of VOIDINGS) {
        it(`after ${voiding.name}, the lock stays held, its owner unlocks it, and tryLock() then gives a fresh fence`, async () => {
          const { store, prefix } = await setup()
          const ns = `${prefix}cache`
          await acquire(store, ns, 'key', 'owner')
          await voiding.run(store, ns, 'key')
          await expectHeld(store, ns, 'key')
          expect(await store.unlock(ns, 'key', 'intruder')).toBe(false)
          expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
          // The same token again: a fence belongs to a lock, not to a token.
          await acquire(store, ns, 'key', 'owner')
          await expectLands(store, ns, 'key', 'owner', 11)
          expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
          await acquire(store, ns, 'key', 'next')
          await expectLands(store, ns, 'key', 'next', 12)
        })
      }

      it('extendLock() keeps a valid fence valid and a voided fence void', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'valid', 'owner')
        expect(await store.extendLock(ns, 'valid', 'owner', LONG_LEASE)).toBe(true)
        await expectLands(store, ns, 'valid', 'owner', 13)
        await acquire(store, ns, 'void', 'owner')
        expect(await store.writeEntry(ns, 'void', pattern(8, 1), 0, 1)).toBe('ok')
        expect(await store.extendLock(ns, 'void', 'owner', LONG_LEASE)).toBe(true)
        await expectFenced(store, ns, 'void', 'owner')
        await expectHeld(store, ns, 'void')
      })
    })
  })
}
