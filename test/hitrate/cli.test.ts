import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TOTAL_MINUS_OPT_LEGEND, runCommand } from '../../src/hitrate/command.js'
import type { HitRateRow } from '../../src/hitrate/hitrate.js'
import { plotHitRates } from '../../src/hitrate/plot.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const GLI = join(ROOT, 'test/fixtures/gli.lirs.gz')
let dir: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mlcache-hitrate-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = ''
  let err = ''
  const code = await runCommand(argv, { out: (text) => (out += text), err: (text) => (err += text) })
  return { code, out, err }
}

describe('mlcache-bench hitrate', () => {
  it('--json prints one row per size with every column, and --plot writes the chart', async () => {
    const plot = join(dir, 'gli.svg')
    const { code, out } = await run(['hitrate', '--trace', GLI, '--format', 'lirs', '--sizes', '1000,2000', '--l2', '0', '--json', '--plot', plot])
    expect(code).toBe(0)
    const rows = JSON.parse(out) as HitRateRow[]
    expect(rows.map((row) => Object.keys(row))).toEqual([
      ['size', 'l1', 'l2', 'loader', 'lru', 'opt'],
      ['size', 'l1', 'l2', 'loader', 'lru', 'opt'],
    ])
    expect(rows.map((row) => [row.size, row.l1.toFixed(2), row.l2, row.lru.toFixed(2), row.opt.toFixed(2)])).toEqual([
      [1000, '11.21', 0, '11.21', '53.13'],
      [2000, '57.41', 0, '57.41', '57.96'],
    ])
    expect(await readFile(plot, 'utf8')).toMatch(/^<svg /)
  })

  it('prints total - OPT with its sign: positive when L1+L2 beats an OPT of L1 size, with a legend saying so', async () => {
    const { code, out } = await run(['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', '1000', '--l2', '1m'])
    expect(code).toBe(0)
    expect(out).toMatch(/ total - OPT$/m)
    expect(out).not.toMatch(/gap to OPT/)
    // 57.96 % served by L1+L2, 53.13 % by OPT with 1,000 entries: +4.83 points.
    expect(out).toMatch(/^\s+1000\s+11\.21\s+46\.75\s+42\.04\s+57\.96\s+11\.21\s+53\.13\s+\+4\.83$/m)
    expect(out).toContain(TOTAL_MINUS_OPT_LEGEND)
    expect(TOTAL_MINUS_OPT_LEGEND).toMatch(/positive = L1\+L2 beats an L1-sized OPT/)
  })

  it('prints a negative total - OPT when the OPT of L1 size does better (L1 only)', async () => {
    const { code, out } = await run(['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', '1000', '--l2', '0'])
    expect(code).toBe(0)
    expect(out).toMatch(/^\s+1000\s+11\.21\s+0\.00\s+88\.79\s+11\.21\s+11\.21\s+53\.13\s+-41\.92$/m)
  })

  it.each([['--help'], ['-h'], ['hitrate', '--trace', 'x', '--help']])('mlcache-bench %s prints the usage to stdout and exits 0', async (...argv) => {
    const { code, out, err } = await run(argv)
    expect(code).toBe(0)
    expect(out).toMatch(/^usage: mlcache-bench hitrate --trace <file>/)
    expect(out).toMatch(/-h, --help/)
    expect(out).toMatch(/--version/)
    expect(err).toBe('')
  })

  it('mlcache-bench --version prints the package version and exits 0', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
    const { code, out, err } = await run(['--version'])
    expect(code).toBe(0)
    expect(out).toBe(`${version}\n`)
    expect(err).toBe('')
  })

  it.each([
    [['hitrate', '--trace', GLI, '--format', 'foo', '--l1', '10', '--l2', '0'], /--format must be one of arc, lirs, cache2k, lines, got 'foo'/],
    [['hitrate', '--trace', GLI, '--format', 'lirs', '--l2', '0'], /--l1 <entries> or --sizes/],
    [['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', '10'], /--l2 <bytes> is required/],
    [['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', 'ten', '--l2', '0'], /--l1 must be an integer/],
    [['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', '10', '--l2', '1k'], /--l2: the L2 size must be >= 8192/],
    [['hitrate', '--trace', GLI, '--format', 'lirs', '--l1', '10', '--l2', '0', '--bogus'], /Unknown option '--bogus'/],
    [['replay'], /unknown command 'replay'/],
  ])('exits 2 with a message on %j', async (argv, message) => {
    const { code, err } = await run(argv)
    expect(code).toBe(2)
    expect(err).toMatch(message)
    expect(err).toMatch(/^usage: mlcache-bench hitrate/m)
  })

  it('mlcache-bench --help runs as a script: usage on stdout, exit 0', async () => {
    const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs')
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [tsx, 'src/hitrate/cli.ts', '--help'], { cwd: ROOT })
    expect(stdout).toMatch(/^usage: mlcache-bench hitrate/)
    expect(stderr).toBe('')
  })

  it('runs as a script and exits 2 on a bad --format', async () => {
    const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs')
    const result = await promisify(execFile)(process.execPath, [tsx, 'src/hitrate/cli.ts', 'hitrate', '--trace', GLI, '--format', 'csv', '--l1', '5', '--l2', '0'], { cwd: ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    )
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--format must be one of/)
  })
})

