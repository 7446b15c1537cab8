/**
 * Model-based test: random command sequences run against a SharedDict and a
 * plain model (a Map plus an exact LRU list, oldest first) that implements
 * lua_shared_dict's rules: pre-op sweeps, lookups that touch, in-place
 * rewrites, flushes.
 *
 * The model cannot know when the arena is full (that depends on block sizes
 * and fragmentation), so a forcible eviction is reconciled rather than
 * predicted, strictly:
 * - the entries a write evicted must be the oldest entries of the model's
 *   LRU (a prefix of it), and `forcible` must be true exactly when there
 *   were some;
 * - whether eviction was needed at all is checked on a copy of the buffer
 *   taken before the write: the `safe*` variant run on the copy must fail
 *   with "no memory" exactly when the real write was forcible;
 * - a `safe*` write may fail with "no memory" only if no free block is
 *   large enough for the entry.
 * After every command the dict's whole content (values, flags, expiry times,
 * LRU order) must equal the model's, and the structural invariants must hold.
 *
 * A second model adds the L2Store operations to the same rules: loader
 * locks (tryLock, extendLock, unlock) of a few tokens, fenced and unfenced
 * writeEntry, deleteEntry, purgeNamespace, readEntry and readEntryInto (the
 * read without the mutex) on a few keys of two namespaces. It tracks each
 * lock's token and whether its fence is void. Leases are 60 s of real time,
 * so no lease ends during a run. The uses lock-free reads record reach the
 * LRU list at the thread's next hold of the mutex, so the LRU order is
 * compared after one (`stats()`).
 *
 * A third runs reads without the mutex through two instances attached to
 * one dict, each recording uses the other's writes may free, against the
 * values alone.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { EntryView } from '../../../src/l2/l2-store.js'
import { checkSharedDictInvariants, inspectSharedDict } from '../../../src/l2/shared-dict/invariants.js'
import { entryBlockBytes } from '../../../src/l2/shared-dict/layout.js'
import { type DictValue, SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'

const KEYS = ['a', 'b', 'c', 'dé'] as const
/** The smallest dict: a 3840-byte arena. */
const SIZE = 8 * 1024

type StoreKind = 'set' | 'safeSet' | 'add' | 'safeAdd' | 'replace'
type Command =
  | { kind: StoreKind; key: string; value: DictValue; ttl: number; flags: number }
  | { kind: 'delete' | 'get' | 'getStale' | 'ttl'; key: string }
  | { kind: 'incr'; key: string; step: number; init: number | undefined; initTtl: number | undefined }
  | { kind: 'expire'; key: string; ttl: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'flushAll' }
  | { kind: 'flushExpired' | 'keys'; max: number }

interface ModelEntry {
  value: DictValue
  flags: number
  expiresAt: number
  valueLength: number
}

const key = fc.constantFrom(...KEYS)
const ttl = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3_000 }), fc.double({ min: 0.25, max: 50, noNaN: true }))
const flags = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }))
// Up to 3700 bytes: one entry always fits the 3840-byte arena, two often do not, so writes evict.
const value: fc.Arbitrary<DictValue> = fc.oneof(
  fc.boolean(),
  fc.double(),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.integer({ min: 0, max: 3_700 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: 0, max: 3_700 }).map((n) => new Uint8Array(n).fill(n & 0xff)),
)
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({ kind: fc.constantFrom<StoreKind>('set', 'safeSet', 'add', 'safeAdd', 'replace'), key, value, ttl, flags }),
    weight: 6,
  },
  {
    arbitrary: fc.record({ kind: fc.constantFrom('delete' as const, 'get' as const, 'getStale' as const, 'ttl' as const), key }),
    weight: 4,
  },
  fc.record({
    kind: fc.constant('incr' as const),
    key,
    step: fc.integer({ min: -3, max: 3 }),
    init: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
    initTtl: fc.option(ttl, { nil: undefined }),
  }),
  fc.record({ kind: fc.constant('expire' as const), key, ttl }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.double({ min: 0, max: 5, noNaN: true })) }),
  fc.record({ kind: fc.constant('flushAll' as const) }),
  fc.record({ kind: fc.constantFrom('flushExpired' as const, 'keys' as const), max: fc.integer({ min: 0, max: 3 }) }),
)

