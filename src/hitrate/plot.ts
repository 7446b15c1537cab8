/**
 * The hit-rate chart: hit rate against cache size, one line per column, as a
 * hand-written SVG (no charting dependency for one chart).
 */
import type { HitRateRow } from './hitrate.js'

/** One line of the chart: its legend, its colour and how a row gives its value. */
interface Series {
  label: string
  colour: string
  dashed: boolean
  value: (row: HitRateRow) => number
}

const SERIES: readonly Series[] = [
  { label: 'MLCache L1+L2', colour: '#1f77b4', dashed: false, value: (row) => row.l1 + row.l2 },
  { label: 'MLCache L1', colour: '#2ca02c', dashed: false, value: (row) => row.l1 },
  // The L2 and loader shares complete the split of the requests (L1 + L2 + loader = 100 %), so the
  // chart shows every column of the table, not only the hit rates.
  { label: 'MLCache L2', colour: '#9467bd', dashed: false, value: (row) => row.l2 },
  { label: 'loader (misses)', colour: '#ff7f0e', dashed: false, value: (row) => row.loader },
  { label: 'exact LRU', colour: '#7f7f7f', dashed: true, value: (row) => row.lru },
  { label: 'OPT (Belady)', colour: '#d62728', dashed: true, value: (row) => row.opt },
]

const WIDTH = 720
const HEIGHT = 440
const LEFT = 64
const RIGHT = 190
const TOP = 40
const BOTTOM = 56
const PLOT_WIDTH = WIDTH - LEFT - RIGHT
const PLOT_HEIGHT = HEIGHT - TOP - BOTTOM

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

function round(value: number): string {
  return String(Math.round(value * 10) / 10)
}

/**
 * The x position of each size: a log scale when the sizes span more than
 * 10x (cache sizes are usually swept geometrically), linear otherwise.
 */
function xScale(sizes: readonly number[]): (size: number) => number {
  const min = Math.min(...sizes)
  const max = Math.max(...sizes)
  if (min === max) return () => LEFT + PLOT_WIDTH / 2
  const f = max / min > 10 ? Math.log10 : (value: number): number => value
  return (size) => LEFT + ((f(size) - f(min)) / (f(max) - f(min))) * PLOT_WIDTH
}

/**
 * An SVG chart of `rows`: hit rate (%) against cache size (entries), one
 * `<polyline>` per series (L1+L2 total, L1, L2, loader, LRU, OPT), with axes, ticks and a
 * legend. `title` is shown above the chart.
 * @throws {RangeError} no rows
 */
export function plotHitRates(rows: readonly HitRateRow[], title: string): string {
  if (rows.length === 0) throw new RangeError('nothing to plot: no rows')
  const sorted = [...rows].sort((a, b) => a.size - b.size)
  const x = xScale(sorted.map((row) => row.size))
  const top = Math.min(100, Math.ceil(Math.max(...sorted.flatMap((row) => SERIES.map((s) => s.value(row)))) / 10) * 10 || 10)
  const y = (percent: number): number => TOP + PLOT_HEIGHT - (percent / top) * PLOT_HEIGHT
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT + PLOT_WIDTH / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
  ]
  for (let percent = 0; percent <= top; percent += top > 50 ? 10 : 5) {
    parts.push(
      `<line x1="${LEFT}" y1="${round(y(percent))}" x2="${LEFT + PLOT_WIDTH}" y2="${round(y(percent))}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 6}" y="${round(y(percent) + 4)}" text-anchor="end">${percent}</text>`,
    )
  }
  for (const { size } of sorted) {
    parts.push(
      `<line x1="${round(x(size))}" y1="${TOP + PLOT_HEIGHT}" x2="${round(x(size))}" y2="${TOP + PLOT_HEIGHT + 5}" stroke="black"/>`,
      `<text x="${round(x(size))}" y="${TOP + PLOT_HEIGHT + 18}" text-anchor="middle">${size.toLocaleString('en-US')}</text>`,
    )
  }
  parts.push(
    `<line x1="${LEFT}" y1="${TOP}" x2="${LEFT}" y2="${TOP + PLOT_HEIGHT}" stroke="black"/>`,
    `<line x1="${LEFT}" y1="${TOP + PLOT_HEIGHT}" x2="${LEFT + PLOT_WIDTH}" y2="${TOP + PLOT_HEIGHT}" stroke="black"/>`,
    `<text x="${LEFT + PLOT_WIDTH / 2}" y="${HEIGHT - 14}" text-anchor="middle">cache size (L1 entries)</text>`,
    `<text transform="translate(18 ${TOP + PLOT_HEIGHT / 2}) rotate(-90)" text-anchor="middle">hit rate (% of requests)</text>`,
  )
  SERIES.forEach((series, index) => {
    const points = sorted.map((row) => `${round(x(row.size))},${round(y(series.value(row)))}`).join(' ')
    const dash = series.dashed ? ' stroke-dasharray="6 4"' : ''
    const legendY = TOP + 10 + index * 22
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${series.colour}" stroke-width="2"${dash}/>`,
      ...sorted.map((row) => `<circle cx="${round(x(row.size))}" cy="${round(y(series.value(row)))}" r="3" fill="${series.colour}"/>`),
      `<line x1="${WIDTH - RIGHT + 16}" y1="${legendY}" x2="${WIDTH - RIGHT + 44}" y2="${legendY}" stroke="${series.colour}" stroke-width="2"${dash}/>`,
      `<text x="${WIDTH - RIGHT + 50}" y="${legendY + 4}">${series.label}</text>`,
    )
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
