/**
 * The contract test suite of {@link ValueStore}: what every store of cached
 * entries must do for MLCache to behave. It checks the interface's
 * documented behaviour only, and never calls a lock method, so a store
 * without locks can pass it; eviction and "no memory" answers (including
 * what `noEvict` refuses) are store-specific and left to each store's own
 * tests.
 */
import { describe, expect, it, vi } from 'vitest'
import type { EntryView, L2Entry, L2WriteOptions, ValueStore } from '../l2/l2-store.js'
import {
  expectBytes,
  expectSameEntry,
  LONG_TTL,
  pattern,
  REAL_TTL,
  REAL_WAIT,
  type StoreContractOptions,
  type StoreFixture,
  useStoreFixtures,
} from './store-contract-support.js'

/** The options of {@link registerValueStoreContract}. */
export interface ValueStoreContractOptions<S extends ValueStore = ValueStore> extends StoreContractOptions<S> {
  /**
   * Whether the store follows `context.clock` for TTLs (default `true`).
   * Pass `false` for a store on its own time (a Redis store using server
   * time): TTL tests then use short real TTLs (100 ms) and wait for them.
   */
  supportsClock?: boolean
}

/** A stale window no test outlives: what a write passes when the test reads the entry once it has expired. */
const STALE: L2WriteOptions = { staleTtl: LONG_TTL }

/** Writes a distinct value and flags under every `[name, key]` pair, then reads each back unchanged. */
async function expectKeptApart(store: ValueStore, prefix: string, pairs: readonly [string, string][]): Promise<void> {
  for (const [i, [ns, key]] of pairs.entries()) {
    expect(await store.writeEntry(prefix + ns, key, pattern(6, i), 0, i)).toBe('ok')
  }
  for (const [i, [ns, key]] of pairs.entries()) {
    const entry = await store.readEntry(prefix + ns, key)
    expectBytes(entry, pattern(6, i))
    expect(entry?.flags).toBe(i)
  }
}

/**
 * Registers the ValueStore contract suite, a vitest
 * `describe(\`ValueStore contract: ${name}\`)`, against the store that
 * `options.create` builds.
 *
 * What it checks: bytes, flags (uint32) and TTLs round-trip; an expired
 * entry written with `staleTtl` stays readable as stale with a `ttl <= 0`,
 * and one written without is stale or gone, never fresh; `readEntries`,
 * when the store has it, answers as `readEntry` would, key by key;
 * namespaces never see each other's keys, whatever the names and keys
 * contain; `purgeNamespace` touches one namespace; a store with `forget`
 * has a `copyId`, and forgetting touches no other namespace. Every method's result is
 * awaited, so synchronous and promise-based stores both work.
 *
 * Each test calls `create` once, with a fake clock the store should use for
 * TTLs; a store on its own time passes `supportsClock: false`, and the TTL
 * tests then wait for short real TTLs (100 ms) instead. The suite needs a
 * store that holds about 200 KiB without evicting.
 *
 * @example
 * ```ts
 * import { registerValueStoreContract } from 'mlcache/testing'
 *
 * registerValueStoreContract({
 *   name: 'MyValueStore',
 *   create: ({ clock }) => new MyValueStore({ clock }),
 *   cleanup: (store) => store.close(),
 * })
 * ```
 */
