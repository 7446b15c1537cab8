/**
 * `npm run bench`: mlcache on the embedded default (SharedDict, no server)
 * against the physical floor (Map, raw lru-cache, msgpackr) and its peers
 * (bentocache, cache-manager, cacheable; over Redis for the L2 rows when
 * `redis-server` is installed): first in one thread (each scenario's tasks
 * measured side by side), then across worker_threads (scaling, stampede
 * protection, invalidation latency), then hit rates on real traces. Prints
 * ops/s, counts and ratios, and writes `bench/results/latest.{json,md}`.
 *
 * Every scenario runs in a fresh child process (this file again, with
 * `--scenario <name>`), so no scenario inherits another's JIT state, heap
 * or leftover handles; the child sends what it recorded back over IPC.
 *
 * `npm run bench -- <name>...` runs only the named scenarios (see
 * SCENARIOS) and writes nothing.
 */
import { execFileSync, fork } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { SMOKE } from './harness.js'
import { type Meta, Report, type ReportPart } from './report.js'
import { l1Hit, l2Hit, missPath, sharedDict } from './scenarios/in-process.js'
import { hitRate } from './scenarios/hitrate.js'
import { invalidation } from './scenarios/invalidation.js'
import { l2Mix } from './scenarios/l2-mix.js'
import { stampede } from './scenarios/stampede.js'
import { threadsL1Hit, threadsL2Hit } from './scenarios/threads.js'

const SCENARIOS: Record<string, (report: Report) => Promise<void>> = {
  l1: l1Hit,
  l2: l2Hit,
  'l2-mix': l2Mix,
  dict: sharedDict,
  miss: missPath,
  'threads-l1': threadsL1Hit,
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

/** Runs scenario `name` in a fresh child process; resolves with what it recorded. */
function runInChild(name: string): Promise<ReportPart> {
  return new Promise((resolve, reject) => {
    // fork() reuses this process's execArgv: the child loads TypeScript through tsx too.
    const child = fork(fileURLToPath(import.meta.url), ['--scenario', name], { stdio: 'inherit' })
    let part: ReportPart | undefined
    child.on('message', (message) => {
      part = message as ReportPart
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (code === 0 && part !== undefined) resolve(part)
      else reject(new Error(`scenario ${name} failed (${signal ?? `exit code ${code}`})`))
    })
  })
}

/** The child's side: runs one scenario, sends its report part to the parent, exits. */
async function runScenario(name: string): Promise<void> {
  const run = SCENARIOS[name]
  if (run === undefined) throw new Error(`unknown scenario ${name}`)
  const report = new Report()
  await run(report)
  // Exit once the part is sent: a peer library's lingering timer must not hold the run.
  process.send?.(report.part(), () => process.exit(0))
}

if (process.argv[2] === '--scenario') {
  await runScenario(process.argv[3] ?? '')
} else {
  await main(process.argv.slice(2))
}

async function main(only: string[]): Promise<void> {
  const unknown = only.filter((name) => !(name in SCENARIOS))
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')}`)
  const meta: Meta = {
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    commit: gitCommit(),
    date: new Date().toISOString().slice(0, 10),
  }
  process.stdout.write(`mlcache benchmark: Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}; each scenario in a fresh process\n`)
  const startedAt = performance.now()
  const report = new Report()
  for (const name of Object.keys(SCENARIOS)) {
    if (only.length === 0 || only.includes(name)) report.merge(await runInChild(name))
  }

  const missed = report.printRatios()
  const seconds = `${((performance.now() - startedAt) / 1_000).toFixed(0)} s`
  if (SMOKE) {
    process.stdout.write(`\nSmoke run (tiny iteration counts, figures meaningless) of every scenario in ${seconds}: wrote nothing\n`)
  } else if (only.length > 0) {
    process.stdout.write(`\nRan ${only.join(', ')} only in ${seconds}: wrote nothing${missed > 0 ? ` (${missed} below target)` : ''}\n`)
  } else {
    const files = new Map([...report.files, ['latest.md', report.markdown(meta)], ['latest.json', report.json(meta)]])
    for (const [name, content] of files) writeFileSync(new URL(`./results/${name}`, import.meta.url), content)
    process.stdout.write(`\nWrote ${[...files.keys()].map((name) => `bench/results/${name}`).join(', ')} in ${seconds}${missed > 0 ? ` (${missed} below target)` : ''}\n`)
  }
}
