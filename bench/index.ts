/**
 * `npm run bench`: mlcache on the embedded default (SharedDict, no server)
 * against the physical floor (Map, raw lru-cache, msgpackr) and its peers
 * (bentocache, cache-manager): first in one thread (each scenario's tasks
 * measured side by side in this process), then across worker_threads
 * (scaling of L2 hits, stampede protection, invalidation latency). Prints
 * ops/s, counts and ratios, and writes `bench/results/latest.{json,md}`.
 *
 * `npm run bench -- <name>...` runs only the named scenarios (see
 * SCENARIOS) and writes nothing.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { SMOKE } from './harness.js'
import { type Meta, Report } from './report.js'
import { l1Hit, l2Hit, missPath, sharedDict } from './scenarios/in-process.js'
import { hitRate } from './scenarios/hitrate.js'
import { invalidation } from './scenarios/invalidation.js'
import { l2Mix } from './scenarios/l2-mix.js'
import { stampede } from './scenarios/stampede.js'
import { threadsL2Hit } from './scenarios/threads-l2.js'

const SCENARIOS: Record<string, (report: Report) => Promise<void>> = {
  l1: l1Hit,
  l2: l2Hit,
  'l2-mix': l2Mix,
  dict: sharedDict,
  miss: missPath,
  'threads-l2': threadsL2Hit,
  stampede,
  invalidation,
  hitrate: hitRate,
}

function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

const only = process.argv.slice(2)
const unknown = only.filter((name) => !(name in SCENARIOS))
if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`)

const meta: Meta = {
  node: process.version,
  cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
  commit: gitCommit(),
  date: new Date().toISOString().slice(0, 10),
}
process.stdout.write(`mlcache benchmark: Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}\n`)
const startedAt = performance.now()
const report = new Report()
for (const [name, run] of Object.entries(SCENARIOS)) {
  if (only.length === 0 || only.includes(name)) await run(report)
}

const missed = report.printRatios()
const seconds = `${((performance.now() - startedAt) / 1_000).toFixed(0)} s`
if (SMOKE) {
  process.stdout.write(`\nSmoke run (tiny iteration counts, figures meaningless) of every scenario in ${seconds}: wrote nothing\n`)
} else if (only.length > 0) {
  process.stdout.write(`\nRan ${only.join(', ')} only in ${seconds}: wrote nothing${missed > 0 ? ` (${missed} below target)` : ''}\n`)
} else {
  writeFileSync(new URL('./results/latest.md', import.meta.url), report.markdown(meta))
  writeFileSync(new URL('./results/latest.json', import.meta.url), report.json(meta))
  process.stdout.write(`\nWrote bench/results/latest.md and latest.json in ${seconds}${missed > 0 ? ` (${missed} below target)` : ''}\n`)
}
