/**
 * `npm run bench`: mlcache on the embedded default (SharedDict, no server)
 * against the physical floor (Map, raw lru-cache, msgpackr) and its peers
 * (bentocache, cache-manager, cacheable), and, when `redis-server` is
 * installed, mlcache over RedisStore against the peers over the same Redis:
 * first in one thread (each scenario's tasks measured side by side), then
 * across worker_threads and processes (scaling, stampede protection,
 * invalidation latency), then hit rates on real traces. Prints ops/s,
 * counts and ratios.
 *
 * By default only the HEADLINE scenarios run, 3 rounds each instead of 7
 * (about 2 minutes), and the results go to the untracked `bench/.results/`;
 * `--full` runs every scenario, 7 rounds (about 5 minutes), into
 * `bench/.results/` too. `--update` (`npm run bench:update`) is a full run
 * that rewrites the tracked `bench/results/latest.{md,json}` and hit-rate
 * charts the README shows: no other run changes the working tree.
 *
 * Every scenario runs in a fresh child process (this file again, with
 * `--scenario <name>`), so no scenario inherits another's JIT state, heap
 * or leftover handles; the child sends what it recorded back over IPC.
 *
 * `npm run bench -- <name>...` runs only the named scenarios (see
 * SCENARIOS) and writes nothing.
 */
import { execFileSync, fork } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import { SMOKE, measureRounds } from './harness.js'
import { type Meta, Report, type ReportPart } from './report.js'
import { expiry } from './scenarios/expiry.js'
import { l1Hit, l2Hit, l2HitAlone, missPath, sharedDict } from './scenarios/in-process.js'
import { hitRate } from './scenarios/hitrate.js'
import { invalidation } from './scenarios/invalidation.js'
import { l2Mix } from './scenarios/l2-mix.js'
import { redisL2Hit } from './scenarios/redis-l2.js'
import { redisStampede } from './scenarios/redis-stampede.js'
import { stampede } from './scenarios/stampede.js'
import { swap } from './scenarios/swap.js'
import { threadsL1Hit, threadsL2Hit } from './scenarios/threads.js'
import { tiered } from './scenarios/tiered.js'
import { tracing } from './scenarios/tracing.js'

const SCENARIOS: Record<string, (report: Report) => Promise<void>> = {
  l1: l1Hit,
  l2: l2Hit,
  'l2-alone': l2HitAlone,
  'l2-mix': l2Mix,
  'redis-l2': redisL2Hit,
  tiered,
  dict: sharedDict,
  miss: missPath,
  'threads-l1': threadsL1Hit,
  'threads-l2': threadsL2Hit,
  stampede,
  expiry,
  'redis-stampede': redisStampede,
  invalidation,
  swap,
  hitrate: hitRate,
  tracing,
}

/**
 * The default run: the scenarios of the headline targets (L1 hit against
 * lru-cache and the peers, L2 hit against msgpackr with and without L1, the
 * Redis L2 hit against bentocache's, the L2 hit over TieredStore against
 * SharedDict and RedisStore, SharedDict against Map, L1 and L2 hits scaling
 * over workers, one loader call per stampede across threads and across
 * processes over Redis, the latency of a hot key across its expiry,
 * invalidation latency, the time of a page swap of 100k entries and the
 * readers' throughput during it). The rest only come with `--full`.
 */
const HEADLINE = ['l1', 'l2', 'l2-alone', 'redis-l2', 'tiered', 'dict', 'threads-l1', 'threads-l2', 'stampede', 'expiry', 'redis-stampede', 'invalidation', 'swap']

/** Where a run writes: the tracked tables and charts on `--update` only. */
const TRACKED = new URL('./results/', import.meta.url)
const UNTRACKED = new URL('./.results/', import.meta.url)

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

async function main(args: string[]): Promise<void> {
  const update = args.includes('--update')
  const full = update || args.includes('--full')
  const only = args.filter((arg) => arg !== '--full' && arg !== '--update')
  const unknown = only.filter((name) => !(name in SCENARIOS))
  if (unknown.length > 0) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${Object.keys(SCENARIOS).join(', ')} (and --full, --update)`)
  if (update && only.length > 0) throw new Error('--update rewrites the tracked results from a full run: it takes no scenario names')
  // Smoke runs every scenario, so none can rot.
  const names = only.length > 0 ? only : full || SMOKE ? Object.keys(SCENARIOS) : HEADLINE
  const meta: Meta = {
    node: process.version,
    cpus: `${cpus().length} x ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    commit: gitCommit(),
    date: new Date().toISOString().slice(0, 10),
  }
  process.stdout.write(`mlcache benchmark: Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}; each scenario in a fresh process\n`)
  if (only.length === 0 && !full && !SMOKE) {
    // Fewer rounds in the headline run, inherited by the scenario processes: it stays around 2 minutes.
    process.env.MLCACHE_BENCH_QUICK = '1'
    process.stdout.write(`Headline scenarios (${HEADLINE.join(', ')}), ${measureRounds()} rounds each; every scenario, 7 rounds: npm run bench -- --full\n`)
  }
  const startedAt = performance.now()
  const report = new Report()
  for (const name of Object.keys(SCENARIOS)) {
    if (names.includes(name)) report.merge(await runInChild(name))
  }

  const missed = report.printRatios()
  const seconds = `${((performance.now() - startedAt) / 1_000).toFixed(0)} s`
  const below = missed > 0 ? ` (${missed} below target)` : ''
  if (SMOKE) {
    process.stdout.write(`\nSmoke run (tiny iteration counts, figures meaningless) of every scenario in ${seconds}: wrote nothing\n`)
  } else if (only.length > 0) {
    process.stdout.write(`\nRan ${only.join(', ')} only in ${seconds}: wrote nothing${below}\n`)
  } else {
    const dir = update ? TRACKED : UNTRACKED
    mkdirSync(dir, { recursive: true })
    const files = new Map([...report.files, ['latest.md', report.markdown(meta)], ['latest.json', report.json(meta)]])
    for (const [name, content] of files) writeFileSync(new URL(name, dir), content)
    const shown = `bench/${update ? 'results' : '.results'}/`
    process.stdout.write(`\nWrote ${[...files.keys()].map((name) => shown + name).join(', ')} in ${seconds}${below}\n`)
  }
}