export function registerValueStoreContract<S extends ValueStore>(options: ValueStoreContractOptions<S>): void {
  const usesClock = options.supportsClock ?? true

  describe(`ValueStore contract: ${options.name}`, () => {
    const setup = useStoreFixtures(options)

    /**
     * Makes an entry written with `ttl` (`REAL_TTL` in real time) and a
     * stale window expire: `extra` ms past its expiry on the fake clock, or
     * until it reads as stale in real time.
     */
    async function expire(fixture: StoreFixture<S>, namespace: string, key: string, ttl: number, extra: number): Promise<void> {
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

    describe('readEntry() and writeEntry()', () => {
      it("writeEntry() answers 'ok' and readEntry() returns the same bytes with stale: false", async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(300, 1)
        expect(await store.writeEntry(ns, 'key', bytes, 0, 5)).toBe('ok')
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, bytes)
        expect(entry?.flags).toBe(5)
        expect(entry?.stale).toBe(false)
      })

      it('readEntry() returns a private copy of the bytes', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(16, 3)
        expect(await store.writeEntry(ns, 'key', bytes, 0, 0)).toBe('ok')
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
        expect(await store.writeEntry(ns, 'key', bytes, 0, 0)).toBe('ok')
        bytes.fill(0xee)
        expectBytes(await store.readEntry(ns, 'key'), expected)
      })

      it('writeEntry() stores only the bytes of a view (byteOffset and byteLength)', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const backing = pattern(64, 11)
        const view = backing.subarray(10, 30)
        expect(await store.writeEntry(ns, 'key', view, 0, 0)).toBe('ok')
        expectBytes(await store.readEntry(ns, 'key'), backing.slice(10, 30))
      })

      it('writeEntry() stores an empty byte array', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'empty', new Uint8Array(0), 0, 2)).toBe('ok')
        const entry = await store.readEntry(ns, 'empty')
        expectBytes(entry, new Uint8Array(0))
        expect(entry?.flags).toBe(2)
        expect(entry?.stale).toBe(false)
      })

      it('writeEntry() stores a 100 KiB value intact', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const bytes = pattern(100 * 1024, 13)
        expect(await store.writeEntry(ns, 'big', bytes, 0, 0)).toBe('ok')
        expectBytes(await store.readEntry(ns, 'big'), bytes)
      })

      it('writeEntry() with noEvict stores the entry when there is room, keeping the entries written before', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        for (let i = 0; i < 4; i++) expect(await store.writeEntry(ns, `key${i}`, pattern(100, i), 0, i)).toBe('ok')
        expect(await store.writeEntry(ns, 'bulk', pattern(100, 7), 0, 7, { noEvict: true })).toBe('ok')
        expectBytes(await store.readEntry(ns, 'bulk'), pattern(100, 7))
        for (let i = 0; i < 4; i++) expectBytes(await store.readEntry(ns, `key${i}`), pattern(100, i))
      })

      it('readEntry() returns the uint32 flags written, from 0 to 0xffffffff', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const flags = [0, 1, 0x101, 0x7fffffff, 0x80000000, 0xffffffff]
        for (const [i, flag] of flags.entries()) {
          expect(await store.writeEntry(ns, `key${i}`, pattern(4, i), 0, flag)).toBe('ok')
        }
        for (const [i, flag] of flags.entries()) {
          expect((await store.readEntry(ns, `key${i}`))?.flags).toBe(flag)
        }
      })

      it('readEntry() returns undefined for a missing key', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.readEntry(ns, 'missing')).toBeUndefined()
        expect(await store.writeEntry(ns, 'present', pattern(4), 0, 0)).toBe('ok')
        expect(await store.readEntry(ns, 'missing')).toBeUndefined()
        expect(await store.readEntry(ns, 'present2')).toBeUndefined()
        expect(await store.readEntry(ns, 'presen')).toBeUndefined()
      })

      it('writeEntry() over an existing key replaces its bytes, flags and ttl', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        const ttl = usesClock ? 10_000 : LONG_TTL
        // Different length, finite TTL over "never".
        expect(await store.writeEntry(ns, 'key', pattern(10, 1), 0, 1)).toBe('ok')
        expect(await store.writeEntry(ns, 'key', pattern(25, 2), ttl, 2)).toBe('ok')
        let entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(25, 2))
        expect(entry?.flags).toBe(2)
        if (usesClock) expect(entry?.ttl).toBe(ttl)
        else expect(entry?.ttl).toBeGreaterThan(0)
        expect(entry?.stale).toBe(false)
        // Same length, "never" over a finite TTL.
        expect(await store.writeEntry(ns, 'key', pattern(25, 3), 0, 0)).toBe('ok')
        entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(25, 3))
        expect(entry?.flags).toBe(0)
        expect(entry?.ttl).toBe(0)
        expect(entry?.stale).toBe(false)
        // Shorter, flags back on.
        expect(await store.writeEntry(ns, 'key', pattern(3, 4), 0, 0xffffffff)).toBe('ok')
        entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(3, 4))
        expect(entry?.flags).toBe(0xffffffff)
      })

      it('writeEntry() over a stale entry stores a fresh entry', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'key', pattern(8, 1), ttl, 1, STALE)).toBe('ok')
        await expire(fixture, ns, 'key', ttl, 1)
        expect((await store.readEntry(ns, 'key'))?.stale).toBe(true)
        expect(await store.writeEntry(ns, 'key', pattern(8, 2), 0, 2)).toBe('ok')
        const entry = await store.readEntry(ns, 'key')
        expectBytes(entry, pattern(8, 2))
        expect(entry?.flags).toBe(2)
        expect(entry?.ttl).toBe(0)
        expect(entry?.stale).toBe(false)
      })
    })

    describe('TTLs and stale windows', () => {
      it('readEntry() returns ttl 0 for an entry that never expires', async () => {
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe('ok')
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
        expect(await store.writeEntry(ns, 'key', pattern(8), ttl, 0)).toBe('ok')
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

      it('an expired entry written with staleTtl is readable with stale: true and ttl <= 0 within that window', async () => {
        const fixture = await setup()
        const { store, advance, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        const staleTtl = 10_000
        const bytes = pattern(40, 5)
        expect(await store.writeEntry(ns, 'key', bytes, ttl, 7, { staleTtl })).toBe('ok')
        // Fresh, the window does not show: the ttl is the entry's own.
        const fresh = await store.readEntry(ns, 'key')
        expect(fresh?.stale).toBe(false)
        if (usesClock) expect(fresh?.ttl).toBe(ttl)
        else expect(fresh?.ttl).toBeLessThanOrEqual(ttl)
        await expire(fixture, ns, 'key', ttl, 250)
        for (let read = 0; read < 2; read++) {
          // A stale read does not make the entry fresh again.
          const entry = await store.readEntry(ns, 'key')
          expect(entry?.stale).toBe(true)
          // Its own TTL expired it, not a purge: stale-while-revalidate may serve it.
          expect(entry?.purged).not.toBe(true)
          expect(entry?.ttl).toBeLessThanOrEqual(0)
          if (usesClock) expect(entry?.ttl).toBe(-250)
          expectBytes(entry, bytes)
          expect(entry?.flags).toBe(7)
        }
        if (usesClock) {
          // Still there at the end of the window.
          advance(staleTtl - 251)
          const late = await store.readEntry(ns, 'key')
          expect(late?.stale).toBe(true)
          expect(late?.ttl).toBe(-(staleTtl - 1))
          expectBytes(late, bytes)
        }
      })

      it('an expired entry written with staleTtl stays readable as stale while other keys are read and written', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        const bytes = pattern(24, 9)
        expect(await store.writeEntry(ns, 'kept', bytes, ttl, 1, { staleTtl: 60_000 })).toBe('ok')
        await expire(fixture, ns, 'kept', ttl, 10)
        // Ordinary traffic, far from filling the store, must not reclaim it within its window.
        for (let i = 0; i < 20; i++) {
          expect(await store.writeEntry(ns, `other${i}`, pattern(24, i), 0, 0)).toBe('ok')
          await store.readEntry(ns, `other${i}`)
        }
        const entry = await store.readEntry(ns, 'kept')
        expect(entry?.stale).toBe(true)
        expectBytes(entry, bytes)
      })

      it('an expired entry written without staleTtl reads as stale or absent, never fresh', async () => {
        const { store, advance, prefix } = await setup()
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        const bytes = pattern(12, 6)
        expect(await store.writeEntry(ns, 'key', bytes, ttl, 3)).toBe('ok')
        expect(await store.writeEntry(ns, 'zero', bytes, ttl, 3, { staleTtl: 0 })).toBe('ok')
        const check = async (): Promise<void> => {
          for (const key of ['key', 'zero']) {
            const entry = await store.readEntry(ns, key)
            if (entry === undefined) continue
            expect(entry.stale).toBe(true)
            expect(entry.ttl).toBeLessThanOrEqual(0)
            expectBytes(entry, bytes)
            expect(entry.flags).toBe(3)
          }
        }
        if (usesClock) {
          advance(ttl + 1)
          await check()
          advance(LONG_TTL)
          await check()
        } else {
          await vi.waitFor(check, { timeout: REAL_WAIT, interval: 5 })
        }
      })
    })

    describe('readEntries()', () => {
      /** Asserts that the store's `readEntries` is a method or absent, and answers it (bound) if present. */
      function readEntriesOf(store: S): ((namespace: string, keys: readonly string[]) => Promise<(L2Entry | undefined)[]>) | undefined {
        const method = store.readEntries
        expect(method === undefined || typeof method === 'function').toBe(true)
        if (method === undefined) return undefined
        return async (namespace, keys) => await method.call(store, namespace, keys)
      }

      it('readEntries() answers one result per key, in order, as readEntry() does (fresh, stale, missing)', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const readEntries = readEntriesOf(store)
        if (readEntries === undefined) return
        const ns = `${prefix}cache`
        const other = `${prefix}other`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'fresh', pattern(9, 2), 0, 2)).toBe('ok')
        expect(await store.writeEntry(ns, 'timed', pattern(3, 3), LONG_TTL, 3)).toBe('ok')
        expect(await store.writeEntry(other, 'only-there', pattern(5, 4), 0, 4)).toBe('ok')
        expect(await store.writeEntry(ns, 'stale', pattern(7, 1), ttl, 1, STALE)).toBe('ok')
        await expire(fixture, ns, 'stale', ttl, 30)
        const keys = ['missing', 'fresh', 'stale', 'only-there', 'fresh', 'timed', 'fres']
        const entries = await readEntries(ns, keys)
        expect(Array.isArray(entries)).toBe(true)
        expect(entries).toHaveLength(keys.length)
        for (const [i, key] of keys.entries()) {
          expectSameEntry(entries[i], await store.readEntry(ns, key), usesClock)
        }
        expect(entries[0]).toBeUndefined()
        expect(entries[2]?.stale).toBe(true)
        expect(entries[3]).toBeUndefined()
        // Private copies, one per result.
        entries[1]?.value.fill(0xee)
        expectBytes(entries[4], pattern(9, 2))
        expectBytes(await store.readEntry(ns, 'fresh'), pattern(9, 2))
      })

      it('readEntries() of no keys answers an empty array', async () => {
        const { store, prefix } = await setup()
        const readEntries = readEntriesOf(store)
        if (readEntries === undefined) return
        expect(await readEntries(`${prefix}cache`, [])).toEqual([])
      })
    })

    describe('readEntryInto()', () => {
      it('readEntryInto(), when the store has it, fills the view as readEntry() answers (fresh, stale, missing, purged)', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const readEntryInto = store.readEntryInto
        expect(readEntryInto === undefined || typeof readEntryInto === 'function').toBe(true)
        if (readEntryInto === undefined) return
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'fresh', pattern(9, 2), 0, 2)).toBe('ok')
        expect(await store.writeEntry(ns, 'timed', pattern(3, 3), LONG_TTL, 3)).toBe('ok')
        expect(await store.writeEntry(ns, 'empty', new Uint8Array(0), 0, 0)).toBe('ok')
        expect(await store.writeEntry(ns, 'stale', pattern(7, 1), ttl, 1, STALE)).toBe('ok')
        await expire(fixture, ns, 'stale', ttl, 30)
        const view: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }
        /** What the view says, its bytes copied before the next read can overwrite them. */
        const lent = (key: string): L2Entry | undefined => {
          if (!readEntryInto.call(store, ns, key, view)) return undefined
          const entry = { value: Uint8Array.from(view.bytes.subarray(view.start, view.end)), flags: view.flags, ttl: view.ttl, stale: view.stale }
          return view.purged ? { ...entry, purged: true } : entry
        }
        for (const key of ['missing', 'fresh', 'timed', 'empty', 'stale', 'fres']) {
          const read = lent(key)
          const expected = await store.readEntry(ns, key)
          expectSameEntry(read, expected, usesClock)
          expect(read?.purged === true).toBe(expected?.purged === true)
        }
        await store.purgeNamespace(ns, false)
        const purged = lent('fresh')
        expectSameEntry(purged, await store.readEntry(ns, 'fresh'), usesClock)
        expect(purged?.purged === true).toBe((await store.readEntry(ns, 'fresh'))?.purged === true)
      })
    })

    describe('deleteEntry()', () => {
      it('deleteEntry() removes an entry', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe('ok')
        expect(await store.writeEntry(ns, 'other', pattern(8, 1), 0, 0)).toBe('ok')
        await store.deleteEntry(ns, 'key')
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
        expectBytes(await store.readEntry(ns, 'other'), pattern(8, 1))
      })

      it('deleteEntry() of a missing key is not an error', async () => {
        const { store, prefix } = await setup()
        const ns = `${prefix}cache`
        await expect(Promise.resolve().then(() => store.deleteEntry(ns, 'missing'))).resolves.toBeUndefined()
        expect(await store.writeEntry(ns, 'key', pattern(8), 0, 0)).toBe('ok')
        await store.deleteEntry(ns, 'key')
        await expect(Promise.resolve().then(() => store.deleteEntry(ns, 'key'))).resolves.toBeUndefined()
        expect(await store.readEntry(ns, 'key')).toBeUndefined()
      })

      it('deleteEntry() removes a stale entry', async () => {
        const fixture = await setup()
        const { store, prefix } = fixture
        const ns = `${prefix}cache`
        const ttl = usesClock ? 1_000 : REAL_TTL
        expect(await store.writeEntry(ns, 'key', pattern(8), ttl, 0, STALE)).toBe('ok')
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
        expect(await store.writeEntry(ab, 'c', pattern(8, 1), 0, 1)).toBe('ok')
        expect(await store.readEntry(a, 'bc')).toBeUndefined()
        expect(await store.writeEntry(a, 'bc', pattern(8, 2), 0, 2)).toBe('ok')
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
        expect(await store.writeEntry(one, 'key', pattern(8, 1), 0, 1)).toBe('ok')
        expect(await store.readEntry(two, 'key')).toBeUndefined()
        expect(await store.writeEntry(two, 'key', pattern(12, 2), 0, 2)).toBe('ok')
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
        expect(await store.writeEntry(ns, keyA, pattern(8, 1), 0, 1)).toBe('ok')
        expect(await store.writeEntry(ns, keyB, pattern(8, 2), 0, 2)).toBe('ok')
        expect(await store.writeEntry(ns, multibyte, pattern(8, 3), 0, 3)).toBe('ok')
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
          expect(await store.writeEntry(target, `key${i}`, pattern(10, i), i % 2 === 0 ? 0 : 10_000, i, STALE)).toBe('ok')
        }
        for (const [i, ns] of others.entries()) {
          expect(await store.writeEntry(ns, 'key0', pattern(10, 100 + i), otherTtl, 100 + i)).toBe('ok')
        }
        await store.purgeNamespace(target, false)
        for (let i = 0; i < 5; i++) {
          const entry = await store.readEntry(target, `key${i}`)
          if (entry !== undefined) {
            // Still visible to a stale read, as after flush_all: the same entry, expired, and (when the store
            // can tell) marked as purged, so that stale-while-revalidate never serves it.
            expect(entry.stale).toBe(true)
            if (entry.purged !== undefined) expect(entry.purged).toBe(true)
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
          expect(await store.writeEntry(target, `key${i}`, pattern(10, i), i % 2 === 0 ? 0 : 10_000, i, STALE)).toBe('ok')
        }
        for (const [i, ns] of others.entries()) {
          expect(await store.writeEntry(ns, 'key0', pattern(10, 100 + i), 0, 100 + i)).toBe('ok')
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
          expect(await store.writeEntry(ns, 'key', pattern(8, 1), 0, 1, STALE)).toBe('ok')
          await store.purgeNamespace(ns, flushExpired)
          expect(await store.writeEntry(ns, 'key', pattern(8, 2), 0, 2)).toBe('ok')
          expect(await store.writeEntry(ns, 'new', pattern(8, 3), 0, 3)).toBe('ok')
          const entry = await store.readEntry(ns, 'key')
          expectBytes(entry, pattern(8, 2))
          expect(entry?.flags).toBe(2)
          expect(entry?.stale).toBe(false)
          expect(entry?.purged).not.toBe(true)
          expect(entry?.ttl).toBe(0)
          expect((await store.readEntry(ns, 'new'))?.stale).toBe(false)
        }
      })
    })

    // Only for a store that keeps a copy of its own (it has forget()); what the copy holds after a
    // forget depends on what is behind it, so this checks only what every such store must do.
    describe('copyId and forget()', () => {
      it('copyId is a non-empty string that stays the same, on a store with forget()', async () => {
        const { store } = await setup()
        if (store.forget === undefined) return
        expect(typeof store.copyId).toBe('string')
        expect(store.copyId).not.toBe('')
        expect(store.copyId).toBe(store.copyId)
      })

      it('forget() of a missing key or an empty namespace resolves and leaves other namespaces as they were', async () => {
        const { store, prefix } = await setup()
        const forget = store.forget?.bind(store)
        if (forget === undefined) return
        const other = `${prefix}other`
        expect(await store.writeEntry(other, 'key', pattern(8, 7), 0, 7)).toBe('ok')
        await expect(Promise.resolve().then(() => forget(`${prefix}cache`, 'missing'))).resolves.toBeUndefined()
        await expect(Promise.resolve().then(() => forget(`${prefix}empty`))).resolves.toBeUndefined()
        const entry = await store.readEntry(other, 'key')
        expectBytes(entry, pattern(8, 7))
        expect(entry?.stale).toBe(false)
      })
    })
  })
}
