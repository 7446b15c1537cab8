/**
 * A loop of L2 hits to profile:
 * `node --import tsx --cpu-prof bench/profile-l2-hit.ts [lruSize] [keys] [user|profile|string]`
 * (defaults: `lruSize` 0, 1,000 keys, the 7-field user object). Every key
 * is set once, then read in order for `SECONDS` seconds (default 5); with
 * `lruSize` below the key count every read misses L1 and hits the
 * SharedDict. `free` in place of `lruSize` passes a custom L1 that keeps
 * nothing and costs nothing: against an L1 of 1,000 over the same keys, it
 * shows what the default L1 (lru-cache's miss, insertion and eviction) adds
 * to a hit. Prints the time of one `msgpackr.unpack` of the value's plain
 * msgpack, of one L2 hit, and their ratio; `ONLY_L2=1` skips the former,
 * for a profile of L2 hits alone.
 */
import { pack, unpack } from 'msgpackr'
import { MLCache, SharedDict } from '../src/index.js'
import { PROFILE, SHORT, USER } from './fixtures.js'

/** An L1 that remembers nothing, through the `lru` option: the L1 calls without their cost. */
const FREE_L1 = { get: () => undefined, set: () => undefined, delete: () => false, clear: () => undefined }
const free = process.argv[2] === 'free'
const lruSize = free ? 0 : Number(process.argv[2] ?? 0)
const keyCount = Number(process.argv[3] ?? 1_000)
const which = process.argv[4] ?? 'user'
const value = which === 'profile' ? PROFILE : which === 'string' ? SHORT : USER
const seconds = Number(process.env.SECONDS ?? 5)
const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}`)
const cache = new MLCache('profile', { lruSize, ...(free ? { lru: FREE_L1 } : {}), store: SharedDict.create({ size: '64m' }), ttl: 0 })
for (const key of keys) await cache.set(key, value)
const plain = Buffer.from(pack(value))

/** Runs `fn` in batches of 1,000 for `seconds`; answers ns per call. */
async function time(label: string, fn: () => unknown): Promise<number> {
  const start = performance.now()
  const end = start + seconds * 1_000
  let calls = 0
  while (performance.now() < end) {
    for (let i = 0; i < 1_000; i++) {
      // Awaited only when it is a promise: a synchronous baseline pays no microtask.
      const result = fn()
      if (result instanceof Promise) await result
    }
    calls += 1_000
  }
  const ns = ((performance.now() - start) * 1e6) / calls
  console.log(`${label}: ${ns.toFixed(0)} ns`)
  return ns
}

let next = 0
const floor = process.env.ONLY_L2 === '1' ? Number.NaN : await time('msgpackr unpack (plain msgpack)', () => unpack(plain))
const hit = await time('MLCache.get (L2 hit)', () => cache.get(keys[next++ % keyCount] as string))
console.log(`ratio ${(floor / hit).toFixed(2)}; L1 hits ${cache.stats().l1Hits}`)
await cache.close()