function byteLength(v: DictValue): number {
  if (typeof v === 'string') return Buffer.byteLength(v)
  if (typeof v === 'number') return 8
  if (typeof v === 'boolean') return 1
  return v.length
}

function sameValue(a: DictValue | undefined, b: DictValue | undefined): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b))
  return Object.is(a, b)
}

class Model {
  readonly entries = new Map<string, ModelEntry>()
  /** Keys, least recently used first. */
  lru: string[] = []
  now = 1_000_000

  expired(entry: ModelEntry): boolean {
    return entry.expiresAt !== 0 && entry.expiresAt <= this.now
  }

  expiry(ttlMs: number): number {
    return ttlMs > 0 ? this.now + ttlMs : 0
  }

  touch(k: string): void {
    this.lru = [...this.lru.filter((x) => x !== k), k]
  }

  remove(k: string): void {
    this.entries.delete(k)
    this.lru = this.lru.filter((x) => x !== k)
  }

  insert(k: string, entry: ModelEntry): void {
    this.entries.set(k, entry)
    this.touch(k)
  }

  /** ngx_http_lua_shdict_expire(ctx, 1). */
  sweep(): void {
    for (let n = 0; n < 2; n++) {
      const tail = this.lru[0]
      const entry = tail === undefined ? undefined : this.entries.get(tail)
      if (tail === undefined || entry === undefined || !this.expired(entry)) return
      this.remove(tail)
    }
  }

  /** The lookup of nginx: a live entry is touched. */
  lookup(k: string): { entry: ModelEntry | undefined; live: boolean } {
    const entry = this.entries.get(k)
    const live = entry !== undefined && !this.expired(entry)
    if (live) this.touch(k)
    return { entry, live }
  }
}

/** A copy of `dict` on its own buffer, to try an operation without touching the original. */
function copyOf(dict: SharedDict, clock: () => number): SharedDict {
  const buffer = new SharedArrayBuffer(dict.capacity())
  new Uint8Array(buffer).set(new Uint8Array(dict.handle.buffer))
  return SharedDict.attach({ buffer }, { clock })
}

/** After an allocating write of `k`, drops from the model what the dict evicted, checking it is an LRU prefix. */
function reconcileEvictions(dict: SharedDict, model: Model, k: string, forcible: boolean): void {
  const present = new Set(inspectSharedDict(dict).entries.map((entry) => entry.key))
  const evicted = model.lru.filter((x) => x !== k && !present.has(x))
  expect(evicted).toEqual(model.lru.slice(0, evicted.length))
  expect(forcible).toBe(evicted.length > 0)
  for (const x of evicted) model.remove(x)
}

function largestFreeBlock(dict: SharedDict): number {
  return Math.max(0, ...inspectSharedDict(dict).freeBlocks)
}

function runStore(dict: SharedDict, model: Model, cmd: Extract<Command, { value: DictValue }>, clock: () => number): void {
  const safe = cmd.kind === 'safeSet' || cmd.kind === 'safeAdd'
  const k = cmd.key
  const copy = safe ? undefined : copyOf(dict, clock)
  const result = dict[cmd.kind](k, cmd.value, cmd.ttl, cmd.flags)

  model.sweep()
  const { entry, live } = model.lookup(k)
  if (cmd.kind === 'replace' && !live) {
    expect(result).toEqual({ ok: false, err: 'not found', forcible: false })
    return
  }
  if ((cmd.kind === 'add' || cmd.kind === 'safeAdd') && live) {
    expect(result).toEqual({ ok: false, err: 'exists', forcible: false })
    return
  }
  const fresh = { value: cmd.value, flags: cmd.flags, expiresAt: model.expiry(cmd.ttl), valueLength: byteLength(cmd.value) }
  if (entry !== undefined && entry.valueLength === fresh.valueLength) {
    expect(result).toEqual({ ok: true, forcible: false })
    model.insert(k, fresh)
    return
  }
  model.remove(k)
  const need = entryBlockBytes(Buffer.byteLength(k), fresh.valueLength)
  if (safe) {
    if (result.ok) {
      expect(result).toEqual({ ok: true, forcible: false })
      model.insert(k, fresh)
    } else {
      expect(result).toEqual({ ok: false, err: 'no memory', forcible: false })
      expect(largestFreeBlock(dict)).toBeLessThan(need)
    }
    return
  }
  // Every entry fits the empty arena and at most 3 others exist: 30 rounds always make room.
  expect(result.ok).toBe(true)
  reconcileEvictions(dict, model, k, result.forcible)
  model.insert(k, fresh)
  // Eviction happened exactly when the write could not fit without it.
  const safeKind = cmd.kind === 'add' ? 'safeAdd' : 'safeSet'
  expect(copy?.[safeKind](k, cmd.value, cmd.ttl, cmd.flags).ok).toBe(!result.forcible)
}

