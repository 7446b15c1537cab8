/**
 * `npm run test:mutants`: applies, one at a time, edits that break what
 * the suite is meant to protect (a deleted re-read, an ignored fence...),
 * runs the tests that should notice, and fails unless every one of them
 * does. A mutant that survives names a hole in the tests.
 *
 * Each mutant runs in a fresh copy of the repository in a temporary folder
 * (the working tree is never touched), sharing `node_modules` by a link.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface Mutant {
  /** What the edit breaks. */
  name: string
  /** The file edited, relative to the repository. */
  file: string
  /** Text that must occur exactly once in the file... */
  find: string
  /** ...and what replaces it. */
  replace: string
  /** The test files or folders that must fail. */
  tests: string[]
}

const MLCACHE_TESTS = ['test/mlcache']
/** The store's own tests of locks and fences, its contract suites, and MLCache's fenced loads. */
const STORE_TESTS = [
  'test/l2/shared-dict/fences.test.ts',
  'test/l2/shared-dict/locks.test.ts',
  'test/l2/shared-dict/reap.test.ts',
  'test/l2/shared-dict/model.property.test.ts',
  'test/l2/l2-store-contract.test.ts',
  'test/mlcache/fencing.test.ts',
]

/** Who may take the dict mutex over, and what a paused owner does when it resumes. */
/** SharedDict records: pinned strings that eviction, flushes, purges and reaping leave alone. */
const RECORD_TESTS = ['test/l2/shared-dict/records.test.ts']
const LIVENESS_TESTS = ['test/l2/shared-dict/liveness.test.ts', 'test/internal/robust-mutex.test.ts']
/** Bad input and the encoder's limits. */
const INPUT_TESTS = ['test/mlcache/bad-input-hardening.test.ts', 'test/codec/limits.test.ts']

/** RedisStore's own tests and its contract suites, on a real redis-server. */
const REDIS_STORE_TESTS = ['test/l2/redis/redis-store.test.ts', 'test/l2/redis/redis-store-contract.test.ts']
/** MLCache over Redis through outages, and the bus's own tests. */
const REDIS_OUTAGE_TESTS = ['test/redis/outage.test.ts', 'test/redis/redis-link.test.ts', 'test/bus/redis-bus.test.ts', 'test/bus/redis-bus-outage.test.ts']

/** ClusterBus across real cluster workers, and the broker's queue toward one member. */
const CLUSTER_BUS_TESTS = ['test/bus/cluster-bus.test.ts', 'test/bus/cluster-bus-member-queue.test.ts']

/** Caches on several copies of L2 (a SharedDict per process or host) sharing one bus. */
const COPY_TESTS = ['test/mlcache/store-copies.test.ts', 'test/bus/cluster-bus-per-process-l2.test.ts', 'test/redis/per-host-l2.test.ts']

/** Stale-while-revalidate, refresh-ahead and loader timeouts, and their property test. */
const BACKGROUND_TESTS = [
  'test/mlcache/stale-while-revalidate.test.ts',
  'test/mlcache/refresh-ahead.test.ts',
  'test/mlcache/loader-timeout.test.ts',
  'test/mlcache/background-reloads.property.test.ts',
]

/** TieredStore's own tests and its property test. */
const TIERED_TESTS = ['test/l2/tiered/tiered-store.test.ts', 'test/l2/tiered/tiered-store.property.test.ts']

/** Page swapping on LocalBus and across worker_threads. */
const PAGE_TESTS = ['test/pages']

/** L2 reads whose bytes the store lends (SharedDict.readEntryInto), through the dict and through MLCache. */
const LENT_TESTS = ['test/l2/shared-dict/l2-store.test.ts', 'test/mlcache/resurrect.test.ts', 'test/mlcache/lent-reads.test.ts']

/** SharedDict reads without the mutex (the sequence word) and the uses they record. */
const LOCK_FREE_TESTS = ['test/l2/shared-dict/lock-free-reads.test.ts', 'test/l2/shared-dict/model.property.test.ts']

