/**
 * The contract test suite of {@link L2Store}: what every L2 adapter (the
 * in-process `SharedDict`, a Redis store, third-party adapters) must do for
 * MLCache to behave. It checks the interface's documented behaviour only;
 * eviction and "no memory" answers are store-specific and left to each
 * store's own tests.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { L2Entry, L2Store, LockResult } from '../l2/l2-store.js'

/** What {@link registerL2StoreContract} gives a store factory. */
export interface L2StoreContractContext {
  /**
   * A fake clock (absolute milliseconds, starting far from 0) that the store
   * should use for every TTL and lease. It only moves when the suite calls
   * {@link L2StoreContractContext.advance}.
   */
  clock: () => number
  /** Moves {@link L2StoreContractContext.clock} forward by `ms` milliseconds. */
  advance(ms: number): void
}

/** The options of {@link registerL2StoreContract}. */
export interface L2StoreContractOptions<S extends L2Store = L2Store> {
  /** The store's name, shown in the suite's title: `L2Store contract: ${name}`. */
  name: string
  /**
   * Creates the store under test; called once at the start of every test.
   * Each test uses namespaces of its own, so stores created by different
   * tests may share their backing storage (one Redis database, say).
   */
  create(context: L2StoreContractContext): S | Promise<S>
  /** Releases a store made by `create` (closes connections...); runs after each test. */
  cleanup?(store: S): void | Promise<void>
  /**
   * Whether the store follows `context.clock` for TTLs (default `true`).
   * Pass `false` for a store on its own time (a Redis store using server
   * time): TTL tests then use short real TTLs (100 ms) and wait for them.
   */
  supportsClock?: boolean
}

/** Where the fake clock starts: a plausible wall-clock instant, far from 0 ("never"). */
const CLOCK_START = 1_700_000_000_000
/** The TTL or lease the real-time variants wait for (ms). */
const REAL_TTL = 100
/** How long a real-time variant waits for an expiry before failing (ms). */
const REAL_WAIT = 2_000
/** A lease no test outlives. */
const LONG_LEASE = 60_000
/** A TTL no test outlives. */
const LONG_TTL = 60_000
/**
 * How long a test waits for a promise that should settle at once (a woken
 * waiter, a 30 ms timeout) before calling it stuck. It bounds a failure
 * only: nothing asserts how fast anything is.
 */
const STUCK_AFTER = 5_000

/** Bytes `[seed, seed + 1, ...]` modulo 256, `length` long. */
function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (seed + i * 7) & 0xff
  return bytes
}

/** Asserts that `entry` is present and that its bytes are exactly `expected`. */
function expectBytes(entry: L2Entry | undefined, expected: Uint8Array): void {
  expect(entry).toBeDefined()
  const value = entry?.value
  expect(value).toBeInstanceOf(Uint8Array)
  if (value === undefined) return
  const same =
    value.byteLength === expected.byteLength &&
    Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(
      Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
    )
  // Only build a readable diff when the bytes differ.
  if (!same) expect(Array.from(value)).toEqual(Array.from(expected))
}

/** Writes a distinct value and flags under every `[name, key]` pair, then reads each back unchanged. */
async function expectKeptApart(store: L2Store, prefix: string, pairs: readonly [string, string][]): Promise<void> {
  for (const [i, [ns, key]] of pairs.entries()) {
    expect(await store.writeEntry(prefix + ns, key, pattern(6, i), 0, i)).toBe(true)
  }
  for (const [i, [ns, key]] of pairs.entries()) {
    const entry = await store.readEntry(prefix + ns, key)
    expectBytes(entry, pattern(6, i))
    expect(entry?.flags).toBe(i)
  }
}

/**
 * Races `promise` against a {@link STUCK_AFTER} timer (cleared afterwards):
 * `'settled'` when the promise resolved first, `'stuck'` otherwise. A
 * rejection propagates, failing the test.
 */