function runIncr(dict: SharedDict, model: Model, cmd: Extract<Command, { kind: 'incr' }>): void {
  const k = cmd.key
  const initTtl = cmd.init === undefined ? undefined : cmd.initTtl
  // A sum that is not finite is refused with a RangeError and changes nothing (nginx would store inf).
  let result: ReturnType<SharedDict['incr']> | RangeError
  try {
    result = dict.incr(k, cmd.step, cmd.init, initTtl)
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    result = error
  }
  model.sweep()
  const { entry, live } = model.lookup(k)
  if (live && entry !== undefined) {
    if (typeof entry.value !== 'number') {
      expect(result).toEqual({ err: 'not a number', forcible: false })
      return
    }
    if (!Number.isFinite(entry.value + cmd.step)) {
      expect(result).toBeInstanceOf(RangeError)
      return
    }
    entry.value += cmd.step
    expect(result).toEqual({ value: entry.value, forcible: false })
    return
  }
  if (cmd.init === undefined) {
    expect(result).toEqual({ err: 'not found', forcible: false })
    return
  }
  if (!Number.isFinite(cmd.step + cmd.init)) {
    expect(result).toBeInstanceOf(RangeError)
    return
  }
  if (result instanceof RangeError) throw result
  const fresh = { value: cmd.step + cmd.init, flags: 0, expiresAt: model.expiry(initTtl ?? 0), valueLength: 8 }
  if (entry !== undefined && entry.valueLength === 8) {
    expect(result).toEqual({ value: fresh.value, forcible: false })
    model.insert(k, fresh)
    return
  }
  model.remove(k)
  expect(result.value).toBe(fresh.value)
  reconcileEvictions(dict, model, k, result.forcible)
  model.insert(k, fresh)
}

function run(dict: SharedDict, model: Model, cmd: Command, clock: () => number): void {
  switch (cmd.kind) {
    case 'set':
    case 'safeSet':
    case 'add':
    case 'safeAdd':
    case 'replace':
      runStore(dict, model, cmd, clock)
      return
    case 'incr':
      runIncr(dict, model, cmd)
      return
    case 'delete':
      dict.delete(cmd.key)
      model.sweep()
      model.remove(cmd.key)
      return
    case 'get': {
      const result = dict.get(cmd.key)
      model.sweep()
      const { entry, live } = model.lookup(cmd.key)
      if (!live || entry === undefined) expect(result).toBeUndefined()
      else expect(sameValue(result?.value, entry.value) && result?.flags === entry.flags).toBe(true)
      return
    }
    case 'getStale': {
      const result = dict.getStale(cmd.key)
      const { entry, live } = model.lookup(cmd.key)
      if (entry === undefined) expect(result).toBeUndefined()
      else expect(sameValue(result?.value, entry.value) && result?.flags === entry.flags && result.stale === !live).toBe(true)
      return
    }
    case 'ttl': {
      const entry = model.entries.get(cmd.key)
      expect(dict.ttl(cmd.key)).toBe(entry === undefined ? undefined : entry.expiresAt === 0 ? 0 : entry.expiresAt - model.now)
      return
    }
    case 'expire': {
      const entry = model.entries.get(cmd.key)
      expect(dict.expire(cmd.key, cmd.ttl)).toBe(entry !== undefined)
      if (entry !== undefined) entry.expiresAt = model.expiry(cmd.ttl)
      return
    }
    case 'advance':
      model.now += cmd.ms
      return
    case 'flushAll':
      dict.flushAll()
      for (const entry of model.entries.values()) entry.expiresAt = 1
      // One forced round: the tail, then up to two more expired entries (all are).
      for (const k of model.lru.slice(0, 3)) model.remove(k)
      return
    case 'flushExpired': {
      const freed = model.lru.filter((k) => {
        const entry = model.entries.get(k)
        return entry !== undefined && model.expired(entry)
      })
      const limited = cmd.max === 0 ? freed : freed.slice(0, cmd.max)
      expect(dict.flushExpired(cmd.max)).toBe(limited.length)
      for (const k of limited) model.remove(k)
      return
    }
    case 'keys': {
      const live = model.lru.filter((k) => {
        const entry = model.entries.get(k)
        return entry !== undefined && !model.expired(entry)
      })
      expect(dict.keys(cmd.max)).toEqual(cmd.max === 0 ? live : live.slice(0, cmd.max))
      return
    }
  }
}

