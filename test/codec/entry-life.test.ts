import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { entryFlags, isKnownFormat } from '../../src/codec/codec.js'
import { lifetimeOf, withLifetime } from '../../src/codec/entry-life.js'

describe('entry lifetimes in flags', () => {
  it('withLifetime() keeps TTLs below 2,048 ms exactly and leaves the low 16 bits alone', () => {
    for (const flags of [entryFlags(false, false), entryFlags(true, true), 0xffff]) {
      for (const ttl of [1, 2, 100, 2_047]) {
        const stamped = withLifetime(flags, ttl)
        expect(lifetimeOf(stamped)).toBe(ttl)
        expect(stamped & 0xffff).toBe(flags & 0xffff)
        expect(isKnownFormat(stamped)).toBe(isKnownFormat(flags))
      }
    }
  })

  it('lifetimeOf() answers undefined for flags without a lifetime and for ttl 0 ("never expires")', () => {
    expect(lifetimeOf(entryFlags(false, false))).toBeUndefined()
    expect(lifetimeOf(withLifetime(entryFlags(false, false), 0))).toBeUndefined()
    // Rewriting with 0 clears a lifetime stamped before.
    expect(lifetimeOf(withLifetime(withLifetime(0, 5_000), 0))).toBeUndefined()
  })

  it('withLifetime() rounds any TTL up, within 0.1 %, and stays a uint32', () => {
    fc.assert(
      fc.property(fc.double({ min: 0.001, max: 2 ** 41, noNaN: true }), fc.integer({ min: 0, max: 0xffff_ffff }), (ttl, flags) => {
        const stamped = withLifetime(flags, ttl)
        expect(Number.isInteger(stamped) && stamped >= 0 && stamped <= 0xffff_ffff).toBe(true)
        const life = lifetimeOf(stamped) as number
        expect(life).toBeGreaterThanOrEqual(ttl)
        expect(life).toBeLessThanOrEqual(Math.max(Math.ceil(ttl), ttl * 1.001))
      }),
      { numRuns: 2_000 },
    )
  })

  it('withLifetime() caps TTLs beyond about 139 years at the largest lifetime it holds', () => {
    const largest = lifetimeOf(withLifetime(0, Number.MAX_SAFE_INTEGER)) as number
    expect(largest).toBe(2_047 * 2 ** 31)
    expect(lifetimeOf(withLifetime(0, Infinity))).toBe(largest)
  })
})
