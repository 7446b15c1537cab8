/**
 * `mlcache-bench hitrate`: argument parsing, the table and the JSON output.
 * Kept apart from `cli.ts` so tests run it in-process.
 */
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { parseArgs } from 'node:util'
import { parseDictSize } from '../l2/shared-dict/size.js'
import { type HitRateRow, measureHitRates } from './hitrate.js'
import { plotHitRates } from './plot.js'
import { TRACE_FORMATS, type TraceFormat, isTraceFormat, loadTrace } from './readers.js'

/** The usage text: printed by `--help`, and with every argument error. */
const USAGE = `usage: mlcache-bench hitrate --trace <file> --format ${TRACE_FORMATS.join('|')} --l1 <entries>
         [--sizes a,b,c] --l2 <bytes> [--workers n] [--json] [--plot out.svg]
       mlcache-bench --help | --version
  --l1       L1 entries per worker (MLCache lruSize); --sizes sweeps several instead
  --l2       bytes of the SharedDict all workers share ('64m', '512k' or a count); 0 replays L1 only
  --workers  threads the requests are spread over round-robin (default 1)
  --json     print the rows as JSON instead of the table
  --plot     also write an SVG chart of every column against the size
  -h, --help     print this text and exit
  --version      print the version of mlcache and exit`

/**
 * The legend printed under the table. The last column is a signed difference,
 * so its sign must be spelled out: OPT only sees as many entries as L1, while
 * L1+L2 sees far more, so a positive value is common and is not an error.
 */
export const TOTAL_MINUS_OPT_LEGEND =
  'total - OPT: percentage points of L1+L2 (total) above Belady\'s OPT with as many entries as L1; positive = L1+L2 beats an L1-sized OPT, negative = OPT of L1 size would do better'

/** The version in this package's package.json (two levels up from `src/hitrate` and `dist/hitrate` alike). */
function packageVersion(): string {
  const json = readFileSync(new URL('../../package.json', import.meta.url), 'utf8')
  return (JSON.parse(json) as { version: string }).version
}

/** A bad command line: the message is printed with {@link USAGE} and the exit code is 2. */
class UsageError extends Error {
  override name = 'UsageError'
}

/** Where the command writes. */
export interface CommandOutput {
  out: (text: string) => void
  err: (text: string) => void
}

/** The parsed command line of `hitrate`. */
interface HitrateArgs {
  trace: string
  format: TraceFormat
  sizes: number[]
  l2: number | string
  workers: number
  json: boolean
  plot: string | undefined
}

function positiveInteger(text: string, name: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`${name} must be an integer >= 1, got '${text}'`)
  return Number(text)
}

function parseHitrateArgs(argv: readonly string[]): HitrateArgs {
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        trace: { type: 'string' },
        format: { type: 'string' },
        l1: { type: 'string' },
        sizes: { type: 'string' },
        l2: { type: 'string' },
        workers: { type: 'string' },
        json: { type: 'boolean' },
        plot: { type: 'string' },
      },
    })
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error))
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1 || positionals[0] !== 'hitrate') throw new UsageError(`unknown command '${positionals.join(' ')}' (expected 'hitrate')`)
  if (values.trace === undefined) throw new UsageError('--trace <file> is required')
  if (values.format === undefined || !isTraceFormat(values.format)) {
    throw new UsageError(`--format must be one of ${TRACE_FORMATS.join(', ')}, got '${values.format ?? ''}'`)
  }
  const sizesText = values.sizes ?? values.l1
  if (sizesText === undefined) throw new UsageError('--l1 <entries> or --sizes a,b,c is required')
  const sizes = sizesText.split(',').map((size) => positiveInteger(size.trim(), values.sizes === undefined ? '--l1' : '--sizes'))
  if (values.l2 === undefined) throw new UsageError('--l2 <bytes> is required (0 replays L1 only)')
  let l2: number | string = values.l2.trim()
  if (l2 === '0') l2 = 0
  else {
    try {
      parseDictSize(l2)
    } catch (error) {
      throw new UsageError(`--l2: ${error instanceof Error ? error.message.replace('options.size', 'the L2 size') : String(error)}`)
    }
  }
  return {
    trace: values.trace,
    format: values.format,
    sizes,
    l2,
    workers: values.workers === undefined ? 1 : positiveInteger(values.workers, '--workers'),
    json: values.json ?? false,
    plot: values.plot,
  }
}

/** Rounds to the 2 decimals shown, so the gap column agrees with the columns it is computed from. */
function hundredths(value: number): number {
  return Math.round(value * 100) / 100
}

function fixed(value: number, width: number): string {
  return value.toFixed(2).padStart(width)
}

/** The human table: one line per size, then the legend of the signed last column. */
function formatTable(rows: readonly HitRateRow[]): string {
  const header = `${'size'.padStart(8)} ${'L1 %'.padStart(7)} ${'L2 %'.padStart(7)} ${'loader %'.padStart(9)} ${'total %'.padStart(8)} ${'LRU %'.padStart(7)} ${'OPT %'.padStart(7)} ${'total - OPT'.padStart(12)}`
  const lines = rows.map((row) => {
    const total = hundredths(row.l1 + row.l2)
    const diff = hundredths(total - hundredths(row.opt))
    // An explicit '+' so the sign reads the same way on every line.
    const signed = `${diff > 0 ? '+' : ''}${diff.toFixed(2)}`.padStart(12)
    return `${String(row.size).padStart(8)} ${fixed(row.l1, 7)} ${fixed(row.l2, 7)} ${fixed(row.loader, 9)} ${fixed(total, 8)} ${fixed(row.lru, 7)} ${fixed(row.opt, 7)} ${signed}`
  })
  return [header, ...lines, TOTAL_MINUS_OPT_LEGEND].join('\n')
}

/**
 * Runs `mlcache-bench` with `argv` (the arguments after the program name)
 * and answers the exit code: 0 (`--help` and `--version` included), or 2 for a bad command line.
 * @throws {Error} the trace cannot be read or parsed (rejects)
 */
export async function runCommand(argv: readonly string[], output: CommandOutput): Promise<number> {
  // Checked before parsing, so `mlcache-bench hitrate --trace x --help` still prints the usage.
  if (argv.includes('--help') || argv.includes('-h')) {
    output.out(`${USAGE}\n`)
    return 0
  }
  if (argv.includes('--version')) {
    output.out(`${packageVersion()}\n`)
    return 0
  }
  let args: HitrateArgs
  try {
    args = parseHitrateArgs(argv)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    output.err(`mlcache-bench: ${error.message}\n${USAGE}\n`)
    return 2
  }
  const keys = await loadTrace(args.trace, args.format)
  const rows = await measureHitRates(keys, { sizes: args.sizes, l2: args.l2, workers: args.workers })
  if (args.json) output.out(`${JSON.stringify(rows)}\n`)
  else {
    const l2 = args.l2 === 0 ? 'L1 only' : `L2 ${args.l2} bytes`
    output.out(`${basename(args.trace)} (${args.format}): ${keys.length.toLocaleString('en-US')} requests, ${l2}, ${args.workers} thread(s)\n${formatTable(rows)}\n`)
  }
  if (args.plot !== undefined) {
    await writeFile(args.plot, plotHitRates(rows, `${basename(args.trace)}: hit rate by cache size`))
  }
  return 0
}
