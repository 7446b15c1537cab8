/**
 * What the store contract suites share: the context and options every
 * suite takes, the per-test fixture (a fresh store, a fake clock and a
 * namespace prefix of its own), timing constants and assertion helpers.
 */
import { afterEach, expect } from 'vitest'
import type { L2Entry, LockStore } from '../l2/l2-store.js'

/** What a contract suite gives a store factory. */
export interface StoreContractContext {
  /**
   * A fake clock (absolute milliseconds, starting far from 0) that the store
   * should use for every TTL. It only moves when the suite calls
   * {@link StoreContractContext.advance}. Loader-lock leases must ignore it:
   * they run on real time.
   */
  clock: () => number
  /** Moves {@link StoreContractContext.clock} forward by `ms` milliseconds. */
  advance(ms: number): void
}

/** The options every store contract suite takes. */
export interface StoreContractOptions<S> {
  /** The store's name, shown in the suite's title. */
  name: string
  /**
   * Creates the store under test; called once at the start of every test.
   * Each test uses namespaces of its own, so stores created by different
   * tests may share their backing storage (one Redis database, say).
   */
  create(context: StoreContractContext): S | Promise<S>
  /** Releases a store made by `create` (closes connections...); runs after each test. */
  cleanup?(store: S): void | Promise<void>
}

/** One test's store, the way to move its fake clock, and a prefix for its namespaces. */
export interface StoreFixture<S> {
  readonly store: S
  readonly advance: (ms: number) => void
  readonly prefix: string
}

/** Where the fake clock starts: a plausible wall-clock instant, far from 0 ("never"). */
export const CLOCK_START = 1_700_000_000_000
/** The TTL or lease the real-time variants wait for (ms). */
export const REAL_TTL = 100
/** How long a real-time variant waits for an expiry before failing (ms). */
export const REAL_WAIT = 2_000
/** A short real lease that the lease tests wait out (ms). */
export const SHORT_LEASE = 50
/** A lease no test outlives. */
export const LONG_LEASE = 60_000
/** A TTL no test outlives. */
export const LONG_TTL = 60_000
/**
 * How long a test waits for a promise that should settle at once (a woken
 * waiter, a 30 ms timeout) before calling it stuck. It bounds a failure
 * only: nothing asserts how fast anything is.
 */
export const STUCK_AFTER = 5_000

let runCounter = 0

/**
 * Registers, in the enclosing `describe`, the cleanup of every store made
 * during a test, and answers the function that makes a test's fixture.
 */
export function useStoreFixtures<S>(options: StoreContractOptions<S>): () => Promise<StoreFixture<S>> {
  const { create, cleanup } = options
  const created: S[] = []
  afterEach(async () => {
    const stores = created.splice(0)
    if (cleanup !== undefined) {
      for (const store of stores) await cleanup(store)
    }
  })
  return async () => {
    let now = CLOCK_START
    const context: StoreContractContext = {
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
}

/** Bytes `[seed, seed + 7, ...]` modulo 256, `length` long. */
export function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (seed + i * 7) & 0xff
  return bytes
}

/** Asserts that `entry` is present and that its bytes are exactly `expected`. */
export function expectBytes(entry: L2Entry | undefined, expected: Uint8Array): void {
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

/**
 * Asserts that `entry` is the same entry as `before` (both absent, or the
 * same bytes, flags and staleness; the TTL too when `exactTtl`).
 */
export function expectSameEntry(entry: L2Entry | undefined, before: L2Entry | undefined, exactTtl: boolean): void {
  if (before === undefined) {
    expect(entry).toBeUndefined()
    return
  }
  expectBytes(entry, before.value)
  expect(entry?.flags).toBe(before.flags)
  expect(entry?.stale).toBe(before.stale)
  if (exactTtl) expect(entry?.ttl).toBe(before.ttl)
}

/**
 * Races `promise` against a {@link STUCK_AFTER} timer (cleared afterwards):
 * `'settled'` when the promise resolved first, `'stuck'` otherwise. A
 * rejection propagates, failing the test.
 */
export async function settles(promise: Promise<unknown>): Promise<'settled' | 'stuck'> {
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
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Resolves once at least `ms` real milliseconds have passed since
 * `performance.now()` was `since` (a timer may fire a little early).
 */
export async function sleepPast(since: number, ms: number): Promise<void> {
  for (let left = since + ms - performance.now(); left >= 0; left = since + ms - performance.now()) {
    await sleep(Math.ceil(left) + 1)
  }
}

/** Takes a lock that must be free, asserting the answer. */
export async function acquire(store: LockStore, namespace: string, key: string, token: string, lease = LONG_LEASE): Promise<void> {
  expect(await store.tryLock(namespace, key, token, lease)).toBe('acquired')
}

/** Asserts that someone holds the lock (tries it with a fresh token, which must not get it). */
export async function expectHeld(store: LockStore, namespace: string, key: string): Promise<void> {
  expect(await store.tryLock(namespace, key, 'intruder', LONG_LEASE)).toBe('held')
}