/** The dict's whole content must be the model's. */
function expectSameState(dict: SharedDict, model: Model): void {
  const { entries, lru } = inspectSharedDict(dict)
  expect([...lru].reverse()).toEqual(model.lru)
  expect(entries.length).toBe(model.entries.size)
  for (const entry of entries) {
    const expected = model.entries.get(entry.key)
    expect(expected).toBeDefined()
    if (expected === undefined) return
    expect(sameValue(entry.value, expected.value)).toBe(true)
    expect(entry.flags).toBe(expected.flags)
    expect(entry.expiresAt).toBe(expected.expiresAt)
  }
}

describe('SharedDict against a model', () => {
  it('random command sequences behave as lua_shared_dict, evictions included', () => {
    let evictions = 0
    fc.assert(
      fc.property(fc.array(command, { minLength: 1, maxLength: 60, size: 'max' }), (commands) => {
        const model = new Model()
        const clock = (): number => model.now
        const dict = SharedDict.create({ size: SIZE, clock })
        for (const cmd of commands) {
          run(dict, model, cmd, clock)
          expectSameState(dict, model)
          checkSharedDictInvariants(dict)
        }
        evictions += dict.stats().forcibleEvictions
      }),
      { numRuns: 300 },
    )
    // The sizes are chosen so that eviction really happens.
    expect(evictions).toBeGreaterThan(0)
  })
})

// ------------------------------------------------------------ L2Store: locks and fences

// Three namespaces, one not ASCII, and a key not ASCII: calls alternate between the key prefixes each dict instance stages.
const NAMESPACES = ['n1', 'n2', 'ñ'] as const
const L2_KEYS = ['a', 'b', 'c', 'ü€'] as const
// 't1' is a prefix of 't10': a fence must match the whole token.
const TOKENS = ['t1', 't2', 't10'] as const
/** No lease ends during a run. */
const LEASE = 60_000

type L2Command =
  | { kind: 'tryLock' | 'extendLock' | 'unlock'; ns: string; key: string; token: string }
  | { kind: 'writeEntry'; ns: string; key: string; value: Uint8Array; ttl: number; flags: number; fence: string | undefined }
  | { kind: 'deleteEntry' | 'readEntry' | 'readEntryInto'; ns: string; key: string }
  | { kind: 'purgeNamespace'; ns: string; flushExpired: boolean }
  | { kind: 'advance'; ms: number }

interface ModelLock {
  token: string
  revoked: boolean
}

const l2Target = { ns: fc.constantFrom(...NAMESPACES), key: fc.constantFrom(...L2_KEYS) }
const token = fc.constantFrom(...TOKENS)
const l2Command: fc.Arbitrary<L2Command> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constantFrom('tryLock' as const, 'extendLock' as const, 'unlock' as const), ...l2Target, token }), weight: 5 },
  {
    arbitrary: fc.record({
      kind: fc.constant('writeEntry' as const),
      ...l2Target,
      value: fc.uint8Array({ maxLength: 12 }),
      ttl: fc.constantFrom(0, 0, 1_000),
      flags: fc.integer({ min: 0, max: 0xffffffff }),
      fence: fc.option(token, { nil: undefined, freq: 3 }),
    }),
    weight: 5,
  },
  { arbitrary: fc.record({ kind: fc.constantFrom('deleteEntry' as const, 'readEntry' as const, 'readEntryInto' as const), ...l2Target }), weight: 4 },
  fc.record({ kind: fc.constant('purgeNamespace' as const), ns: l2Target.ns, flushExpired: fc.boolean() }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 1_500 }) }),
)

/** The internal key of an L2Store entry, for its value and its lock alike. */
const internalKey = (ns: string, key: string): string => `${ns.length}:${ns}:${key}`

/** The values (the lua_shared_dict model, under internal keys) and the loader locks. */
class L2Model {
  readonly values = new Model()
  readonly locks = new Map<string, ModelLock>()

