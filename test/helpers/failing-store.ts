/**
 * An L2 store that fails on demand, as Redis does when it goes down: it
 * forwards every call to the store it wraps, counts and logs the calls, and
 * while a method is made to fail, answers each call of it with a fresh error
 * instead, thrown synchronously (`'throw'`) or as a rejected promise
 * (`'reject'`), without reaching the store underneath. It can also hold the
 * calls of chosen methods until the test lets them through, as a slow
 * network would.
 */
import type { L2Store } from '../../src/l2/l2-store.js'

/** The methods of an L2Store (`readEntries` included, which is optional). */
export const STORE_METHODS = [
  'readEntry',
  'readEntries',
  'writeEntry',
  'deleteEntry',
  'purgeNamespace',
  'tryLock',
  'extendLock',
  'unlock',
  'waitForUnlock',
] as const

export type StoreMethod = (typeof STORE_METHODS)[number]

/** How a failing method fails: a synchronous throw or a rejected promise. */
export type FailureMode = 'throw' | 'reject'

/** The error of one failed call. */
export class StoreDownError extends Error {
  constructor(readonly method: StoreMethod) {
    super(`store down (${method})`)
    this.name = 'StoreDownError'
  }
}

export interface FailingStore extends L2Store {
  /** Calls per method since the store was made or `resetCounts()` was called, failed ones included. */
  readonly calls: Record<StoreMethod, number>
  /** Failed calls per method, since the same moment. */
  readonly failures: Record<StoreMethod, number>
  /** Every call since the same moment, oldest first: the method and its arguments. */
  readonly log: { method: StoreMethod; args: unknown[] }[]
  /** Every error this store answered with, oldest first. */
  readonly errors: StoreDownError[]
  /** Makes `methods` fail from now on (every method when none is given). */
  fail(...methods: StoreMethod[]): void
  /** Makes every method work again. */
  recover(): void
  /** Holds the calls of `methods` from now on: they wait, without reaching the store, until {@link FailingStore.releaseHeld}. */
  hold(...methods: StoreMethod[]): void
  /** Stops holding, and lets every held call reach the store, in call order. Answers how many there were. */
  releaseHeld(): number
  /** Zeroes `calls` and `failures` and empties `log` and `errors`. */
  resetCounts(): void
  /** The sum of `calls` over every method. */
  totalCalls(): number
}

const zeroes = (): Record<StoreMethod, number> => Object.fromEntries(STORE_METHODS.map((method) => [method, 0])) as Record<StoreMethod, number>

/**
 * Wraps `store`; `readEntries` is offered only when `store` has it (and
 * `options.readEntries` is not `false`). `stats()` is forwarded when present.
 */
export function failingStore(store: L2Store, mode: FailureMode, options: { readEntries?: boolean } = {}): FailingStore {
  const failing = new Set<StoreMethod>()
  const calls = zeroes()
  const failures = zeroes()
  const errors: StoreDownError[] = []
  const log: { method: StoreMethod; args: unknown[] }[] = []
  const holding = new Set<StoreMethod>()
  const held: (() => void)[] = []
  const forward = <T>(method: StoreMethod, run: () => T, ...args: unknown[]): T => {
    calls[method]++
    log.push({ method, args })
    if (holding.has(method) && !failing.has(method)) {
      return new Promise((resolve, reject) => {
        held.push(() => {
          try {
            resolve(run())
          } catch (error) {
            reject(error)
          }
        })
      }) as T
    }
    if (!failing.has(method)) return run()
    failures[method]++
    const error = new StoreDownError(method)
    errors.push(error)
    if (mode === 'throw') throw error
    return Promise.reject(error) as T
  }
  const failingStore: FailingStore = {
    calls,
    failures,
    log,
    errors,
    fail(...methods) {
      for (const method of methods.length === 0 ? STORE_METHODS : methods) failing.add(method)
    },
    recover() {
      failing.clear()
    },
    hold(...methods) {
      for (const method of methods.length === 0 ? STORE_METHODS : methods) holding.add(method)
    },
    releaseHeld() {
      holding.clear()
      const released = held.splice(0)
      for (const run of released) run()
      return released.length
    },
    resetCounts() {
      for (const method of STORE_METHODS) {
        calls[method] = 0
        failures[method] = 0
      }
      log.length = 0
      errors.length = 0
    },
    totalCalls() {
      return STORE_METHODS.reduce((sum, method) => sum + calls[method], 0)
    },
    readEntry: (namespace, key) => forward('readEntry', () => store.readEntry(namespace, key), namespace, key),
    writeEntry: (namespace, key, value, ttl, flags, writeOptions) =>
      forward('writeEntry', () => (writeOptions === undefined ? store.writeEntry(namespace, key, value, ttl, flags) : store.writeEntry(namespace, key, value, ttl, flags, writeOptions)), namespace, key, value, ttl, flags, writeOptions),
    deleteEntry: (namespace, key) => forward('deleteEntry', () => store.deleteEntry(namespace, key), namespace, key),
    purgeNamespace: (namespace, flushExpired) => forward('purgeNamespace', () => store.purgeNamespace(namespace, flushExpired), namespace, flushExpired),
    tryLock: (namespace, key, token, lease) => forward('tryLock', () => store.tryLock(namespace, key, token, lease), namespace, key, token, lease),
    extendLock: (namespace, key, token, lease) => forward('extendLock', () => store.extendLock(namespace, key, token, lease), namespace, key, token, lease),
    unlock: (namespace, key, token) => forward('unlock', () => store.unlock(namespace, key, token), namespace, key, token),
    waitForUnlock: (namespace, key, timeout) => forward('waitForUnlock', () => store.waitForUnlock(namespace, key, timeout), namespace, key, timeout),
  }
  const readEntries = store.readEntries?.bind(store)
  if (readEntries !== undefined && options.readEntries !== false) {
    failingStore.readEntries = (namespace, keys) => forward('readEntries', () => readEntries(namespace, keys), namespace, [...keys])
  }
  const stats = (store as { stats?: () => unknown }).stats
  if (typeof stats === 'function') Object.assign(failingStore, { stats: () => stats.call(store) })
  return failingStore
}
