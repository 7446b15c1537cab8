import { describe, expect, it } from 'vitest'
import { median, percentile } from '../../bench/harness.js'
import { Report } from '../../bench/report.js'

const META = { node: 'v20', cpus: '2 x test', commit: 'abc', date: '2026-01-01' }

describe('bench report', () => {
  it('merge() of a part sent between processes keeps results, ratios, tables, notes and files', () => {
    const child = new Report()
    child.results.set('L1 hit', new Map([['Map.get', 2e7], ['MLCache.get', 6e6]]))
    child.compare(child.results.get('L1 hit') as Map<string, number>, 'L1 hit', 'MLCache.get', 'Map.get', 0.25)
    child.check('stampede', 'loader calls', 1, '', 'max', 1)
    child.tables.push({ title: 'T', header: ['a', 'b'], rows: [['x', '1']] })
    child.notes.push('a note')
    child.files.set('chart.svg', '<svg/>')
    // What crosses the IPC channel: structured-cloneable plain data.
    const parent = new Report()
    parent.merge(structuredClone(child.part()))
    expect(parent.markdown(META)).toBe(child.markdown(META))
    expect(parent.json(META)).toBe(child.json(META))
    expect(parent.ratios[0]?.ratio).toBeCloseTo(0.3)
    expect(parent.files).toEqual(new Map([['chart.svg', '<svg/>']]))
  })

  it('median and percentile', () => {
    expect(median([3, 1, 2])).toBe(2)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3)
    expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5)
  })
})