/** The SharedDict's recoveries from a dead or taken-over owner. */
const RECOVERY_TESTS = ['test/l2/shared-dict/crash.test.ts', 'test/l2/shared-dict/liveness.test.ts', 'test/l2/shared-dict/recovery.test.ts']

const MUTANTS: Mutant[] = [
  {
    name: 'no L2 re-read after the lock is acquired',
    file: 'src/mlcache.ts',
    find: "if (state !== 'unlockable') {",
    replace: "if (state === 'woken') {",
    tests: MLCACHE_TESTS,
  },
  {
    name: 'no L2 re-read after a lock timeout',
    file: 'src/mlcache.ts',
    find: "if (read !== undefined && !read.stale) return promoted(read, opts)\n    // Serve the stale value",
    replace: '// Serve the stale value',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'the asynchronous L2 read path answers undefined',
    file: 'src/l2/l2-tier.ts',
    find: '(resolved) => this.#decode(store, namespace, key, resolved, purpose),',
    replace: '() => undefined,',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'set() keeps the old L1 value when l1Serializer throws',
    file: 'src/mlcache.ts',
    find: '// L2 holds the new value: drop the old one everywhere before reporting.\n      return this.#changed(page, key, error)',
    replace: 'throw error',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'an invalidation leaves the load in flight shared',
    file: 'src/mlcache.ts',
    find: 'page.l1.delete(key)\n    page.inflight.delete(key)',
    replace: 'page.l1.delete(key)',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'an asynchronous L2 read fills L1 after an invalidation overtook it',
    file: 'src/mlcache.ts',
    find: 'shape, slots, page.epoch === epoch))',
    replace: 'shape, slots, true))',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'a finite L1 TTL that rounds to nothing is kept forever',
    file: 'src/l1/l1-cache.ts',
    find: 'if (ttl < 0 || (ttl > 0 && !(lruTtl > 0))) {',
    replace: 'if (ttl < 0) {',
    tests: MLCACHE_TESTS,
  },
  {
    name: 'a fenced write ignores whose fence it presents',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: "if (lock === 0 || !this.#holdsFence(lock, leaseNow)) return 'fenced'",
    replace: "if (lock === 0) return 'fenced'",
    tests: STORE_TESTS,
  },
  {
    name: 'a fenced write lands after its lease ended',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '!this.#isExpired(p, leaseNow) &&\n',
    replace: '',
    tests: STORE_TESTS,
  },
  {
    name: 'an unfenced write leaves the fence valid',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '} else if (lock !== 0) {\n      this.#voidFence(lock)',
    replace: '} else if (lock !== 0) {\n      void lock',
    tests: STORE_TESTS,
  },
  {
    name: 'a delete leaves the fence valid',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (lock !== 0) this.#voidFence(lock)\n    this.store(MODE_SET, now, 0, 0)',
    replace: 'this.store(MODE_SET, now, 0, 0)',
    tests: STORE_TESTS,
  },
  {
    name: 'a purge leaves the fences valid',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (this.#u32[(p << 1) + E_USER_FLAGS] !== RECORD_OWNER) this.#voidFence(p)',
    replace: 'continue',
    tests: STORE_TESTS,
  },
  {
    name: 'the pre-op sweep reclaims entries kept for their stale window',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'const keep = n !== 0 && keepStale ? EF_KEEP_STALE : 0',
    replace: 'const keep = 0',
    tests: STORE_TESTS,
  },
  {
    name: "lock leases follow the dict's injected clock",
    file: 'src/l2/shared-dict/shared-dict.ts',
    find: 'core.tryLock(now, realTime(), lease, ownThreadId)',
    replace: 'core.tryLock(now, now, lease, ownThreadId)',
    tests: [...MLCACHE_TESTS, ...STORE_TESTS],
  },
  {
    name: "reaping a thread deletes every thread's locks",
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'isPinned && owner === threadId && owner !== RECORD_OWNER',
    replace: 'isPinned',
    tests: STORE_TESTS,
  },
  {
    name: 'a noEvict write evicts',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'noEvict ? MODE_SET | MODE_SAFE : MODE_SET',
    replace: 'MODE_SET',
    tests: ['test/l2/shared-dict/l2-store.test.ts'],
  },
  {
    name: 'reaping the thread id of the record owner deletes records',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'owner === threadId && owner !== RECORD_OWNER',
    replace: 'owner === threadId',
    tests: RECORD_TESTS,
  },
  {
    name: 'a purge voids the records of its namespace',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (this.#u32[(p << 1) + E_USER_FLAGS] !== RECORD_OWNER) this.#voidFence(p)',
    replace: 'this.#voidFence(p)',
    tests: RECORD_TESTS,
  },
  {
    name: 'a record write evicts values to make room',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'const q = this.#allocLock(now)\n    if (q === 0) return false',
    replace: 'const q = this.#alloc(now, true)\n    if (q === 0) return false',
    tests: RECORD_TESTS,
  },
  {
    name: 'a record write that finds no memory has removed the old record',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'const q = this.#allocLock(now)\n    if (q === 0) return false\n    if (p !== 0) this.#removeEntry(p)',
    replace: 'if (p !== 0) this.#removeEntry(p)\n    const q = this.#allocLock(now)\n    if (q === 0) return false',
    tests: RECORD_TESTS,
  },
  {
    name: 'a supervised mutex owner is presumed dead after ownerDeadAfter',
    file: 'src/internal/robust-mutex.ts',
    find: '} else if ((word & SUPERVISED) === 0 && performance.now() - since >= ownerDeadAfter) {',
    replace: '} else if (performance.now() - since >= ownerDeadAfter) {',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'an owner that was taken over releases the mutex of the thread that now holds it',
    file: 'src/internal/robust-mutex.ts',
    find: 'const word = Atomics.compareExchange(i32, index, held, 0)',
    replace: 'const word = Atomics.exchange(i32, index, 0)',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'a paused mutation that was taken over does not repair the dict',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (!mutated) return',
    replace: 'return',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'a read that was taken over answers what it read across the takeover',
    file: 'src/l2/shared-dict/shared-dict.ts',
    find: '        core.release()\n      }\n      if (core.intact) return result',
    replace: '        core.release()\n      }\n      return result',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'the reaper holds dicts only weakly while workers live',
    file: 'src/internal/thread-reaper.ts',
    find: ';(pinned ??= new Set()).add(target)',
    replace: 'void target',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'a large value is allocated under the dict mutex',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (length <= LARGE_VALUE_BYTES) return copyBytes(this.#u8, start, length)',
    replace: 'return copyBytes(this.#u8, start, length)',
    tests: LIVENESS_TESTS,
  },
  {
    name: 'keys with lone surrogates are accepted',
    file: 'src/internal/validate.ts',
    find: "  assertWellFormed(key, 'key')",
    replace: '',
    tests: INPUT_TESTS,
  },
  {
    name: 'values nest without a depth limit',
    file: 'src/codec/value-check.ts',
    find: 'if (depth > MAX_DEPTH) {',
    replace: 'if (depth > MAX_DEPTH * 1000) {',
    tests: INPUT_TESTS,
  },
  {
    name: 'the encoder keeps the buffer a huge value grew',
    file: 'src/codec/codec.ts',
    find: 'packr.useBuffer(Buffer.allocUnsafeSlow(FRESH_BUFFER_BYTES))',
    replace: 'void FRESH_BUFFER_BYTES',
    tests: INPUT_TESTS,
  },
  {
    name: 'each cache without a store makes a default store of its own',
    file: 'src/default-store.ts',
    find: 'let store = stores.get(clock)',
    replace: 'let store: SharedDict | undefined',
    tests: ['test/mlcache/default-store.test.ts'],
  },
  {
    name: 'configuring the default store after it was made is silently accepted',
    file: 'src/default-store.ts',
    find: 'if (created) {',
    replace: 'if (!created && created) {',
    tests: ['test/mlcache/default-store.test.ts'],
  },
  {
    name: "a fenced RedisStore write ignores a purge since its lock was taken",
    file: 'src/l2/redis/store-scripts.ts',
    find: 'or tonumber(lock[2]) ~= gen',
    replace: '',
    tests: REDIS_STORE_TESTS,
  },
  {
    name: 'a RedisStore entry written before a purge reads fresh',
    file: 'src/l2/redis/entry-format.ts',
    find: 'if (raw.readDoubleBE(12) !== generation) {',
    replace: 'if (false) {',
    tests: REDIS_STORE_TESTS,
  },
  {
    name: 'RedisBus delivers no resync after resubscribing',
    file: 'src/bus/redis-bus.ts',
    find: "return this.#resync('reconnect')",
    replace: 'return',
    tests: REDIS_OUTAGE_TESTS,
  },
  {
    name: 'the Redis circuit breaker never opens',
    file: 'src/redis/redis-link.ts',
    find: 'if (isConnectionFailure(error)) this.#open(error)',
    replace: '',
    tests: REDIS_OUTAGE_TESTS,
  },
  {
    name: "MLCache keeps its L1 when its store recovers from an outage",
    file: 'src/mlcache.ts',
    find: 'l2.onRecovered?.(() => this.#resync())',
    replace: 'undefined',
    tests: ['test/mlcache/l2-failures.test.ts', 'test/redis/outage.test.ts'],
  },
  {
    name: 'a cache opening after a swap starts on page 1 instead of reading the page table',
    file: 'src/pages/page-set.ts',
    find: 'const recorded = readCurrentPage(store, name)',
    replace: 'const recorded: number | undefined = 1',
    tests: PAGE_TESTS,
  },
  {
    name: 'a swap purges the page before the current one without declaring it gone first',
    file: 'src/pages/swap.ts',
    find: 'await l2Call(name, () => raiseOldestPage(store, name, current))',
    replace: '',
    tests: ['test/pages/snapshot.test.ts'],
  },
  {
    name: 'a failed fill leaves its shadow page in L2',
    file: 'src/pages/swap.ts',
    find: 'await tier.purge(shadow, true).catch(() => undefined)',
    replace: '',
    tests: PAGE_TESTS,
  },
  {
    name: 'a swap resolves without waiting for the workers to switch',
    file: 'src/pages/swap.ts',
    find: 'if (waiting.size === 0 || left <= 0) break',
    replace: 'break',
    tests: ['test/pages/swap-workers.test.ts'],
  },
  {
    name: 'ClusterBus drops events toward a member that is behind without a resync',
    file: 'src/bus/cluster-bus-member-queue.ts',
    find: "this.#send({ k: 'resync', reason: OVERFLOW_REASON })",
    replace: '',
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: "ClusterBus lets a drain mark overtake a pending resync",
    file: 'src/bus/cluster-bus-member-queue.ts',
    find: 'if (this.#lost) this.#heldMarks.push(id)',
    replace: "if (this.#lost) this.#send({ k: 'mark', id })",
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: 'ClusterBus announces every exit as clean',
    file: 'src/bus/cluster-bus-broker.ts',
    find: "const exit = lifecycle('exit', id, crashed)",
    replace: "const exit = lifecycle('exit', id, false)",
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: "ClusterBus ignores cluster's 'disconnect' (a worker exiting 0 without close() looks clean)",
    file: 'src/bus/cluster-bus-broker.ts',
    find: 'this.#leave(worker.id, true)',
    replace: '',
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: 'ClusterBus relays unique targets to every member',
    file: 'src/bus/cluster-bus-broker.ts',
    find: "if (target === 'all') {",
    replace: "if (target !== '') {",
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: "ClusterBus's members never acknowledge what they handled",
    file: 'src/bus/cluster-bus.ts',
    find: "if (this.#brokerGone === undefined) void this.#connection.channel.send({ k: 'ack', n: count })",
    replace: "if (this.workerId === 0) void this.#connection.channel.send({ k: 'ack', n: count })",
    tests: CLUSTER_BUS_TESTS,
  },
  {
    name: 'an invalidation from another copy of L2 drops L1 only, leaving the stale copy',
    file: 'src/mlcache.ts',
    find: 'const forgetting = event.copy === this.#store.copyId ? undefined : this.#forget(page, key)',
    replace: 'const forgetting = undefined',
    tests: COPY_TESTS,
  },
  {
    name: 'an invalidation from the same copy of L2 deletes from it again',
    file: 'src/mlcache.ts',
    find: 'const forgetting = event.copy === this.#store.copyId ? undefined : this.#forget(page, key)',
    replace: 'const forgetting = this.#forget(page, key)',
    tests: COPY_TESTS,
  },
  {
    name: 'a resync of a bus reaching beyond the process keeps the copy of L2',
    file: 'src/mlcache.ts',
    find: "if (!WITHIN_PROCESS.has(this.#bus.reach ?? 'network')) this.#forget(page, undefined)",
    replace: 'if (this.#bus.reach === undefined) this.#forget(page, undefined)',
    tests: COPY_TESTS,
  },
  {
    name: 'TieredStore copies a far hit into near without the fence of near\'s lock',
    file: 'src/l2/tiered/tiered-store.ts',
    find: 'await this.#near.writeEntry(namespace, key, entry.value, entry.ttl, entry.flags, { fence: token })',
    replace: 'await this.#near.writeEntry(namespace, key, entry.value, entry.ttl, entry.flags)',
    tests: TIERED_TESTS,
  },
  {
    name: 'TieredStore deletes near before far',
    file: 'src/l2/tiered/tiered-store.ts',
    find: `    try {
      await far()
    } catch (error) {
      farFailure = { error }
    }
    try {
      await near()
    } catch (error) {
      if (farFailure === undefined) throw error
    }`,
    replace: `    try {
      await near()
    } catch (error) {
      if (farFailure === undefined) throw error
    }
    try {
      await far()
    } catch (error) {
      farFailure = { error }
    }`,
    tests: TIERED_TESTS,
  },
  {
    name: 'a swap over a TieredStore names the near copy as its page table',
    file: 'src/pages/page-table.ts',
    find: "return 'recordsCopyId' in store ? store.recordsCopyId : store.copyId",
    replace: 'return store.copyId',
    tests: ['test/redis/tiered-swap.test.ts'],
  },
  {
    name: 'a relaying WorkerBus sends its own echo from upstream back to its threads',
    file: 'src/bus/worker-bus-relay.ts',
    find: 'workerId === undefined || workerId === this.#upstream.workerId) return',
    replace: 'workerId === undefined) return',
    tests: ['test/bus/worker-bus-relay.test.ts', 'test/redis/relay-hosts.test.ts'],
  },
  {
    name: 'a background reload loads without re-reading L2 under the lock (a second reload after another worker reloaded)',
    file: 'src/mlcache.ts',
    find: '        if (read !== undefined && !read.stale && !refreshDue(read, opts)) return\n',
    replace: '',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'a background reload leaves the old value in the other L1s',
    file: 'src/mlcache.ts',
    find: '      if (loaded.stored === true) await this.#changed(page, key, undefined)\n',
    replace: '',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'stale-while-revalidate serves a value a purge expired',
    file: 'src/mlcache.ts',
    find: 'const stale = read === undefined || read.purged ? undefined : read',
    replace: 'const stale = read',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'refresh-ahead measures the cache ttl instead of the life the entry was written with',
    file: 'src/mlcache.ts',
    find: 'const life = lifetimeOf(read.flags) ?? (read.negative ? opts.negTtl : opts.ttl)',
    replace: 'const life = read.negative ? opts.negTtl : opts.ttl',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'close() leaves background reloads running',
    file: 'src/mlcache.ts',
    find: "    this.#closing.abort(new ClosedError(`cache '${this.name}' is closed`))\n",
    replace: '',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'a waiter for another worker lock ignores the hard loader timeout',
    file: 'src/mlcache.ts',
    find: 'const hardFirst = hard !== undefined && hard <= opts.lockTimeout',
    replace: 'const hardFirst = false',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'a timeout race leaves its timer running after the promise won (the soft and hard loader timeouts)',
    file: 'src/internal/race-timer.ts',
    find: '        clearTimeout(timer)\n        resolve(value)',
    replace: '        resolve(value)',
    tests: BACKGROUND_TESTS,
  },
  {
    name: 'a stale L2 read keeps a view of the lent buffer, not a copy (a resurrection writes back the last bytes read, any key)',
    file: 'src/l2/l2-tier.ts',
    find: 'stale ? Uint8Array.prototype.slice.call(bytes, start, end) : undefined',
    replace: 'stale ? bytes.subarray(start, end) : undefined',
    tests: LENT_TESTS,
  },
  {
    name: 'a lent read points at the first whole word, not at the value within it',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '  view.start = start & 3\n',
    replace: '  view.start = 0\n',
    tests: LENT_TESTS,
  },
  {
    name: 'a read under the mutex with the default clock never reads it, so entries that expire are never stale',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    // NaN is CLOCK_UNREAD.\n    if (expiresAt !== 0 && now !== now) now = this.#clock()\n',
    replace: '',
    tests: LENT_TESTS,
  },
  {
    name: 'a read without the mutex with the default clock never reads it, so entries that expire are never stale',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    if (expiresAt !== 0 && now !== now) now = this.#clock()\n    const stale',
    replace: '    const stale',
    tests: LENT_TESTS,
  },
  {
    name: 'a read without the mutex trusts what it read though a write moved the sequence word meanwhile',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    if (Atomics.load(i32, H_SEQ) !== seq) return READ_CONTENDED\n',
    replace: '',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a read without the mutex goes on while the sequence word is odd (a mutation under way)',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    if ((seq & 1) !== 0) return READ_CONTENDED\n',
    replace: '',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a mutation leaves the sequence word even',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    this.enterToReorder()\n    this.#openSeq()\n',
    replace: '    this.enterToReorder()\n',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'recorded uses wait past the next hold that can evict',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    Atomics.store(this.#i32, H_MUTATING, this.#held)\n    if (this.#touchCount !== 0) this.#applyTouches()\n',
    replace: '    Atomics.store(this.#i32, H_MUTATING, this.#held)\n',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a full batch of recorded uses is never applied',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    return this.#touchCount === TOUCH_BATCH\n',
    replace: '    return false\n',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a recorded use is applied to an entry freed since',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (touches[i + 1] === seq || this.#index.holdsValueEntry(p)) ',
    replace: '',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a stale read records a use',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: 'if (!stale && this.#touchCount < TOUCH_BATCH) {',
    replace: 'if (this.#touchCount < TOUCH_BATCH) {',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: "a get's sweep frees an entry without moving the sequence word",
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '      // A `get` holds the mutex without the sequence word until its sweep frees something.\n      this.#openSeq()\n',
    replace: '',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'readEntryInto takes the mutex',
    file: 'src/l2/shared-dict/shared-dict.ts',
    find: 'LOCK_FREE_READS ? core.readEntryOptimistic(now, view) : READ_CONTENDED',
    replace: 'READ_CONTENDED',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'readEntry takes the mutex',
    file: 'src/l2/shared-dict/shared-dict.ts',
    find: '    if (LOCK_FREE_READS) {\n      const found = this.#core.readEntryOptimistic(now, this.#copyView)',
    replace: '    if (!LOCK_FREE_READS) {\n      const found = this.#core.readEntryOptimistic(now, this.#copyView)',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'readEntry answers a view on the lent buffer',
    file: 'src/l2/shared-dict/shared-dict.ts',
    find: 'value: copyBytes(view.bytes, view.start, view.end - view.start)',
    replace: 'value: view.bytes.subarray(view.start, view.end)',
    tests: LOCK_FREE_TESTS,
  },
  {
    name: 'a lookup follows a bucket link outside the arena',
    file: 'src/l2/shared-dict/hash-index.ts',
    find: '      if (p < this.#firstUnit || p > this.#lastUnit) return LEAVES_ARENA\n',
    replace: '',
    tests: RECOVERY_TESTS,
  },
  {
    name: 'a recovery leaves the sequence word odd',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '    this.#openSeq()\n    this.reset()\n    this.#touchCount = 0\n    this.#closeSeq()\n',
    replace: '    this.reset()\n    this.#touchCount = 0\n',
    tests: RECOVERY_TESTS,
  },
  {
    name: 'a mutation after a dead writer makes an odd sequence word even',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '((seq & 1) === 0 ? 1 : 2)',
    replace: '1',
    tests: RECOVERY_TESTS,
  },
  {
    name: 'the staged key keeps a prefix that a plain key overwrote',
    file: 'src/l2/shared-dict/dict-core.ts',
    find: '  encodeKey(key: string): void {\n    this.#keyPrefixOf = undefined\n',
    replace: '  encodeKey(key: string): void {\n',
    tests: ['test/l2/shared-dict'],
  },
  {
    name: 'the decoder of the last table is reused when two tables differ in their last bytes only',
    file: 'src/codec/codec.ts',
    find: '  for (; i < length; i++) if (view.getUint8(start + i) !== bytes.getUint8(i)) return false\n',
    replace: '',
    tests: ['test/codec/codec.test.ts'],
  },
]

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const COPIED = ['src', 'test', 'bench', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'vitest.config.ts']

/** Runs `tests` in a fresh copy of the repository with `mutant` applied (none: as is); answers whether they passed. */
function testsPass(tests: readonly string[], mutant?: Mutant): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'mlcache-mutant-'))
  try {
    for (const entry of COPIED) cpSync(join(ROOT, entry), join(dir, entry), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
    if (mutant !== undefined) {
      const file = join(dir, mutant.file)
      const source = readFileSync(file, 'utf8')
      const at = source.indexOf(mutant.find)
      if (at < 0 || source.indexOf(mutant.find, at + 1) >= 0) {
        throw new Error(`mutant "${mutant.name}": its text must occur exactly once in ${mutant.file}`)
      }
      writeFileSync(file, source.slice(0, at) + mutant.replace + source.slice(at + mutant.find.length))
    }
    const run = spawnSync(process.execPath, [join(dir, 'node_modules/vitest/vitest.mjs'), 'run', '--bail', '1', ...tests], {
      cwd: dir,
      env: { ...process.env, MLCACHE_SKIP_BUILD: '1' },
      stdio: 'ignore',
    })
    return run.status === 0
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

// A kill means something only if the same tests pass without the mutant.
const testSets = [...new Set(MUTANTS.map((mutant) => mutant.tests.join(' ')))]
for (const set of testSets) {
  if (!testsPass(set.split(' '))) throw new Error(`the tests fail without any mutant: ${set}`)
}

let survivors = 0
for (const mutant of MUTANTS) {
  const ok = !testsPass(mutant.tests, mutant)
  if (!ok) survivors++
  process.stdout.write(`${ok ? 'killed  ' : 'SURVIVED'}  ${mutant.name}  (${mutant.file}; ${mutant.tests.join(', ')})\n`)
}
process.stdout.write(`\n${MUTANTS.length - survivors} of ${MUTANTS.length} mutants killed\n`)
if (survivors > 0) process.exitCode = 1
