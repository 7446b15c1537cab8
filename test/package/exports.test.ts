/**
 * The shipped artefact: `dist/` (built by the global setup), loaded the way
 * users load it, from ESM and through Node's require(esm).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

describe('package exports', () => {
  it("import('mlcache') loads the built package and caches a value", () => {
    const script = `
      const { MLCache, SharedDict, LocalBus, LoaderError } = await import('mlcache')
      const cache = new MLCache('smoke', { store: SharedDict.create({ size: '1m' }) })
      const value = await cache.get('k', () => ({ ok: true }))
      await cache.close()
      console.log(JSON.stringify({ value, bus: typeof LocalBus, error: new LoaderError('x').code }))`
    expect(JSON.parse(node(['--input-type=module', '-e', script]))).toEqual({ value: { ok: true }, bus: 'function', error: 'E_LOADER' })
  })

  it("require('mlcache') works through Node's require(esm)", () => {
    const script = `const m = require('mlcache'); console.log([typeof m.MLCache, typeof m.SharedDict, typeof m.MLCacheError].join())`
    expect(node(['--no-warnings', '-e', script])).toBe('function,function,function')
  })

  it("require('mlcache/testing') exposes the contract suites and the invariant checker", () => {
    const script = `const t = require('mlcache/testing'); console.log(Object.keys(t).sort().join())`
    expect(node(['--no-warnings', '-e', script])).toBe('checkSharedDictInvariants,registerEventBusContract,registerL2StoreContract,registerLockStoreContract,registerValueStoreContract')
  })

  it("import('mlcache/otel') loads, and nothing it loads imports @opentelemetry/api at run time (it only needs the caller's Meter)", () => {
    const script = `const otel = await import('mlcache/otel'); console.log(Object.keys(otel).join())`
    expect(node(['--input-type=module', '-e', script])).toBe('observeMLCache')
    const built = readdirSync(join(root, 'dist/otel')).filter((file) => file.endsWith('.js'))
    expect(built.length).toBeGreaterThan(0)
    const runtimeImport = /^\s*(?:import|export)\b[^\n]*from\s+['"]@opentelemetry\/|import\(\s*['"]@opentelemetry\/|require\(\s*['"]@opentelemetry\//m
    for (const file of built) expect(readFileSync(join(root, 'dist/otel', file), 'utf8')).not.toMatch(runtimeImport)
  })
})
