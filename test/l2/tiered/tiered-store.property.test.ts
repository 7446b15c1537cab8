/**
 * TieredStore under random interleavings (fast-check's scheduler): two
 * hosts, each with its near SharedDict, over one far store. Host A runs two
 * TieredStores over its near (two threads), host B one. Random reads,
 * bulk reads, writes (plain, and fenced as MLCache's loads write), deletes and
 * purges run concurrently; every near and far call is a step the
 * scheduler orders, the call running at one point and its answer arriving
 * at another, as over a network. A host's mutation is followed, at a time
 * the scheduler picks, by the other host's `forget` (the invalidation its
 * MLCache would deliver).
 *
 * After quiescence, every entry a near store would answer (fresh) is the
 * entry far holds: same bytes and flags, fresh. (A stale near entry is
 * never answered, far is read instead: after another host's flushing purge
 * near keeps such entries stale while far has dropped them.) No near lock
 * is left behind, and every dict passes its invariant check.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { L2Store } from '../../../src/l2/l2-store.js'
import { checkSharedDictInvariants } from '../../../src/l2/shared-dict/invariants.js'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { TieredStore } from '../../../src/l2/tiered/tiered-store.js'

const NS = 'users'
const KEYS = ['a', 'b'] as const

type Command =
  | { op: 'read'; by: number; key: string }
  | { op: 'readMany'; by: number }
  | { op: 'write'; by: number; key: string; ttl: number }
  | { op: 'load'; by: number; key: string }
  | { op: 'delete'; by: number; key: string }
  | { op: 'purge'; by: number; flushExpired: boolean }

/** Stores 0 and 1 are host A's threads, store 2 is host B. */
const by = fc.integer({ min: 0, max: 2 })
const key = fc.constantFrom(...KEYS)
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('read' as const), by, key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('readMany' as const), by }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('write' as const), by, key, ttl: fc.constantFrom(0, 60_000) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('load' as const), by, key }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), by, key }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('purge' as const), by, flushExpired: fc.boolean() }) },
)

/** `store` with every method a scheduled step: the call runs when the scheduler says, its answer arrives when it says again. */
function scheduled(s: fc.Scheduler, store: SharedDict): L2Store {
  const step =
    <A extends unknown[], R>(call: (...args: A) => R) =>
    (...args: A): Promise<Awaited<R>> =>
      s
        .schedule(Promise.resolve())
        .then(() => Promise.resolve(call.apply(store, args)))
        .then((result) => s.schedule(Promise.resolve(result)))
  return {
    copyId: store.copyId,
    readEntry: step(store.readEntry),
    readEntries: step(store.readEntries),
    writeEntry: step(store.writeEntry),
    deleteEntry: step(store.deleteEntry),
    purgeNamespace: step(store.purgeNamespace),
    forget: step(store.forget),
    tryLock: step(store.tryLock),
    extendLock: step(store.extendLock),
    unlock: step(store.unlock),
    waitForUnlock: step(store.waitForUnlock),
  }
}

describe('TieredStore property', () => {
  it('after any interleaving of reads, writes, loads, deletes, purges and forgets, every fresh near entry is far\'s entry', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(command, { minLength: 1, maxLength: 10 }), async (s, commands) => {
        const farDict = SharedDict.create({ size: '1m' })
        const nears = [SharedDict.create({ size: '1m' }), SharedDict.create({ size: '1m' })] as const
        const far = scheduled(s, farDict)
        const hostA = scheduled(s, nears[0])
        const hostB = scheduled(s, nears[1])
        const stores = [new TieredStore({ near: hostA, far }), new TieredStore({ near: hostA, far }), new TieredStore({ near: hostB, far })]
        const tasks: Promise<unknown>[] = []
        let version = 0
        /** The other host's invalidation of a mutation by store `from`, delivered once the scheduler lets it. */
        const invalidate = (from: number, changed: string | undefined): void => {
          const receiver = from === 2 ? stores[0] : stores[2]
          tasks.push(s.schedule(Promise.resolve()).then(() => receiver?.forget(NS, changed)))
        }
        const run = async (c: Command): Promise<void> => {
          const store = stores[c.by] as TieredStore
          const bytes = new Uint8Array([++version, c.by])
          switch (c.op) {
            case 'read':
              await store.readEntry(NS, c.key)
              return
            case 'readMany':
              await store.readEntries(NS, [...KEYS])
              return
            case 'write':
              await store.writeEntry(NS, c.key, bytes, c.ttl, version, { staleTtl: c.ttl })
              return invalidate(c.by, c.key)
            case 'load': {
              // As MLCache's load: the far loader lock, a read again under it, and only on a miss a fenced
              // write, then the unlock. A load's write is not announced: it filled a key nobody held.
              const token = `load-${version}`
              if ((await store.tryLock(NS, c.key, token, 60_000)) !== 'acquired') return
              const found = await store.readEntry(NS, c.key)
              if (found === undefined || found.stale) await store.writeEntry(NS, c.key, bytes, 0, version, { fence: token })
              await store.unlock(NS, c.key, token)
              return
            }
            case 'delete':
              await store.deleteEntry(NS, c.key)
              return invalidate(c.by, c.key)
            case 'purge':
              await store.purgeNamespace(NS, c.flushExpired)
              return invalidate(c.by, undefined)
          }
        }
        tasks.push(...commands.map(run))
        // Until every command and every invalidation it led to has settled.
        for (let settled = 0; settled < tasks.length; ) {
          settled = tasks.length
          await s.waitFor(Promise.all(tasks))
        }
        for (const near of nears) {
          for (const k of KEYS) {
            const entry = near.readEntry(NS, k)
            if (entry !== undefined && !entry.stale) {
              const truth = farDict.readEntry(NS, k)
              expect(truth?.stale, `${s.report()}`).toBe(false)
              expect(Array.from(entry.value)).toEqual(Array.from(truth?.value ?? []))
              expect(entry.flags).toBe(truth?.flags)
            }
            // No copy left its near lock behind.
            expect(near.tryLock(NS, k, 'probe', 1_000)).toBe('acquired')
            near.unlock(NS, k, 'probe')
          }
          checkSharedDictInvariants(near)
        }
        checkSharedDictInvariants(farDict)
      }),
      { numRuns: 1_000 },
    )
  })
})