describe('plotHitRates', () => {
  const rows: HitRateRow[] = [100, 1000, 5000].map((size, index) => ({ size, l1: 10 * index, l2: 5, loader: 95 - 10 * index, lru: 10 * index, opt: 20 + 10 * index }))

  it('draws one polyline per series, with axes and a legend, in a well-formed SVG', () => {
    const svg = plotHitRates(rows, 'a <trace> & co')
    expect(svg.startsWith('<svg ')).toBe(true)
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
    expect(svg.match(/<polyline /g)).toHaveLength(6)
    expect(svg).not.toMatch(/<path /)
    for (const label of ['MLCache L1+L2', 'MLCache L1', 'MLCache L2', 'loader (misses)', 'exact LRU', 'OPT (Belady)', 'cache size', 'hit rate']) expect(svg).toContain(label)
    expect(svg).toContain('a &#60;trace&#62; &#38; co')
    // Every element is closed: tags opened minus self-closed equals tags closed.
    const opened = svg.match(/<[a-z]/g)?.length ?? 0
    const selfClosed = svg.match(/\/>/g)?.length ?? 0
    const closed = svg.match(/<\/[a-z]+>/g)?.length ?? 0
    expect(opened).toBe(selfClosed + closed)
  })

  it('draws the L2 and loader shares of every row, not only the hit rates', () => {
    // The legend's order is the polylines' order; read each series' y values back from its points.
    const svg = plotHitRates(rows, 't')
    const labels = [...svg.matchAll(/<text x="[\d.]+" y="[\d.]+">([^<]+)<\/text>/g)].map((m) => m[1]).filter((label) => label !== undefined && !/^\d/.test(label))
    const ys = [...svg.matchAll(/<polyline points="([^"]+)"/g)].map((m) => [...m[1]!.matchAll(/,([\d.]+)/g)].map((p) => Number(p[1])))
    const series = new Map(labels.map((label, index) => [label, ys[index]!]))
    // l2 is 5 in every row: a flat line; loader falls by 10 points a row, as l1 rises.
    const l2 = series.get('MLCache L2')!
    expect(new Set(l2).size).toBe(1)
    const loader = series.get('loader (misses)')!
    const l1 = series.get('MLCache L1')!
    expect(loader[1]! - loader[0]!).toBeCloseTo(-(l1[1]! - l1[0]!), 0)
    expect(loader[0]!).toBeLessThan(l2[0]!) // 95 % is drawn above 5 % (SVG y grows downwards)
  })

  it('uses a log x scale when sizes span more than 10x', () => {
    const xs = (svg: string): number[] => [...(svg.match(/<polyline points="([^"]+)"/)?.[1] ?? '').matchAll(/([\d.]+),/g)].map((m) => Number(m[1]))
    const log = xs(plotHitRates(rows, 't'))
    // 100 -> 1000 is one decade, 1000 -> 5000 about 0.7 of one.
    expect((log[2]! - log[1]!) / (log[1]! - log[0]!)).toBeCloseTo(Math.log10(5), 1)
    const linear = xs(plotHitRates(rows.map((row, index) => ({ ...row, size: 100 + index * 100 })), 't'))
    expect(linear[2]! - linear[1]!).toBeCloseTo(linear[1]! - linear[0]!, 0)
  })
})
