/**
 * What a SharedDict tells MLCache about its copy of the entries: `copyId`
 * names the dict in every thread that attaches it and in no other dict, and
 * `forget` deletes or purges, voiding loader-lock fences as it goes.
 */
import { describe, expect, it } from 'vitest'
import { SharedDict } from '../../../src/l2/shared-dict/shared-dict.js'
import { useCheckedDicts } from '../../helpers/shared-dict-invariants.js'
import { nextMessage, useTsWorkers } from '../../helpers/ts-workers.js'

const dicts = useCheckedDicts()
const workers = useTsWorkers()
const ATTACH = new URL('./workers/attach-worker.ts', import.meta.url)
const bytes = (text: string) => new TextEncoder().encode(text)

describe('copyId and forget()', () => {
  it('copyId is 32 hex digits, the same in a worker that attaches the dict, and another for another dict', async () => {
    const dict = dicts.create({ size: '16k' })
    const other = dicts.create({ size: '16k' })
    expect(dict.copyId).toMatch(/^[0-9a-f]{32}$/)
    expect(other.copyId).not.toBe(dict.copyId)
    expect(SharedDict.attach(dict.handle).copyId).toBe(dict.copyId)
    const worker = workers.spawn(ATTACH, { handle: dict.handle })
    try {
      await nextMessage(worker)
      expect(dict.get('copy-id')?.value).toBe(dict.copyId)
    } finally {
      await worker.terminate()
    }
  })

  it('forget(ns, key) deletes the key only and voids the fence of its loader lock', () => {
    const dict = dicts.create({ size: '64k' })
    expect(dict.writeEntry('users', 'a', bytes('old'), 0, 0)).toBe('ok')
    expect(dict.writeEntry('users', 'b', bytes('kept'), 0, 0)).toBe('ok')
    expect(dict.tryLock('users', 'a', 'loader', 10_000)).toBe('acquired')
    dict.forget('users', 'a')
    expect(dict.readEntry('users', 'a')).toBeUndefined()
    expect(dict.readEntry('users', 'b')?.stale).toBe(false)
    // A load that read the old value before the forget cannot write it back.
    expect(dict.writeEntry('users', 'a', bytes('old'), 0, 0, { fence: 'loader' })).toBe('fenced')
    expect(dict.readEntry('users', 'a')).toBeUndefined()
  })

  it('forget(ns) leaves every entry of ns stale, as purgeNamespace(ns, false) does, and other namespaces fresh', () => {
    const dict = dicts.create({ size: '64k' })
    for (const key of ['a', 'b']) expect(dict.writeEntry('users', key, bytes(key), 0, 0, { staleTtl: 60_000 })).toBe('ok')
    expect(dict.writeEntry('posts', 'a', bytes('post'), 0, 0)).toBe('ok')
    expect(dict.tryLock('users', 'b', 'loader', 10_000)).toBe('acquired')
    dict.forget('users')
    for (const key of ['a', 'b']) expect(dict.readEntry('users', key)?.stale ?? true).toBe(true)
    expect(dict.readEntry('posts', 'a')?.stale).toBe(false)
    expect(dict.writeEntry('users', 'b', bytes('b'), 0, 0, { fence: 'loader' })).toBe('fenced')
  })
})
