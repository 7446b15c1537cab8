import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { MaxHeap } from '../../src/hitrate/max-heap.js'
import { lruHits, optHits, toIds } from '../../src/hitrate/policies.js'
import { loadTrace } from '../../src/hitrate/readers.js'

const GLI = fileURLToPath(new URL('../fixtures/gli.lirs.gz', import.meta.url))
const percent = (hits: number, requests: number): string => ((100 * hits) / requests).toFixed(2)

describe('reference policies', () => {
  it('MaxHeap pops in decreasing priority', () => {
    const heap = new MaxHeap()
    const priorities = Array.from({ length: 3000 }, (_, index) => (index * 7919) % 3001)
    priorities.forEach((priority, item) => heap.push(priority, item))
    const popped: number[] = []
    while (heap.size > 0) popped.push(priorities[heap.pop()]!)
    expect(popped).toEqual([...priorities].sort((a, b) => b - a))
  })

  it('LRU and OPT on a hand-checked trace', () => {
    // LRU with 2 entries: c evicts a, d evicts c, b was evicted by a: no hit.
    const ids = toIds(['a', 'b', 'c', 'a', 'd', 'b'])
    expect(lruHits(ids, 2)).toBe(0)
    expect(lruHits(ids, 3)).toBe(1)
    // OPT with 2: a b | c evicts b (next use 5 > a's 3) | a hit | d evicts a (never again) | b miss.
    expect(optHits(ids, 2)).toBe(1)
    expect(optHits(ids, 3)).toBe(2)
    expect(optHits(ids, 0)).toBe(0)
  })

  it('reproduces the published LRU and OPT figures of gli', async () => {
    const ids = toIds(await loadTrace(GLI, 'lirs'))
    const figures = [1000, 1500, 2000].map((size) => [percent(lruHits(ids, size), ids.length), percent(optHits(ids, size), ids.length)])
    expect(figures).toEqual([
      ['11.21', '53.13'],
      ['36.56', '57.96'],
      ['57.41', '57.96'],
    ])
  })
})
