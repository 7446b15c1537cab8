/**
 * `npm run bench`: mlcache on the embedded default (SharedDict, no server)
 * against the physical floor (Map, raw lru-cache, msgpackr) and a peer
 * (bentocache), each scenario's tasks measured side by side in this process.
 * Prints ops/s and ratios, and writes `bench/results/latest.{json,md}`.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { LRUCache } from 'lru-cache'
import { unpack } from 'msgpackr'
import { encodeValue } from '../src/codec/codec.js'
import { MLCache, SharedDict } from '../src/index.js'
import { type Ratio, formatOps, measure } from './harness.js'

/** The ~100-byte object of the L2 scenario (its msgpack encoding is printed). */
const USER = {
  id: 12_345,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  roles: ['admin', 'editor'],
  active: true,
  createdAt: 1_700_000_000_000,
  score: 98.5,
}
const SHORT = 'a short string value'
const KEY = 'user:12345'

const results = new Map<string, Map<string, number>>()
const ratios: Ratio[] = []

async function scenario(title: string, tasks: Record<string, () => unknown>): Promise<Map<string, number>> {
  process.stdout.write(`\n${title}\n`)
  const measured = await measure(tasks)
  for (const [name, ops] of measured) process.stdout.write(`  ${name.padEnd(44)} ${formatOps(ops).padStart(9)} ops/s\n`)
  results.set(title, measured)
  return measured
}

function compare(measured: Map<string, number>, scenarioName: string, subject: string, baseline: string, target: number): void {
  const ratio = (measured.get(subject) ?? 0) / (measured.get(baseline) ?? 1)
  ratios.push({ scenario: scenarioName, subject, baseline, ratio, target })
}

async function l1Hit(): Promise<void> {
  const lru = new LRUCache<string, object>({ max: 1_000 })
  lru.set(KEY, USER)
  const cache = new MLCache('bench-l1', { lruSize: 1_000 })
  await cache.get(KEY, () => USER)
  const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 1_000 })) } })
  await bento.getOrSet({ key: KEY, factory: () => USER })
  const name = 'L1 hit'
  const measured = await scenario(name, {
    'lru-cache get (raw, sync)': () => lru.get(KEY),
    'MLCache.get (L1 hit)': () => cache.get(KEY),
    'bentocache getOrSet (memory hit)': () => bento.getOrSet({ key: KEY, factory: () => USER }),
  })
  compare(measured, name, 'MLCache.get (L1 hit)', 'lru-cache get (raw, sync)', 0.25)
  compare(measured, name, 'MLCache.get (L1 hit)', 'bentocache getOrSet (memory hit)', 15)
  await Promise.all([cache.close(), bento.disconnectAll()])
}

async function l2Hit(): Promise<void> {
  // 10k keys read in order through an L1 of 1k: every read misses L1 and hits L2.
  const keys = Array.from({ length: 10_000 }, (_, i) => `user:${i}`)
  const cache = new MLCache('bench-l2', { lruSize: 1_000, store: SharedDict.create({ size: '64m' }), ttl: 0 })
  for (const key of keys) await cache.set(key, USER)
  const bytes = encodeValue(USER)
  process.stdout.write(`\n(the L2 value encodes to ${bytes.length} bytes)`)
  let next = 0
  const name = 'L2 hit (L1 missed), ~100-byte object'
  const measured = await scenario(name, {
    'msgpackr unpack (same bytes)': () => unpack(bytes),
    'MLCache.get (L2 hit)': () => cache.get(keys[next++ % keys.length] as string),
  })
  compare(measured, name, 'MLCache.get (L2 hit)', 'msgpackr unpack (same bytes)', 0.4)
  await cache.close()
}

async function sharedDict(): Promise<void> {
  const dict = SharedDict.create({ size: '64m' })
  const map = new Map<string, string>()
  dict.set(KEY, SHORT)
  map.set(KEY, SHORT)
  const name = 'SharedDict vs Map, short string'
  const measured = await scenario(name, {
    'Map.get': () => map.get(KEY),
    'SharedDict.get': () => dict.get(KEY),
    'Map.set': () => map.set(KEY, SHORT),
    'SharedDict.set': () => dict.set(KEY, SHORT),
  })
  compare(measured, name, 'SharedDict.get', 'Map.get', 0.1)
  compare(measured, name, 'SharedDict.set', 'Map.set', 0)
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

function markdown(meta: Record<string, string>): string {
  const lines = [
    `Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}, ${meta.date}. Medians of 7 rounds, ops/s.`,
    '',
    '| scenario | task | ops/s |',
    '|---|---|---:|',
  ]
  for (const [scenarioName, measured] of results) {
    for (const [task, ops] of measured) lines.push(`| ${scenarioName} | ${task} | ${formatOps(ops)} |`)
  }
  lines.push('', '| ratio | measured | target |', '|---|---:|---:|')
  for (const r of ratios) {
    const target = r.target > 0 ? `>= ${r.target}x` : '(info)'
    lines.push(`| ${r.subject} / ${r.baseline} | ${r.ratio.toFixed(r.ratio < 10 ? 2 : 0)}x | ${target} |`)
  }
  return `${lines.join('\n')}\n`
}

const meta = {
  node: process.version,
  cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
  commit: gitCommit(),
  date: new Date().toISOString().slice(0, 10),
}
process.stdout.write(`mlcache benchmark: Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}\n`)
await l1Hit()
await l2Hit()
await sharedDict()

process.stdout.write('\nRatios (subject / baseline):\n')
let missed = 0
for (const r of ratios) {
  const verdict = r.target === 0 ? '' : r.ratio >= r.target ? `  ok (target >= ${r.target}x)` : `  BELOW target ${r.target}x`
  if (r.target > 0 && r.ratio < r.target) missed++
  process.stdout.write(`  ${`${r.subject} / ${r.baseline}`.padEnd(72)} ${r.ratio.toFixed(2).padStart(7)}x${verdict}\n`)
}
const table = markdown(meta)
writeFileSync(new URL('./results/latest.md', import.meta.url), table)
writeFileSync(
  new URL('./results/latest.json', import.meta.url),
  `${JSON.stringify({ meta, results: Object.fromEntries([...results].map(([k, v]) => [k, Object.fromEntries(v)])), ratios }, null, 2)}\n`,
)
process.stdout.write(`\nWrote bench/results/latest.md and latest.json${missed > 0 ? ` (${missed} ratio(s) below target)` : ''}\n`)
