/**
 * TieredStore's own behaviour, beyond the contract: near answers its fresh
 * entries without a far call, far fills near with the remaining TTL, stale
 * far entries stay out of near, and every race of a copy into near (a
 * write, delete or forget landing between the far read and the near write)
 * ends with near not holding the older value. Races are forced by a far
 * whose answers are held until the test lets them through, the far call
 * itself having already run.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { L2Error } from '../../../src/errors.js'
import type { L2Entry, L2Store } from '../../../src/l2/l2-store.js'
import { RedisStore } from '../../../src/l2/redis/redis-store.js'
import { checkSharedDictInvariants } from '../../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../../src/l2/tiered/tiered-store.js'
import { expectBytes, pattern } from '../../../src/testing/store-contract-support.js'
import { failingStore } from '../../helpers/failing-store.js'
import { fakeClock } from '../../helpers/fake-clock.js'
import { redisServerInstalled, useRedisServer } from '../../helpers/redis-server.js'
import { wrapStore } from '../../helpers/wrap-store.js'

const NS = 'users'
const OLD = pattern(8, 1)
const NEW = pattern(8, 2)

/**
 * A far store whose chosen methods are late: their calls run at once but
 * answer only when the test calls `release()` (a slow reply), or, held
 * `'before'`, run only then (a slow request).
 */
interface LateFar extends L2Store {
  /** Holds the next calls of `method`, their answers (`'after'`, the default) or the calls themselves (`'before'`). */
  hold(method: 'readEntry' | 'writeEntry' | 'deleteEntry' | 'purgeNamespace', when?: 'before' | 'after'): void
  /** Resolves once the next call of a held method was made. */
  called(): Promise<void>
  /** Runs every held call and lets every held answer through, in call order. */
  release(): void
}

function lateFar(dict: SharedDict): LateFar {
  const holding = new Map<string, 'before' | 'after'>()
  const held: (() => void)[] = []
  let onCall: (() => void) | undefined
  const late = <T>(method: string, run: () => T): T | Promise<T> => {
    const when = holding.get(method)
    if (when === undefined) return run()
    const result = when === 'after' ? run() : undefined
    onCall?.()
    return new Promise<T>((resolve) => held.push(() => resolve(when === 'after' ? (result as T) : run())))
  }
  return {
    ...wrapStore(dict, {
      readEntry: (...args) => late('readEntry', () => dict.readEntry(...args)),
      writeEntry: (...args) => late('writeEntry', () => dict.writeEntry(...args)),
      deleteEntry: (...args) => late('deleteEntry', () => dict.deleteEntry(...args)),
      purgeNamespace: (...args) => late('purgeNamespace', () => dict.purgeNamespace(...args)),
    }),
    hold(method, when = 'after') {
      holding.set(method, when)
    },
    called() {
      return new Promise((resolve) => {
        onCall = resolve
      })
    },
    release() {
      holding.clear()
      for (const answer of held.splice(0)) answer()
    },
  }
}

/** A host: its near dict on a fake clock, and the stores of three threads over it and one far dict. */
function setup() {
  const clock = fakeClock()
  const near = SharedDict.create({ size: '1m', clock: clock.now })
  const farDict = SharedDict.create({ size: '1m', clock: clock.now })
  const late = lateFar(farDict)
  return {
    clock,
    near,
    farDict,
    late,
    store: new TieredStore({ near, far: late }),
    /** Another thread's store over the same near and far, its far calls never late. */
    other: new TieredStore({ near, far: farDict }),
    /** A third thread's, over the late far too. */
    third: new TieredStore({ near, far: late }),
  }
}

/** Asserts that near does not hold `stale` for the key (it lacks it, or holds another value). */
function expectNearNotHolding(near: SharedDict, key: string, stale: Uint8Array): void {
  const entry = near.readEntry(NS, key)
  if (entry !== undefined) expect(Buffer.from(entry.value).equals(Buffer.from(stale))).toBe(false)
}