  /** Voids the fence of the lock of `k`, if any. */
  voidFence(k: string): void {
    const lock = this.locks.get(k)
    if (lock !== undefined) lock.revoked = true
  }
}

/** What a fenced write did: landed, or refused by a void fence or for another reason. */
type FencedOutcome = 'landed' | 'void' | 'refused'

/** Runs `cmd` on the dict and the model, comparing answers; for a fenced write, answers what it did. */
function runL2(dict: SharedDict, model: L2Model, cmd: L2Command): FencedOutcome | undefined {
  if (cmd.kind === 'advance') {
    model.values.now += cmd.ms
    return undefined
  }
  if (cmd.kind === 'purgeNamespace') {
    dict.purgeNamespace(cmd.ns, cmd.flushExpired)
    const prefix = internalKey(cmd.ns, '')
    for (const [k, lock] of model.locks) if (k.startsWith(prefix)) lock.revoked = true
    for (const [k, entry] of model.values.entries) {
      if (!k.startsWith(prefix)) continue
      if (cmd.flushExpired) model.values.remove(k)
      else entry.expiresAt = 1
    }
    return undefined
  }
  const k = internalKey(cmd.ns, cmd.key)
  const lock = model.locks.get(k)
  switch (cmd.kind) {
    case 'tryLock': {
      expect(dict.tryLock(cmd.ns, cmd.key, cmd.token, LEASE)).toBe(lock === undefined ? 'acquired' : 'held')
      if (lock === undefined) model.locks.set(k, { token: cmd.token, revoked: false })
      return undefined
    }
    case 'extendLock':
      expect(dict.extendLock(cmd.ns, cmd.key, cmd.token, LEASE)).toBe(lock?.token === cmd.token)
      return undefined
    case 'unlock': {
      const owned = lock?.token === cmd.token
      expect(dict.unlock(cmd.ns, cmd.key, cmd.token)).toBe(owned)
      if (owned) model.locks.delete(k)
      return undefined
    }
    case 'writeEntry': {
      const result = dict.writeEntry(cmd.ns, cmd.key, cmd.value, cmd.ttl, cmd.flags, cmd.fence === undefined ? undefined : { fence: cmd.fence })
      if (cmd.fence !== undefined && (lock === undefined || lock.token !== cmd.fence || lock.revoked)) {
        // Refused before anything ran: no sweep either.
        expect(result).toBe('fenced')
        return lock?.token === cmd.fence ? 'void' : 'refused'
      }
      expect(result).toBe('ok')
      if (cmd.fence === undefined) model.voidFence(k)
      model.values.sweep()
      model.values.lookup(k)
      model.values.insert(k, { value: cmd.value, flags: cmd.flags, expiresAt: model.values.expiry(cmd.ttl), valueLength: cmd.value.length })
      return cmd.fence === undefined ? undefined : 'landed'
    }
    case 'deleteEntry':
      dict.deleteEntry(cmd.ns, cmd.key)
      model.voidFence(k)
      model.values.sweep()
      model.values.remove(k)
      return undefined
    case 'readEntry':
    case 'readEntryInto': {
      const result = cmd.kind === 'readEntry' ? dict.readEntry(cmd.ns, cmd.key) : readInto(dict, cmd.ns, cmd.key)
      const { entry, live } = model.values.lookup(k)
      if (entry === undefined) {
        expect(result).toBeUndefined()
        return undefined
      }
      expect(result?.stale).toBe(!live)
      expect(result?.flags).toBe(entry.flags)
      expect(sameValue(result?.value, entry.value)).toBe(true)
      expect(result?.ttl).toBe(entry.expiresAt === 0 ? 0 : entry.expiresAt - model.values.now)
      return undefined
    }
  }
}

const lentView: EntryView = { bytes: Buffer.alloc(0), start: 0, end: 0, flags: 0, ttl: 0, stale: false, purged: false }

/** `readEntryInto` answered as `readEntry` answers (a copy of the lent bytes), or `undefined`. */
function readInto(dict: SharedDict, ns: string, key: string): { value: Uint8Array; flags: number; ttl: number; stale: boolean } | undefined {
  if (!dict.readEntryInto(ns, key, lentView)) return undefined
  const { bytes, start, end, flags, ttl, stale } = lentView
  return { value: Uint8Array.from(bytes.subarray(start, end)), flags, ttl, stale }
}

