/**
 * MLCache on `diagnostics_channel`: each traced call publishes start, end,
 * asyncStart and asyncEnd (or error) on its tracing channel, with the
 * cache name, the key and the outcome in the context.
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { CacheTraceContext, GetTraceContext } from '../../src/diagnostics/tracing.js'
import { LoaderError } from '../../src/errors.js'
import { countingLoader, testCache } from '../helpers/cache-factory.js'

type Phase = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'

/** Subscribes to every phase of `tracing:<name>:*` for the test; answers the recorded `[phase, context copy]` pairs. */
function record<C extends object>(name: string): [Phase, C][] {
  const events: [Phase, C][] = []
  const on = (phase: Phase) => (message: unknown) => void events.push([phase, { ...(message as C) }])
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') }
  const channel = tracingChannel(name)
  channel.subscribe(handlers)
  onTestFinished(() => void channel.unsubscribe(handlers))
  return events
}

/** The contexts of the `asyncEnd` events: one per traced call that settled. */
const settled = <C>(events: [Phase, C][]): C[] => events.filter(([phase]) => phase === 'asyncEnd').map(([, context]) => context)

describe('diagnostics_channel tracing', () => {
  it('get() and lookup() publish on mlcache:get with the cache, the key and the hitLevel of every level', async () => {
    const events = record<GetTraceContext>('mlcache:get')
    const { cache, lru } = testCache('users')
    expect(await cache.get('k', () => 'v')).toBe('v')
    expect(await cache.get('k')).toBe('v')
    lru.delete('k')
    expect(await cache.lookup('k')).toEqual({ value: 'v', hitLevel: 2, stale: false })
    expect(await cache.get('missing')).toBeUndefined()
    expect(settled(events).map(({ cache: name, key, hitLevel, stale }) => [name, key, hitLevel, stale])).toEqual([
      ['users', 'k', 3, false],
      ['users', 'k', 1, false],
      ['users', 'k', 2, false],
      ['users', 'missing', -1, false],
    ])
    // Every call publishes start, end (the synchronous part), asyncStart and asyncEnd, in that order.
    expect(events.slice(0, 4).map(([phase]) => phase)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    expect(settled(events)[1]?.result).toBe('v')
  })

  it('a resurrected value is traced with hitLevel 4 and stale: true', async () => {
    const events = record<GetTraceContext>('mlcache:get')
    const { cache, clock } = testCache('users', { ttl: 100, resurrectTtl: 1_000 })
    await cache.get('k', () => 'old')
    clock.advance(200)
    expect(await cache.lookup('k', () => Promise.reject(new Error('database down')))).toMatchObject({ value: 'old', hitLevel: 4, stale: true })
    expect(settled(events).at(-1)).toMatchObject({ key: 'k', hitLevel: 4, stale: true })
  })

  it('a loader that throws is traced as an error on mlcache:load and on mlcache:get; a hit runs no load', async () => {
    const gets = record<GetTraceContext>('mlcache:get')
    const loads = record<CacheTraceContext>('mlcache:load')
    const { cache } = testCache('users')
    await expect(cache.get('k', () => Promise.reject(new Error('database down')))).rejects.toBeInstanceOf(LoaderError)
    const loader = countingLoader(() => 'v')
    await cache.get('k', loader)
    await cache.get('k', loader)
    expect(loads.filter(([phase]) => phase === 'start').map(([, context]) => context)).toEqual([
      { cache: 'users', key: 'k' },
      { cache: 'users', key: 'k' },
    ])
    const loadErrors = loads.filter(([phase]) => phase === 'error').map(([, context]) => context.error as LoaderError)
    expect(loadErrors).toHaveLength(1)
    expect(loadErrors[0]).toBeInstanceOf(LoaderError)
    expect((loadErrors[0]?.cause as Error).message).toBe('database down')
    expect(settled(loads).at(-1)?.result).toMatchObject({ value: 'v' })
    const getErrors = gets.filter(([phase]) => phase === 'error').map(([, context]) => context.error)
    expect(getErrors).toHaveLength(1)
    expect(getErrors[0]).toBeInstanceOf(LoaderError)
  })

  it('get() with a bad key rejects (never throws) and is traced as an error', async () => {
    const events = record<GetTraceContext>('mlcache:get')
    const { cache } = testCache('users')
    const answer = cache.get(42 as unknown as string)
    await expect(answer).rejects.toBeInstanceOf(TypeError)
    expect(events.filter(([phase]) => phase === 'error')).toHaveLength(1)
  })

  it('set() is traced on mlcache:set, delete() and purge() on mlcache:delete (a purge without a key)', async () => {
    const sets = record<CacheTraceContext>('mlcache:set')
    const deletes = record<CacheTraceContext>('mlcache:delete')
    const { cache } = testCache('users')
    await cache.set('k', 'v')
    await cache.delete('k')
    await cache.purge()
    expect(settled(sets).map(({ cache: name, key }) => [name, key])).toEqual([['users', 'k']])
    expect(settled(deletes).map(({ cache: name, key }) => [name, key])).toEqual([
      ['users', 'k'],
      ['users', undefined],
    ])
  })

  it('set() that fails is traced as an error on mlcache:set', async () => {
    const sets = record<CacheTraceContext>('mlcache:set')
    const { cache } = testCache('users')
    await expect(cache.set('k', (() => undefined) as unknown as string)).rejects.toMatchObject({ code: 'E_ENCODE' })
    expect(sets.filter(([phase]) => phase === 'error').map(([, context]) => (context.error as { code: string }).code)).toEqual(['E_ENCODE'])
  })
})