async function settles(promise: Promise<unknown>): Promise<'settled' | 'stuck'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const stuck = new Promise<'stuck'>((resolve) => {
    timer = setTimeout(() => resolve('stuck'), STUCK_AFTER)
  })
  try {
    return await Promise.race([promise.then(() => 'settled' as const), stuck])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves after `ms` real milliseconds. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

let runCounter = 0

/**
 * Registers the L2Store contract suite, a vitest
 * `describe(\`L2Store contract: ${name}\`)`, against the store that
 * `options.create` builds. Every L2 adapter must pass it; MLCache relies on
 * nothing else.
 *
 * What it checks: bytes, flags (uint32) and TTLs round-trip; expired
 * entries stay readable as stale with a `ttl <= 0`; namespaces never see
 * each other's keys, whatever the names and keys contain; `purgeNamespace`
 * touches one namespace and no lock; locks are leases with
 * compare-and-delete `unlock`, kept apart from values; `waitForUnlock`
 * wakes up on unlock and on its timeout and never rejects. Every method's
 * result is awaited, so synchronous and promise-based stores both work.
 *
 * Each test calls `create` once, with a fake clock the store should use for
 * TTLs; a store on its own time passes `supportsClock: false`, and the TTL
 * tests then wait for short real TTLs (100 ms) instead. The suite needs a
 * store that holds about 200 KiB without evicting (one test writes 2 MiB to
 * check that values never evict locks, and asserts nothing about the values).
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
  const { name, create, cleanup } = options
  const usesClock = options.supportsClock ?? true

  describe(`L2Store contract: ${name}`, () => {
    const created: S[] = []

    afterEach(async () => {
      const stores = created.splice(0)
      if (cleanup !== undefined) {
        for (const store of stores) await cleanup(store)
      }
    })

    /** Creates this test's store, its fake clock, and a prefix for this test's namespaces. */
    async function setup(): Promise<{ store: S; advance: (ms: number) => void; prefix: string }> {
      let now = CLOCK_START
      const context: L2StoreContractContext = {
        clock: () => now,
        advance(ms: number) {
          if (!(ms >= 0) || !Number.isFinite(ms)) throw new RangeError('ms must be a finite number >= 0')
          now += ms
        },
      }
      const store = await create(context)
      created.push(store)
      runCounter += 1
      const prefix = `mlc${runCounter}${Math.random().toString(36).slice(2, 10)}_`
      return { store, advance: (ms) => context.advance(ms), prefix }
    }

    /** Makes an entry written with `ttl` (`REAL_TTL` in real time) expire. */
    async function expire(
      fixture: { store: S; advance: (ms: number) => void },
      namespace: string,
      key: string,
      ttl: number,
      extra: number,
    ): Promise<void> {
      if (usesClock) {
        fixture.advance(ttl + extra)
        return
      }
      await vi.waitFor(
        async () => {
          expect((await fixture.store.readEntry(namespace, key))?.stale).toBe(true)
        },
        { timeout: REAL_WAIT, interval: 5 },
      )
    }

    /** Takes a lock that must be free, asserting the answer. */
    async function acquire(store: S, namespace: string, key: string, token: string, lease = LONG_LEASE): Promise<void> {
      expect(await store.tryLock(namespace, key, token, lease)).toBe('acquired')
    }

    /** Asserts that someone holds the lock (tries it with a fresh token, which must not get it). */
    async function expectHeld(store: S, namespace: string, key: string): Promise<void> {
      expect(await store.tryLock(namespace, key, 'intruder', LONG_LEASE)).toBe('held')
    }

    describe('readEntry() and writeEntry()', () => {
      it('writeEntry() returns true and readEntry() returns the same bytes with stale: false', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(300, 1)
        expect(await store.writeEntry(ns, 'key', bytes, 0, 5)).toBe(true)
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, bytes)
        expect(entry?.flags).toBe(5)
        expect(entry?.stale).toBe(false)
      })

      it('readEntry() returns a private copy of the bytes', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(16, 3)
        expect(await store.writeEntry(ns, 'key', bytes, 0, 0)).toBe(true)
        const first = await store.readEntry(ns, 'key')
        expectBytes(first, bytes)
        first?.value.fill(0xee)
        expectBytes(await store.readEntry(ns, 'key'), bytes)
      })

      it('writeEntry() keeps its own copy of the bytes it is given', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(16, 9)
        const expected = bytes.slice()
        expect(await store.writeEntry(ns, 'key', bytes, 0, 0)).toBe(true)
        bytes.fill(0xee)
        expectBytes(await store.readEntry(ns, 'key'), expected)
      })

      it('writeEntry() stores only the bytes of a view (byteOffset and byteLength)', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const backing = pattern(64, 11)
        const view = backing.subarray(10, 30)
        expect(await store.writeEntry(ns, 'key', view, 0, 0)).toBe(true)
        expectBytes(await store.readEntry(ns, 'key'), backing.slice(10, 30))
      })

      it('writeEntry() stores an empty byte array', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'empty', new Uint8Array(0), 0, 2)).toBe(true)
        const entry = await store.readEntry(ns, 'empty')
        expectBytes(entry, new Uint8Array(0))
        expect(entry?.flags).toBe(2)
        expect(entry?.stale).toBe(false)
      })

      it('writeEntry() stores a 100 KiB value intact', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(100 * 1024, 13)
        expect(await store.writeEntry(ns, 'big', bytes, 0, 0)).toBe(true)
        expectBytes(await store.readEntry(ns, 'big'), bytes)
      })

      it('readEntry() returns the uint32 flags written, from 0 to 0xffffffff', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const flags = [0, 1, 0x101, 0x7fffffff, 0x80000000, 0xffffffff]
        for (const [i, flag] of flags.entries()) {
          expect(await store.writeEntry(ns, `key${i}`, pattern(4, i), 0, flag)).toBe(true)
        }
        for (const [i, flag] of flags.entries()) {
          expect((await store.readEntry(ns, `key${i}`))?.flags).toBe(flag)
        }
      })

      it('readEntry() returns undefined for a missing key', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.readEntry(ns, 'missing')).toBeUndefined()
        expect(await store.writeEntry(ns, 'present', pattern(4), 0, 0)).toBe(true)
        expect(await store.readEntry(ns, 'missing')).toBeUndefined()
        expect(await store.readEntry(ns, 'present2')).toBeUndefined()
        expect(await store.readEntry(ns, 'presen')).toBeUndefined()
      })

      it('writeEntry() over an existing key replaces its bytes, flags and ttl', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const ttl = usesClock ? 10_000 : LONG_TTL
        // Different length, finite TTL over "never".
        expect(await store.writeEntry(ns, 'key', pattern(10, 1), 0, 1)).toBe(true)
        expect(await store.writeEntry(ns, 'key', pattern(25, 2), ttl, 2)).toBe(true)
        let entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(25, 2))
        expect(entry?.flags).toBe(2)
        if (usesClock) expect(entry?.ttl).toBe(ttl)
        else expect(entry?.ttl).toBeGreaterThan(0)
        expect(entry?.stale).toBe(false)
        // Same length, "never" over a finite TTL.
        expect(await store.writeEntry(ns, 'key', pattern(25, 3), 0, 0)).toBe(true)
        entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(25, 3))
        expect(entry?.flags).toBe(0)
        expect(entry?.ttl).toBe(0)
        expect(entry?.stale).toBe(false)
        // Shorter, flags back on.
        expect(await store.writeEntry(ns, 'key', pattern(3, 4), 0, 0xffffffff)).toBe(true)
        entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(3, 4))
        expect(entry?.flags).toBe(0xffffffff)
      })

      it('writeEntry() over a stale entry stores a fresh entry', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'key', pattern(8, 1), ttl, 1)).toBe(true)
        await expire(fixture, ns, 'key', ttl, 1)
        expect((await store.readEntry(ns, 'key'))?.stale).toBe(true)
        expect(await store.writeEntry(ns, 'key', pattern(8, 2), 0, 2)).toBe(true)
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(8, 2))
        expect(entry?.flags).toBe(2)
        expect(entry?.ttl).toBe(0)
        expect(entry?.stale).toBe(false)
      })
    })

    describe('TTLs', () => {
      it('readEntry() returns ttl 0 for an entry that never expires', async () => {
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe(true)
        let entry = await store.readEntry(ns, 'key')
        expect(entry?.ttl).toBe(0)
        expect(entry?.stale).toBe(false)
        if (usesClock) {
          advance(10 * 365 * 24 * 3_600_000)
          entry = await store.readEntry(ns, 'key')
          expectBytes(entry, pattern(8))
          expect(entry?.ttl).toBe(0)
          expect(entry?.stale).toBe(false)
        }
      })

      it('readEntry() returns the remaining ttl, decreasing as the clock advances', async () => {
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}cache`
        const ttl = 10_000
        expect(await store.writeEntry(ns, 'key', pattern(8), ttl, 0)).toBe(true)
        const first = await store.readEntry(ns, 'key')
        expect(first?.stale).toBe(false)
        if (usesClock) {
          expect(first?.ttl).toBe(ttl)
          advance(2_500)
          expect((await store.readEntry(ns, 'key'))?.ttl).toBe(7_500)
          advance(7_499)
          const last = await store.readEntry(ns, 'key')
          expect(last?.ttl).toBe(1)
          expect(last?.stale).toBe(false)
          expectBytes(last, pattern(8))
        } else {
          const firstTtl = first?.ttl ?? Number.NaN
          expect(firstTtl).toBeGreaterThan(0)
          expect(firstTtl).toBeLessThanOrEqual(ttl)
          await vi.waitFor(
            async () => {
              const entry = await store.readEntry(ns, 'key')
              expect(entry?.stale).toBe(false)
              expect(entry?.ttl).toBeGreaterThan(0)
              expect(entry?.ttl).toBeLessThan(firstTtl)
            },
            { timeout: REAL_WAIT, interval: 5 },
          )
        }
      })

      it('readEntry() returns a stale entry with stale: true and ttl <= 0 after expiry', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        const bytes = pattern(40, 5)
        expect(await store.writeEntry(ns, 'key', bytes, ttl, 7)).toBe(true)
        await expire(fixture, ns, 'key', ttl, 250)
        for (let read = 0; read < 2; read++) {
          // A stale read does not make the entry fresh again.
          const entry = await store.readEntry(ns, 'key')
          expect(entry?.stale).toBe(true)
          expect(entry?.ttl).toBeLessThanOrEqual(0)
          if (usesClock) expect(entry?.ttl).toBe(-250)
          expectBytes(entry, bytes)
          expect(entry?.flags).toBe(7)
        }
      })
    })

    describe('deleteEntry()', () => {
      it('deleteEntry() removes an entry', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe(true)
        expect(await store.writeEntry(ns, 'other', pattern(8, 1), 0, 0)).toBe(true)
        await store.deleteEntry(ns, 'key')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        expectBytes(await store.readEntry(ns, 'other'), pattern(8, 1))
      })

      it('deleteEntry() of a missing key is not an error', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await expect(Promise.resolve().then(() => store.deleteEntry(ns, 'missing'))).resolves.toBeUndefined()
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe(true)
        await store.deleteEntry(ns, 'key')
        await expect(Promise.resolve().then(() => store.deleteEntry(ns, 'key'))).resolves.toBeUndefined()
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })

      it('deleteEntry() removes a stale entry', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'key', pattern(8), ttl, 0)).toBe(true)
        await expire(fixture, ns, 'key', ttl, 1)
        await store.deleteEntry(ns, 'key')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })
    })

    describe('namespaces', () => {
      it("namespaces ('ab', 'c') and ('a', 'bc') hold different entries", async () => {
        const { store, prefix } = await setup()
        const ab = `${prefix}ab`
        const a = `${prefix}a`
        expect(await store.writeEntry(ab, 'c', pattern(8, 1), 0, 1)).toBe(true)
        expect(await store.readEntry(a, 'bc')).toBeUndefined()
        expect(await store.writeEntry(a, 'bc', pattern(8, 2), 0, 2)).toBe(true)
        expectBytes(await store.readEntry(ab, 'c'), pattern(8, 1))
        expect((await store.readEntry(ab, 'c'))?.flags).toBe(1)
        expectBytes(await store.readEntry(a, 'bc'), pattern(8, 2))
        expect((await store.readEntry(a, 'bc'))?.flags).toBe(2)
        await store.deleteEntry(a, 'bc')
        expectBytes(await store.readEntry(ab, 'c'), pattern(8, 1))
      })

      it('the same key in two namespaces holds two entries', async () => {
        const { store, prefix } = await setup()
        const one = `${prefix}one`
        const two = `${prefix}two`
        expect(await store.writeEntry(one, 'key', pattern(8, 1), 0, 1)).toBe(true)
        expect(await store.readEntry(two, 'key')).toBeUndefined()
        expect(await store.writeEntry(two, 'key', pattern(12, 2), 0, 2)).toBe(true)
        expectBytes(await store.readEntry(one, 'key'), pattern(8, 1))
        expectBytes(await store.readEntry(two, 'key'), pattern(12, 2))
        await store.deleteEntry(one, 'key')
        expect(await store.readEntry(one, 'key')).toBeUndefined()
        expectBytes(await store.readEntry(two, 'key'), pattern(12, 2))
      })

      it("names and keys containing ':' and other separators never collide", async () => {
        const { store, prefix } = await setup()
        // Pairs that a naive `${namespace}${sep}${key}` encoding would merge.
        const pairs: [string, string][] = [
          ['a:b', 'c'],
          ['a', 'b:c'],
          ['a:', 'b'],
          ['a', ':b'],
          ['a::', 'b'],
          ['a:', ':b'],
          ['a', '::b'],
          ['a/b', 'c'],
          ['a', 'b/c'],
          ['a|b', 'c'],
          ['a', 'b|c'],
          ['a\u0000b', 'c'],
          ['a', 'b\u0000c'],
          ['a b', 'c'],
          ['a', 'b c'],
          ['ab', 'c'],
          ['a', 'bc'],
        ]
        await expectKeptApart(store, prefix, pairs)
      })

      it('unicode names and keys are stored as given and kept apart', async () => {
        const { store, prefix } = await setup()
        const pairs: [string, string][] = [
          ['café', 'clé'],
          ['cafe\u0301', 'clé'], // the same text in NFD: a different name
          ['café', 'cle\u0301'],
          ['кэш', 'ключ'],
          ['キャッシュ', 'キー'],
          ['🗄️', '🔑'],
          ['🗄️', '🔑🔑'],
          ['🗄️🔑', '🔑'],
        ]
        await expectKeptApart(store, prefix, pairs)
      })

      it('a key of 65535 UTF-8 bytes is stored', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const ascii = 'k'.repeat(65_534)
        const keyA = `${ascii}a`
        const keyB = `${ascii}b`
        const multibyte = `${'é'.repeat(32_767)}k` // 2 × 32767 + 1 bytes
        expect(Buffer.byteLength(keyA)).toBe(65_535)
        expect(Buffer.byteLength(multibyte)).toBe(65_535)
        expect(await store.writeEntry(ns, keyA, pattern(8, 1), 0, 1)).toBe(true)
        expect(await store.writeEntry(ns, keyB, pattern(8, 2), 0, 2)).toBe(true)
        expect(await store.writeEntry(ns, multibyte, pattern(8, 3), 0, 3)).toBe(true)
        expectBytes(await store.readEntry(ns, keyA), pattern(8, 1))
        expectBytes(await store.readEntry(ns, keyB), pattern(8, 2))
        expectBytes(await store.readEntry(ns, multibyte), pattern(8, 3))
        await store.deleteEntry(ns, keyA)
        expect(await store.readEntry(ns, keyA)).toBeUndefined()
        expectBytes(await store.readEntry(ns, keyB), pattern(8, 2))
      })
    })

    describe('purgeNamespace()', () => {
      /** Namespaces that a prefix or pattern match on `target` could wrongly catch. */
      function neighbours(prefix: string): { target: string; others: string[] } {
        const target = `${prefix}users`
        return {
          target,
          others: [`${prefix}users2`, `${prefix}user`, `${prefix}users:x`, `${prefix}users*`, `${prefix}other`],
        }
      }

      it('purgeNamespace(ns, false) makes every entry of ns stale or absent and leaves other namespaces fresh', async () => {
        const { store, prefix } = await setup()
        const { target, others } = neighbours(prefix)
        const otherTtl = usesClock ? 10_000 : LONG_TTL
        for (let i = 0; i < 5; i++) {
          expect(await store.writeEntry(target, `key${i}`, pattern(10, i), i % 2 === 0 ? 0 : 10_000, i)).toBe(true)
        }
        for (const [i, ns] of others.entries()) {
          expect(await store.writeEntry(ns, 'key0', pattern(10, 100 + i), otherTtl, 100 + i)).toBe(true)
        }
        await store.purgeNamespace(target, false)
        for (let i = 0; i < 5; i++) {
          const entry = await store.readEntry(target, `key${i}`)
          if (entry !== undefined) {
            // Still visible to a stale read, as after flush_all: the same entry, expired.
            expect(entry.stale).toBe(true)
            expect(entry.ttl).toBeLessThanOrEqual(0)
            expectBytes(entry, pattern(10, i))
            expect(entry.flags).toBe(i)
          }
        }
        for (const [i, ns] of others.entries()) {
          const entry = await store.readEntry(ns, 'key0')
          expectBytes(entry, pattern(10, 100 + i))
          expect(entry?.stale).toBe(false)
          expect(entry?.flags).toBe(100 + i)
          if (usesClock) expect(entry?.ttl).toBe(otherTtl)
          else expect(entry?.ttl).toBeGreaterThan(0)
        }
      })

      it('purgeNamespace(ns, true) removes every entry of ns and leaves other namespaces fresh', async () => {
        const { store, prefix } = await setup()
        const { target, others } = neighbours(prefix)
        for (let i = 0; i < 5; i++) {
          expect(await store.writeEntry(target, `key${i}`, pattern(10, i), i % 2 === 0 ? 0 : 10_000, i)).toBe(true)
        }
        for (const [i, ns] of others.entries()) {
          expect(await store.writeEntry(ns, 'key0', pattern(10, 100 + i), 0, 100 + i)).toBe(true)
        }
        await store.purgeNamespace(target, true)
        for (let i = 0; i < 5; i++) {
          expect(await store.readEntry(target, `key${i}`)).toBeUndefined()
        }
        for (const [i, ns] of others.entries()) {
          const entry = await store.readEntry(ns, 'key0')
          expectBytes(entry, pattern(10, 100 + i))
          expect(entry?.stale).toBe(false)
          expect(entry?.ttl).toBe(0)
        }
      })

      it('purgeNamespace() leaves locks untouched, in ns and elsewhere', async () => {
        const { store, prefix } = await setup()
        const { target, others } = neighbours(prefix)
        const other = others[0] ?? `${prefix}other`
        expect(await store.writeEntry(target, 'key', pattern(4), 0, 0)).toBe(true)
        await acquire(store, target, 'key', 'owner')
        await acquire(store, target, 'lonely', 'owner')
        await acquire(store, other, 'key', 'owner')
        await store.purgeNamespace(target, false)
        await expectHeld(store, target, 'key')
        await expectHeld(store, target, 'lonely')
        await expectHeld(store, other, 'key')
        await store.purgeNamespace(target, true)
        await expectHeld(store, target, 'key')
        await expectHeld(store, target, 'lonely')
        await expectHeld(store, other, 'key')
        expect(await store.unlock(target, 'key', 'owner')).toBe(true)
        expect(await store.unlock(target, 'lonely', 'owner')).toBe(true)
        expect(await store.unlock(other, 'key', 'owner')).toBe(true)
      })

      it('purgeNamespace() of an empty namespace is not an error', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}empty`
        await expect(Promise.resolve().then(() => store.purgeNamespace(ns, false))).resolves.toBeUndefined()
        await expect(Promise.resolve().then(() => store.purgeNamespace(ns, true))).resolves.toBeUndefined()
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })

      it('writeEntry() after purgeNamespace() stores a fresh entry', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        for (const flushExpired of [false, true]) {
          expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1)).toBe(true)
          await store.purgeNamespace(ns, flushExpired)
          expect(await store.writeEntry(ns, 'key', pattern(8, 2), 0, 2)).toBe(true)
          expect(await store.writeEntry(ns, 'new', pattern(8, 3), 0, 3)).toBe(true)
          const entry = await store.readEntry(ns, 'key')
          expectBytes(entry, pattern(8, 2))
          expect(entry?.flags).toBe(2)
          expect(entry?.stale).toBe(false)
          expect(entry?.ttl).toBe(0)
          expect((await store.readEntry(ns, 'new'))?.stale).toBe(false)
        }
      })
    })

    describe('locks', () => {
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
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}locks`
        await acquire(store, ns, 'key', 'first', REAL_TTL)
        expect(await store.tryLock(ns, 'key', 'second', LONG_LEASE)).toBe('held')
        if (usesClock) advance(REAL_TTL + 1)
        // With the store on the fake clock this succeeds at once; a store timing leases
        // on its own (real) time gets there within the short lease.
        await vi.waitFor(
          async () => {
            expect(await store.tryLock(ns, 'key', 'second', LONG_LEASE)).toBe('acquired')
          },
          { timeout: REAL_WAIT, interval: 5 },
        )
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

      it('a lock is not a value: readEntry() of the same key stays undefined', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        await store.purgeNamespace(ns, false)
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })

      it('writeEntry() and deleteEntry() of the same key leave its lock held', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await acquire(store, ns, 'key', 'owner')
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe(true)
        await expectHeld(store, ns, 'key')
        expectBytes(await store.readEntry(ns, 'key'), pattern(8))
        await store.deleteEntry(ns, 'key')
        await expectHeld(store, ns, 'key')
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
      })

      it('tryLock() and unlock() leave the value of the same key alone', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8, 4), 0, 4)).toBe(true)
        await acquire(store, ns, 'key', 'owner')
        expectBytes(await store.readEntry(ns, 'key'), pattern(8, 4))
        expect(await store.unlock(ns, 'key', 'owner')).toBe(true)
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(8, 4))
        expect(entry?.flags).toBe(4)
        expect(entry?.stale).toBe(false)
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
          expect(typeof written).toBe('boolean')
        }
        for (const key of lockKeys) await expectHeld(store, ns, key)
        await expectHeld(store, otherNs, 'key0')
        for (const key of lockKeys) expect(await store.unlock(ns, key, `owner-${key}`)).toBe(true)
        expect(await store.unlock(otherNs, 'key0', 'owner-other')).toBe(true)
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
