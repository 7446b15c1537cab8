/**
 * What `npm run bench` prints and writes: the ops/s of every scenario, the
 * ratios against their targets, and the small tables of the scenarios that
 * count rather than time (loader calls, latencies). Scenarios add to one
 * {@link Report}; `index.ts` writes it to `latest.{md,json}` (in `bench/.results/`,
 * or the tracked `bench/results/` on `--update`).
 */
import { type Ratio, type Tasks, formatOps, formatRatio, formatTarget, measure, measureRounds, missesTarget, ratioLabel } from './harness.js'

/** A table a scenario prints and adds to the markdown as is. */
export interface Table {
  title: string
  header: string[]
  rows: string[][]
  /** Text under the table. */
  note?: string
}

export interface Meta {
  node: string
  cpus: string
  commit: string
  date: string
}

function write(text: string): void {
  process.stdout.write(text)
}

/**
 * What one scenario added to its {@link Report}, as plain data: a scenario
 * runs in a child process of its own and sends this to the parent over IPC.
 */
export interface ReportPart {
  results: [string, [string, number][]][]
  ratios: Ratio[]
  tables: Table[]
  notes: string[]
  files: [string, string][]
}

export class Report {
  readonly results = new Map<string, Map<string, number>>()
  readonly ratios: Ratio[] = []
  readonly tables: Table[] = []
  /** Lines under the ops/s table (how the non-tinybench rows were measured). */
  readonly notes: string[] = []
  /** Files beside the tables (the hit-rate charts), by name: written by a run that writes its tables. */
  readonly files = new Map<string, string>()

  /** Prints a scenario's title. */
  heading(title: string): void {
    write(`\n${title}\n`)
  }

  /** Prints a line of a scenario (progress, a detail). */
  line(text: string): void {
    write(`  ${text}\n`)
  }

  /** Measures `tasks` side by side (medians of rounds), prints and records them. */
  async scenario(title: string, tasks: Tasks): Promise<Map<string, number>> {
    this.heading(title)
    const measured = await measure(tasks)
    this.#printOps(measured)
    this.results.set(title, measured)
    return measured
  }

  /** Records ops/s measured elsewhere (the worker scenarios) under `title`; prints them. */
  record(title: string, measured: Map<string, number>): void {
    this.#printOps(measured)
    this.results.set(title, measured)
  }

  /** Adds `subject / baseline` ops/s of one scenario against `target` (0: information only). */
  compare(measured: Map<string, number>, scenario: string, subject: string, baseline: string, target: number): void {
    const ratio = (measured.get(subject) ?? 0) / (measured.get(baseline) ?? 1)
    this.ratios.push({ scenario, subject, baseline, ratio, target })
  }

  /** Adds an absolute figure (a count, a latency) against an upper (`'max'`) or lower bound. */
  check(scenario: string, subject: string, value: number, unit: string, bound: 'min' | 'max', target: number): void {
    this.ratios.push({ scenario, subject, ratio: value, target, bound, unit })
  }

  /** Prints a table and keeps it for the markdown. */
  table(table: Table): void {
    const widths = table.header.map((cell, column) => Math.max(cell.length, ...table.rows.map((row) => (row[column] ?? '').length)))
    const line = (cells: string[]) =>
      `  ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ')}\n`
    write(line(table.header))
    for (const row of table.rows) write(line(row))
    if (table.note !== undefined) write(`  (${table.note})\n`)
    this.tables.push(table)
  }

  /** Prints the ratio verdicts; answers how many miss their target. */
  printRatios(): number {
    write('\nRatios (subject / baseline) and checks:\n')
    let missed = 0
    for (const r of this.ratios) {
      const target = formatTarget(r)
      const verdict = r.target === 0 ? '' : missesTarget(r) ? `  MISSES target ${target}` : `  ok (target ${target})`
      if (missesTarget(r)) missed++
      const figure = r.unit === undefined ? `${r.ratio.toFixed(2).padStart(7)}x` : formatRatio(r).padStart(8)
      write(`  ${ratioLabel(r).padEnd(100)} ${figure}${verdict}\n`)
    }
    return missed
  }

  /** Everything recorded so far, as plain data for {@link Report.merge}. */
  part(): ReportPart {
    return {
      results: [...this.results].map(([title, measured]) => [title, [...measured]]),
      ratios: this.ratios,
      tables: this.tables,
      notes: this.notes,
      files: [...this.files],
    }
  }

  /** Adds what another process's report recorded (see {@link Report.part}); prints nothing. */
  merge(part: ReportPart): void {
    for (const [title, measured] of part.results) this.results.set(title, new Map(measured))
    this.ratios.push(...part.ratios)
    this.tables.push(...part.tables)
    this.notes.push(...part.notes)
    for (const [name, content] of part.files) this.files.set(name, content)
  }

  markdown(meta: Meta): string {
    const lines = [
      `Node ${meta.node}, ${meta.cpus}, commit ${meta.commit}, ${meta.date}. Medians of ${measureRounds()} rounds, ops/s.`,
      '',
      '| scenario | task | ops/s |',
      '|---|---|---:|',
    ]
    for (const [scenario, measured] of this.results) {
      for (const [task, ops] of measured) lines.push(`| ${scenario} | ${task} | ${formatOps(ops)} |`)
    }
    if (this.notes.length > 0) lines.push('', ...this.notes)
    for (const table of this.tables) {
      lines.push('', `${table.title}:`, '', `| ${table.header.join(' | ')} |`, `|---|${table.header.slice(1).map(() => '---:|').join('')}`)
      for (const row of table.rows) lines.push(`| ${row.join(' | ')} |`)
      if (table.note !== undefined) lines.push('', table.note)
    }
    lines.push('', '| ratio | measured | target |', '|---|---:|---:|')
    for (const r of this.ratios) lines.push(`| ${ratioLabel(r)} | ${formatRatio(r)} | ${formatTarget(r)} |`)
    return `${lines.join('\n')}\n`
  }

  json(meta: Meta): string {
    const results = Object.fromEntries([...this.results].map(([k, v]) => [k, Object.fromEntries(v)]))
    return `${JSON.stringify({ meta, results, tables: this.tables, ratios: this.ratios }, null, 2)}\n`
  }

  #printOps(measured: Map<string, number>): void {
    for (const [name, ops] of measured) write(`  ${name.padEnd(60)} ${formatOps(ops).padStart(9)} ops/s\n`)
  }
}
