/**
 * The types a user touches, checked at compile time with `expectTypeOf`
 * (`npm test` type-checks this file before running it) and, so that no test
 * is empty, with a runtime assertion each.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type BulkOptions,
  type BulkResult,
  type HitLevel,
  type L2Store,
  type L2WriteOptions,
  type Loader,
  type LockStore,
  MLCache,
  type Peek,
  type PeekOptions,
  type PurgeOptions,
  SharedDict,
  type StatsOptions,
  type ValueStore,
} from '../../src/index.js'
import { cacheStore, fakeClock, testDict } from '../helpers/cache-factory.js'

interface User {
  id: number
  name: string
}

const ada: User = { id: 1, name: 'ada' }

/** A cache of users on a test dict (through the factory, so the async run covers it too). */
function users<L1 = User>(options: { l1Serializer?: (user: User) => L1 } = {}): MLCache<User, L1> {
  const clock = fakeClock()
  return new MLCache<User, L1>('users', { store: cacheStore(testDict(clock)), clock: clock.now, ...options })
}

describe('types', () => {
  it('new MLCache<User>() get() answers Promise<User | undefined>', async () => {
    const cache = users()
    const got = cache.get('1', () => ada)
    expectTypeOf(got).toEqualTypeOf<Promise<User | undefined>>()
    expectTypeOf(cache.lookup('1')).resolves.toHaveProperty('value').toEqualTypeOf<User | undefined>()
    expectTypeOf(cache.lookup('1')).resolves.toHaveProperty('hitLevel').toEqualTypeOf<HitLevel>()
    // A loader must produce the cache's value type (or "not found").
    expectTypeOf(cache.get).parameter(1).toEqualTypeOf<Loader<User> | undefined>()
    expectTypeOf<ReturnType<Loader<User>>>().toEqualTypeOf<User | null | undefined | Promise<User | null | undefined>>()
    const wrongLoader = () =>
      // @ts-expect-error a loader of numbers does not fit a cache of users
      cache.get('2', () => 42)
    expectTypeOf(wrongLoader).returns.toEqualTypeOf<Promise<User | undefined>>()
    expect(await got).toBe(ada)
    await cache.close()
  })

  it('new MLCache<User, string>() with l1Serializer answers strings from get() while peek() answers the raw Peek<User>', async () => {
    const cache = new MLCache<User, string>('c', { l1Serializer: (u) => u.name, store: cacheStore(testDict(fakeClock())) })
    expectTypeOf(cache.get('1')).toEqualTypeOf<Promise<string | undefined>>()
    expectTypeOf(cache.lookup('1')).resolves.toHaveProperty('value').toEqualTypeOf<string | undefined>()
    expectTypeOf(cache.peek('1')).toEqualTypeOf<Promise<Peek<User> | undefined>>()
    expectTypeOf<Peek<User>['value']>().toEqualTypeOf<User | undefined>()
    // The serializer receives the value type, and set() takes values, not L1 forms.
    expectTypeOf<Parameters<typeof cache.set>[1]>().toEqualTypeOf<User | null | undefined>()
    expect(await cache.get('1', () => ada)).toBe('ada')
    expect(await cache.peek('1')).toMatchObject({ value: ada, stale: false })
    await cache.close()
  })

  it('users() infers the L1 type from the l1Serializer', async () => {
    const cache = users({ l1Serializer: (user) => user.id })
    expectTypeOf(cache).toEqualTypeOf<MLCache<User, number>>()
    expectTypeOf(cache.get('1')).toEqualTypeOf<Promise<number | undefined>>()
    expect(await cache.get('1', () => ada)).toBe(1)
    await cache.close()
  })

  it('BulkResult narrows on error: a failure has value undefined and no hitLevel, a success has a hitLevel', async () => {
    const cache = users()
    const results = await cache.getBulk([
      { key: '1', loader: () => ada },
      {
        key: '2',
        loader: () => {
          throw new Error('nope')
        },
      },
    ])
    expectTypeOf(results).toEqualTypeOf<BulkResult<User>[]>()
    const seen: string[] = []
    for (const result of results) {
      if (result.error !== undefined) {
        expectTypeOf(result.error).toEqualTypeOf<Error>()
        expectTypeOf(result.value).toEqualTypeOf<undefined>()
        expectTypeOf(result.hitLevel).toEqualTypeOf<undefined>()
        seen.push(`error ${result.error.name}`)
      } else {
        expectTypeOf(result.hitLevel).toEqualTypeOf<HitLevel>()
        expectTypeOf(result.value).toEqualTypeOf<User | undefined>()
        expectTypeOf(result.error).toEqualTypeOf<undefined>()
        seen.push(`hit ${result.hitLevel}`)
      }
    }
    // Narrowing on hitLevel works too.
    const [first] = results
    if (first !== undefined && first.hitLevel !== undefined) expectTypeOf(first.error).toEqualTypeOf<undefined>()
    expect(seen).toEqual(['hit 3', 'error LoaderError'])
    await cache.close()
  })

  it('the option and store types are importable from the package entry point', async () => {
    expectTypeOf<BulkOptions>().toEqualTypeOf<{ concurrency?: number | undefined }>()
    expectTypeOf<PeekOptions>().toEqualTypeOf<{ stale?: boolean | undefined }>()
    expectTypeOf<PurgeOptions>().toEqualTypeOf<{ flushExpired?: boolean | undefined }>()
    expectTypeOf<StatsOptions>().toEqualTypeOf<{ reset?: boolean | undefined }>()
    expectTypeOf<L2WriteOptions>().toHaveProperty('fence').toEqualTypeOf<string | undefined>()
    expectTypeOf<L2WriteOptions>().toHaveProperty('staleTtl').toEqualTypeOf<number | undefined>()
    expectTypeOf<L2Store>().toExtend<ValueStore>()
    expectTypeOf<L2Store>().toExtend<LockStore>()
    expectTypeOf<ValueStore>().not.toExtend<LockStore>()
    // A SharedDict is an L2Store, and what every store option accepts.
    expectTypeOf<SharedDict>().toExtend<L2Store>()
    const dict = testDict(fakeClock())
    const store: L2Store = dict
    const lockStore: LockStore = dict
    const writeOptions: L2WriteOptions = { staleTtl: 1_000 }
    expect(store.writeEntry('ns', 'k', Uint8Array.of(1), 0, 0, writeOptions)).toBe('ok')
    expect(lockStore.tryLock('ns', 'k', 'token', 1_000)).toBe('acquired')
    const bulk: BulkOptions = { concurrency: 2 }
    const peek: PeekOptions = { stale: true }
    const purge: PurgeOptions = { flushExpired: true }
    const stats: StatsOptions = { reset: true }
    const cache = users()
    expect(await cache.getBulk([], bulk)).toEqual([])
    expect(await cache.peek('1', peek)).toBeUndefined()
    await expect(cache.purge(purge)).resolves.toBeUndefined()
    expect(cache.stats(stats)).toMatchObject({ loads: 0 })
    await cache.close()
  })
})