/** The dict's values, LRU order and locks (token and fence) must be the model's. */
function expectSameL2State(dict: SharedDict, model: L2Model): void {
  // A call that takes the mutex applies the uses this thread's lock-free reads recorded.
  dict.stats()
  const { entries, lru } = inspectSharedDict(dict)
  expect([...lru].reverse()).toEqual(model.values.lru)
  const values = entries.filter((entry) => !entry.pinned)
  expect(values.length).toBe(model.values.entries.size)
  for (const entry of values) {
    const expected = model.values.entries.get(entry.key)
    expect(expected).toBeDefined()
    if (expected === undefined) return
    expect(sameValue(entry.value, expected.value)).toBe(true)
    expect(entry.flags).toBe(expected.flags)
    expect(entry.expiresAt).toBe(expected.expiresAt)
  }
  const locks = new Map(entries.filter((entry) => entry.pinned).map((entry) => [entry.key, { token: entry.value, revoked: entry.revoked }]))
  expect(locks).toEqual(model.locks)
}

describe('SharedDict as an L2Store against a model', () => {
  it('random sequences of lock, fenced write, delete, purge and read operations (with the mutex or without) keep locks and fences as the model does', () => {
    const seen: Record<FencedOutcome, number> = { landed: 0, void: 0, refused: 0 }
    fc.assert(
      fc.property(fc.array(l2Command, { minLength: 1, maxLength: 50, size: 'max' }), (commands) => {
        const model = new L2Model()
        const dict = SharedDict.create({ size: '64k', clock: () => model.values.now })
        for (const cmd of commands) {
          const outcome = runL2(dict, model, cmd)
          if (outcome !== undefined) seen[outcome]++
          expectSameL2State(dict, model)
        }
        checkSharedDictInvariants(dict)
        expect(dict.stats().forcibleEvictions).toBe(0)
      }),
      { numRuns: 300 },
    )
    // The sequences do exercise every outcome of a fenced write.
    expect(seen.landed).toBeGreaterThan(0)
    expect(seen.void).toBeGreaterThan(0)
    expect(seen.refused).toBeGreaterThan(0)
  })
})

/** A command of the two-instance run: which instance runs it, and what. */
type PairCommand =
  | { via: 0 | 1; kind: 'write'; key: string; value: Uint8Array }
  | { via: 0 | 1; kind: 'delete' | 'read'; key: string }

const pairCommand: fc.Arbitrary<PairCommand> = fc.oneof(
  fc.record({ via: fc.constantFrom<0 | 1>(0, 1), kind: fc.constant('write' as const), key: fc.constantFrom(...L2_KEYS), value: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ via: fc.constantFrom<0 | 1>(0, 1), kind: fc.constantFrom('delete' as const, 'read' as const), key: fc.constantFrom(...L2_KEYS) }),
)

describe('SharedDict reads without the mutex through two instances', () => {
  it('answer every value as written, and uses recorded before a write of the other instance freed the entry keep the structures sound', () => {
    fc.assert(
      fc.property(fc.array(pairCommand, { minLength: 1, maxLength: 80, size: 'max' }), (commands) => {
        const first = SharedDict.create({ size: '64k' })
        const pair = [first, SharedDict.attach(first.handle)] as const
        const values = new Map<string, Uint8Array>()
        for (const cmd of commands) {
          const dict = pair[cmd.via]
          if (cmd.kind === 'write') {
            expect(dict.writeEntry('ns', cmd.key, cmd.value, 0, 0)).toBe('ok')
            values.set(cmd.key, cmd.value)
          } else if (cmd.kind === 'delete') {
            dict.deleteEntry('ns', cmd.key)
            values.delete(cmd.key)
          } else {
            const expected = values.get(cmd.key)
            const read = readInto(dict, 'ns', cmd.key)
            expect(read === undefined ? undefined : Array.from(read.value)).toEqual(expected === undefined ? undefined : Array.from(expected))
          }
          checkSharedDictInvariants(first)
        }
        // Each instance applies what it recorded at its next hold.
        for (const dict of pair) dict.stats()
        checkSharedDictInvariants(first)
        const { lru } = inspectSharedDict(first)
        expect(new Set(lru)).toEqual(new Set([...values.keys()].map((key) => internalKey('ns', key))))
      }),
      { numRuns: 300 },
    )
  })
})