describe('TieredStore', () => {
  describe('reads', () => {
    it('readEntry() answers a fresh near entry synchronously, without a far call', async () => {
      const { near, farDict } = setup()
      const far = failingStore(farDict, 'reject')
      const store = new TieredStore({ near, far })
      expect(await store.writeEntry(NS, 'k', OLD, 0, 3)).toBe('ok')
      far.resetCounts()
      const entry = store.readEntry(NS, 'k')
      expect(entry).not.toBeInstanceOf(Promise)
      expectBytes(entry as L2Entry, OLD)
      expect((entry as L2Entry).flags).toBe(3)
      expect(far.totalCalls()).toBe(0)
    })

    it('readEntry() copies a far hit into near with its remaining TTL', async () => {
      const { clock, near, farDict, store } = setup()
      farDict.writeEntry(NS, 'timed', OLD, 10_000, 7)
      farDict.writeEntry(NS, 'forever', NEW, 0, 8)
      clock.advance(2_500)
      expect(near.readEntry(NS, 'timed')).toBeUndefined()
      const read = await store.readEntry(NS, 'timed')
      expect(read?.ttl).toBe(7_500)
      const copy = near.readEntry(NS, 'timed')
      expectBytes(copy, OLD)
      expect(copy).toMatchObject({ ttl: 7_500, flags: 7, stale: false })
      await store.readEntry(NS, 'forever')
      expect(near.readEntry(NS, 'forever')).toMatchObject({ ttl: 0, flags: 8, stale: false })
      // The copy expires with the far entry.
      clock.advance(7_500)
      expect(near.readEntry(NS, 'timed')?.stale ?? true).toBe(true)
    })

    it('readEntry() answers a stale far entry without copying it into near', async () => {
      const { clock, near, farDict, store } = setup()
      farDict.writeEntry(NS, 'k', OLD, 1_000, 0, { staleTtl: 60_000 })
      clock.advance(1_500)
      const read = await store.readEntry(NS, 'k')
      expect(read?.stale).toBe(true)
      expectBytes(read, OLD)
      expect(near.readEntry(NS, 'k')).toBeUndefined()
    })

    it('readEntry() reads far when the near entry is stale, and answers far', async () => {
      const { near, farDict, store } = setup()
      near.writeEntry(NS, 'k', OLD, 0, 0)
      near.purgeNamespace(NS, false)
      farDict.writeEntry(NS, 'k', NEW, 0, 0)
      expectBytes(await store.readEntry(NS, 'k'), NEW)
      expectBytes(near.readEntry(NS, 'k'), NEW)
      // Far without the key: the stale near entry is not answered.
      near.writeEntry(NS, 'gone', OLD, 0, 0)
      near.purgeNamespace(NS, false)
      expect(await store.readEntry(NS, 'gone')).toBeUndefined()
    })

    it('readEntries() answers near hits from near and reads the misses from far in one call, copying fresh ones', async () => {
      const { near, farDict } = setup()
      const far = failingStore(farDict, 'reject')
      const store = new TieredStore({ near, far })
      expect(await store.writeEntry(NS, 'near', OLD, 0, 1)).toBe('ok')
      farDict.writeEntry(NS, 'far', NEW, 0, 2)
      far.resetCounts()
      const entries = await store.readEntries(NS, ['near', 'far', 'missing', 'far'])
      expectBytes(entries[0], OLD)
      expectBytes(entries[1], NEW)
      expect(entries[2]).toBeUndefined()
      expectBytes(entries[3], NEW)
      expect(far.calls.readEntries).toBe(1)
      expect(far.calls.readEntry).toBe(0)
      expect(far.log.find((call) => call.method === 'readEntries')?.args[1]).toEqual(['far', 'missing'])
      expectBytes(near.readEntry(NS, 'far'), NEW)
    })
  })

  describe('writes, deletes and purges', () => {
    it('writeEntry() stores in far and near', async () => {
      const { near, farDict, store } = setup()
      expect(await store.writeEntry(NS, 'k', OLD, 5_000, 4, { staleTtl: 1_000 })).toBe('ok')
      expect(farDict.readEntry(NS, 'k')).toMatchObject({ ttl: 5_000, flags: 4 })
      expect(near.readEntry(NS, 'k')).toMatchObject({ ttl: 5_000, flags: 4 })
    })

    it("writeEntry() answers far's 'fenced' and deletes the near copy", async () => {
      const { near, farDict, store } = setup()
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      farDict.writeEntry(NS, 'k', NEW, 0, 0)
      expect(await store.writeEntry(NS, 'k', pattern(8, 3), 0, 0, { fence: 'nobody' })).toBe('fenced')
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      expectBytes(await store.readEntry(NS, 'k'), NEW)
    })

    it('writeEntry() with a fence lands in far and near while the far lock holds it', async () => {
      const { near, farDict, store } = setup()
      expect(await store.tryLock(NS, 'k', 'load', 60_000)).toBe('acquired')
      expect(near.tryLock(NS, 'k', 'probe', 60_000)).toBe('acquired')
      near.unlock(NS, 'k', 'probe')
      expect(await store.writeEntry(NS, 'k', NEW, 0, 0, { fence: 'load' })).toBe('ok')
      expectBytes(farDict.readEntry(NS, 'k'), NEW)
      expectBytes(near.readEntry(NS, 'k'), NEW)
      // The loader lock is far's: near's lock slot stays free for copies.
      expect(farDict.tryLock(NS, 'k', 'intruder', 60_000)).toBe('held')
      expect(near.tryLock(NS, 'k', 'probe', 60_000)).toBe('acquired')
    })

    it('writeEntry() of a value near has no room for answers far\'s result, and near lacks the key', async () => {
      const near = SharedDict.create({ size: 8 * 1024 })
      const farDict = SharedDict.create({ size: '1m' })
      const store = new TieredStore({ near, far: farDict })
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      const big = pattern(16 * 1024, 5)
      expect(await store.writeEntry(NS, 'k', big, 0, 0)).toBe('ok')
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      expectBytes(await store.readEntry(NS, 'k'), big)
      checkSharedDictInvariants(near)
    })

    it('deleteEntry() drops the entry from far and near', async () => {
      const { near, farDict, store } = setup()
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      await store.deleteEntry(NS, 'k')
      expect(farDict.readEntry(NS, 'k')).toBeUndefined()
      expect(near.readEntry(NS, 'k')).toBeUndefined()
    })

    it('purgeNamespace() purges far and near', async () => {
      const { near, farDict, store } = setup()
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      await store.purgeNamespace(NS, true)
      expect(farDict.readEntry(NS, 'k')).toBeUndefined()
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      expect(await store.writeEntry(NS, 'j', OLD, 0, 0)).toBe('ok')
      await store.purgeNamespace(NS, false)
      expect(farDict.readEntry(NS, 'j')?.stale).toBe(true)
      expect(near.readEntry(NS, 'j')?.stale).toBe(true)
    })

    it('forget() drops the near copy only, and copyId is near\'s', async () => {
      const { near, farDict, store } = setup()
      expect(store.copyId).toBe(near.copyId)
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      expect(await store.writeEntry(NS, 'j', OLD, 0, 0)).toBe('ok')
      await store.forget(NS, 'k')
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      expectBytes(farDict.readEntry(NS, 'k'), OLD)
      await store.forget(NS)
      expect(near.readEntry(NS, 'j')?.stale).toBe(true)
      expect(farDict.readEntry(NS, 'j')?.stale).toBe(false)
    })
  })

  describe('races of a copy into near', () => {
    it('a copy raced by a write from another thread of the host leaves near without the old value', async () => {
      const { near, farDict, late, store, other } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      const called = late.called()
      const read = store.readEntry(NS, 'k')
      await called
      expect(await other.writeEntry(NS, 'k', NEW, 0, 0)).toBe('ok')
      late.release()
      expectBytes(await read, OLD)
      expectNearNotHolding(near, 'k', OLD)
      expectBytes(await store.readEntry(NS, 'k'), NEW)
    })

    it('a copy raced by a delete from another thread of the host leaves near without the old value', async () => {
      const { near, farDict, late, store, other } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      const called = late.called()
      const read = store.readEntry(NS, 'k')
      await called
      await other.deleteEntry(NS, 'k')
      late.release()
      expectBytes(await read, OLD)
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      expect(await store.readEntry(NS, 'k')).toBeUndefined()
    })

    it("a copy raced by another host's write and invalidation (forget) leaves near without the old value", async () => {
      const { near, farDict, late, store } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      const called = late.called()
      const read = store.readEntry(NS, 'k')
      await called
      // Another host wrote far; its invalidation overtook our read's reply.
      farDict.writeEntry(NS, 'k', NEW, 0, 0)
      await store.forget(NS, 'k')
      late.release()
      expectBytes(await read, OLD)
      expectNearNotHolding(near, 'k', OLD)
      expectBytes(await store.readEntry(NS, 'k'), NEW)
    })

    it("a copy raced by another host's purge (forget of the namespace) leaves near without a fresh old value", async () => {
      const { near, farDict, late, store } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      const called = late.called()
      const read = store.readEntry(NS, 'k')
      await called
      farDict.purgeNamespace(NS, false)
      await store.forget(NS)
      late.release()
      await read
      expect(near.readEntry(NS, 'k')?.stale ?? true).toBe(true)
      expect((await store.readEntry(NS, 'k'))?.stale).toBe(true)
    })

    it("a write raced by another host's write and invalidation (forget) leaves near without its value", async () => {
      const { near, farDict, late, store } = setup()
      late.hold('writeEntry')
      const called = late.called()
      const written = store.writeEntry(NS, 'k', OLD, 0, 0)
      await called
      farDict.writeEntry(NS, 'k', NEW, 0, 0)
      await store.forget(NS, 'k')
      late.release()
      expect(await written).toBe('ok')
      expectNearNotHolding(near, 'k', OLD)
      expectBytes(await store.readEntry(NS, 'k'), NEW)
    })

    it('a write raced by a copy of another thread of the host leaves near with the value far holds', async () => {
      const { near, farDict, late, store, other } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      const called = late.called()
      // The copy holds the near lock while its far read is in flight: the write cannot take it.
      const read = store.readEntry(NS, 'k')
      await called
      expect(await other.writeEntry(NS, 'k', NEW, 0, 0)).toBe('ok')
      expect(near.readEntry(NS, 'k')).toBeUndefined()
      late.release()
      await read
      expectNearNotHolding(near, 'k', OLD)
    })
    it('a read that finds the near lock held answers far without copying, so a write racing it leaves near without the old value', async () => {
      const { near, farDict, late, store, other, third } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('readEntry')
      let called = late.called()
      const first = store.readEntry(NS, 'k')
      await called
      called = late.called()
      // The near lock is the first read's: this one must not copy what it reads.
      const second = third.readEntry(NS, 'k')
      await called
      expect(await other.writeEntry(NS, 'k', NEW, 0, 0)).toBe('ok')
      late.release()
      expectBytes(await first, OLD)
      expectBytes(await second, OLD)
      expectNearNotHolding(near, 'k', OLD)
      expectBytes(await store.readEntry(NS, 'k'), NEW)
    })

    it('deleteEntry() deletes far before near, so a copy made while the far delete is in flight is dropped', async () => {
      const { near, farDict, late, store, other } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('deleteEntry', 'before')
      const called = late.called()
      const deleted = store.deleteEntry(NS, 'k')
      await called
      // Far still holds the old entry: another thread copies it into near meanwhile.
      expectBytes(await other.readEntry(NS, 'k'), OLD)
      late.release()
      await deleted
      expect(farDict.readEntry(NS, 'k')).toBeUndefined()
      expect(near.readEntry(NS, 'k')).toBeUndefined()
    })

    it('purgeNamespace() purges far before near, so a copy made while the far purge is in flight is purged', async () => {
      const { near, farDict, late, store, other } = setup()
      farDict.writeEntry(NS, 'k', OLD, 0, 0)
      late.hold('purgeNamespace', 'before')
      const called = late.called()
      const purged = store.purgeNamespace(NS, false)
      await called
      expectBytes(await other.readEntry(NS, 'k'), OLD)
      late.release()
      await purged
      expect(near.readEntry(NS, 'k')?.stale ?? true).toBe(true)
    })
  })

  describe('far failures', () => {
    it('a far failure rejects reads of what near lacks, while fresh near entries keep being answered', async () => {
      const { near, farDict } = setup()
      const far = failingStore(farDict, 'reject')
      const store = new TieredStore({ near, far })
      expect(await store.writeEntry(NS, 'cached', OLD, 0, 0)).toBe('ok')
      farDict.writeEntry(NS, 'far-only', NEW, 0, 0)
      far.fail()
      expectBytes(await store.readEntry(NS, 'cached'), OLD)
      await expect(Promise.resolve(store.readEntry(NS, 'far-only'))).rejects.toThrow('store down')
      await expect(store.writeEntry(NS, 'cached', NEW, 0, 0)).rejects.toThrow('store down')
      // Far may have taken the write: near dropped its copy rather than keep the old value.
      expect(near.readEntry(NS, 'cached')).toBeUndefined()
      far.recover()
      expectBytes(await store.readEntry(NS, 'far-only'), NEW)
      checkSharedDictInvariants(near)
    })

    it('deleteEntry() drops the near copy even when far fails, and rejects', async () => {
      const { near, farDict } = setup()
      const far = failingStore(farDict, 'reject')
      const store = new TieredStore({ near, far })
      expect(await store.writeEntry(NS, 'k', OLD, 0, 0)).toBe('ok')
      far.fail('deleteEntry')
      await expect(store.deleteEntry(NS, 'k')).rejects.toThrow('store down')
      expect(near.readEntry(NS, 'k')).toBeUndefined()
    })
  })

  describe('records', () => {
    it('records are kept in far: another host reads what one wrote, also when far keeps no records', async () => {
      const farDict = SharedDict.create({ size: '1m' })
      for (const far of [farDict, wrapStore(farDict)]) {
        const hostA = new TieredStore({ near: SharedDict.create({ size: '1m' }), far })
        const hostB = new TieredStore({ near: SharedDict.create({ size: '1m' }), far })
        const key = far === farDict ? 'record' : 'entry'
        expect(await hostB.readRecord(NS, key)).toBeUndefined()
        expect(await hostA.writeRecord(NS, key, '1')).toBe(true)
        expect(await hostB.readRecord(NS, key)).toBe('1')
        expect(await hostA.writeRecord(NS, key, '2')).toBe(true)
        expect(await hostB.readRecord(NS, key)).toBe('2')
      }
    })
  })

  describe('construction', () => {
    it('the constructor throws a TypeError for bad options', () => {
      const near = SharedDict.create({ size: '1m' })
      const far = SharedDict.create({ size: '1m' })
      const make = (options: unknown) => () => new TieredStore(options as never)
      expect(make(undefined)).toThrow(new TypeError('options must be an object'))
      expect(make({ near, far, size: 1 })).toThrow(new TypeError('options.size is not a known option'))
      expect(make({ far })).toThrow(new TypeError('options.near must be an L2Store (missing readEntry())'))
      expect(make({ near, far: { ...wrapStore(far), tryLock: 1 } })).toThrow(new TypeError('options.far must be an L2Store (missing tryLock())'))
      expect(make({ near, far: near })).toThrow(new TypeError('options.near and options.far must be two different stores'))
      expect(make({ near: wrapStore(near), far })).toThrow(TypeError)
      expect(make({ near: wrapStore(near), far })).toThrow('copyId')
    })

    it('bad arguments are TypeErrors, as from the stores underneath', async () => {
      const { store } = setup()
      expect(() => store.readEntry(NS, 1 as never)).toThrow(TypeError)
      await expect(store.writeEntry(NS, 'k', 'bytes' as never, 0, 0)).rejects.toThrow(TypeError)
      await expect(store.readEntries(NS, 'k' as never)).rejects.toThrow(TypeError)
    })
  })
})

describe.runIf(redisServerInstalled)('TieredStore over a real Redis', () => {
  const server = useRedisServer()
  const closing: RedisStore[] = []
  afterEach(async () => {
    server().resume()
    for (const store of closing.splice(0)) await store.close()
  })

  it('while Redis is down, near hits are answered and far reads reject with an L2Error', async () => {
    const far = new RedisStore({ url: server().url, prefix: 'tiered-outage:', commandTimeout: 200 })
    closing.push(far)
    const store = new TieredStore({ near: SharedDict.create({ size: '1m' }), far })
    expect(await store.writeEntry(NS, 'cached', OLD, 0, 0)).toBe('ok')
    expect(await far.writeEntry(NS, 'far-only', NEW, 0, 0)).toBe('ok')
    server().pause()
    expectBytes(await store.readEntry(NS, 'cached'), OLD)
    await expect(Promise.resolve(store.readEntry(NS, 'far-only'))).rejects.toBeInstanceOf(L2Error)
    server().resume()
  })
})
