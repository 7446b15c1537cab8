/**
 * The published artefact as an application sees it: `npm pack` of this
 * repository (dist/ is built by the global setup), installed with npm into a
 * fresh temporary app outside the repository, then loaded by real Node
 * processes and type-checked by this repository's TypeScript.
 *
 * The install uses `--prefer-offline`: the tarball's dependencies (msgpackr,
 * lru-cache, async-mutex and theirs) come from the npm cache that installing
 * this repository filled, and the registry is asked only for what the cache
 * lacks. That is the install users run, with the versions they would get; a
 * hand-made node_modules of symlinks would not show a missing dependency or a
 * broken `files` list. vitest, the optional peer of `mlcache/testing`, is
 * linked from this repository as an app that uses the contract suites has it.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedisServer } from '../../bench/redis-server.js'
import { redisServerInstalled } from '../helpers/redis-server.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const require = createRequire(import.meta.url)
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

let dir: string
let app: string
let packed: { filename: string; files: { path: string }[] }

function write(name: string, text: string): void {
  writeFileSync(join(app, name), text)
}

/** Runs a Node process in the app; returns its stdout, or throws with its stderr. */
function node(args: string[], env: Record<string, string> = {}): string {
  const run = spawnSync(process.execPath, ['--no-warnings', ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, ...env } })
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${run.status}:\n${run.stderr}`)
  return run.stdout.trim()
}

/** Type-checks the app's files under one tsconfig; returns tsc's diagnostics ('' when clean). */
function tsc(config: string): string {
  const run = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', config], { cwd: app, encoding: 'utf8' })
  return `${run.stdout}${run.stderr}`.trim()
}

const ESM = `
  import { MLCache, SharedDict } from 'mlcache'
  import * as testing from 'mlcache/testing'
  const cache = new MLCache('packed', { store: SharedDict.create({ size: '1m' }) })
  const value = await cache.get('k', () => ({ ok: true }))
  await cache.close()
  console.log(JSON.stringify({ value, testing: Object.keys(testing).sort() }))
`

const CJS = `
  const { MLCache, SharedDict } = require('mlcache')
  const testing = require('mlcache/testing')
  const cache = new MLCache('packed', { store: SharedDict.create({ size: '1m' }) })
  cache.get('k', () => ({ ok: true })).then(async (value) => {
    await cache.close()
    console.log(JSON.stringify({ value, testing: Object.keys(testing).sort() }))
  })
`

const TYPES = `
  import { MLCache, SharedDict, type HitLevel } from 'mlcache'
  import { registerL2StoreContract, type L2StoreContractOptions } from 'mlcache/testing'
  const cache: MLCache<{ ok: boolean }> = new MLCache('typed', { store: SharedDict.create({ size: '1m' }) })
  export const level: Promise<HitLevel> = cache.lookup('k', () => ({ ok: true })).then((r) => r.hitLevel)
  export const register: typeof registerL2StoreContract = registerL2StoreContract
  export type Options = L2StoreContractOptions
`

const LOADED = { value: { ok: true }, testing: ['checkSharedDictInvariants', 'registerEventBusContract', 'registerL2StoreContract', 'registerLockStoreContract', 'registerValueStoreContract'] }

/** The first ```ts block under the README heading `heading`. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.split(new RegExp(`^## ${heading}$`, 'm'))[1]
  const block = section?.match(/^```ts\n([\s\S]*?)^```$/m)?.[1]
  if (block === undefined) throw new Error(`README.md has no \`\`\`ts block under "## ${heading}"`)
  return block
}

/** Compiles a README example to a JavaScript ES module, as a user pasting it into a .ts file would. */
function transpile(source: string): string {
  return ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
}

describe('the packed package', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mlcache-packed-'))
    // dist/ is fresh from the global setup, so the pack skips the prepack build.
    const out = execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' })
    packed = (JSON.parse(out) as (typeof packed)[])[0]!
    app = join(dir, 'app')
    mkdirSync(app)
    write('package.json', JSON.stringify({ name: 'app', private: true, type: 'module' }))
    execFileSync(npm, ['install', join(dir, packed.filename), '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      encoding: 'utf8',
    })
    symlinkSync(join(root, 'node_modules/vitest'), join(app, 'node_modules/vitest'), 'junction')
  }, 60_000)

  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('the packed tarball holds every file its package.json points to, under every condition, and no source maps into sources it leaves out', () => {
    const files = new Set(packed.files.map((f) => f.path))
    const manifest = JSON.parse(readFileSync(join(app, 'node_modules/mlcache/package.json'), 'utf8')) as Record<string, unknown>
    const targets: string[] = []
    const collect = (value: unknown): void => {
      if (typeof value === 'string') targets.push(value)
      else if (Array.isArray(value)) value.forEach(collect)
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect)
    }
    collect([manifest.exports, manifest.main, manifest.types, manifest.bin, manifest.typesVersions])
    expect(targets.filter((t) => !files.has(t.replace(/^\.\//, '')))).toEqual([])
    expect([...files].filter((f) => f.endsWith('.map'))).toEqual([])
  })

  it('the packed tarball imports mlcache and mlcache/testing from ESM with and without the development condition', () => {
    write('esm.mjs', ESM)
    expect(JSON.parse(node(['esm.mjs']))).toEqual(LOADED)
    expect(JSON.parse(node(['--conditions=development', 'esm.mjs']))).toEqual(LOADED)
  })

  it('the packed tarball imports mlcache and mlcache/testing from CommonJS with and without the development condition', () => {
    write('cjs.cjs', CJS)
    expect(JSON.parse(node(['cjs.cjs']))).toEqual(LOADED)
    expect(JSON.parse(node(['--conditions=development', 'cjs.cjs']))).toEqual(LOADED)
  })

  it('a TypeScript file importing mlcache and mlcache/testing type-checks under moduleResolution nodenext and node10', () => {
    write('typed.ts', TYPES)
    write('typed.cts', TYPES)
    // skipLibCheck, as most apps set it: the package's own declarations are checked by its build.
    const options = { strict: true, skipLibCheck: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }
    write('tsconfig.nodenext.json', JSON.stringify({ compilerOptions: { ...options, module: 'nodenext', moduleResolution: 'nodenext' }, files: ['typed.ts', 'typed.cts'] }))
    write('tsconfig.node10.json', JSON.stringify({ compilerOptions: { ...options, module: 'commonjs', moduleResolution: 'node10' }, files: ['typed.ts'] }))
    expect(tsc('tsconfig.nodenext.json')).toBe('')
    expect(tsc('tsconfig.node10.json')).toBe('')
  })

  // The README's first example must run as pasted: it defines every name it uses.
  it("the README's quick start runs as pasted in an app that installed the package", () => {
    write('quick-start.mjs', transpile(readmeBlock('Quick start')))
    expect(() => node(['quick-start.mjs'])).not.toThrow()
  })

  it("the README's configuration reload example runs as pasted: the snapshot reads page 2 after warmup and one swap", () => {
    write('reload.mjs', transpile(readmeBlock('Swapping the whole cache \\(configuration reloads\\)')))
    expect(node(['reload.mjs'])).toMatch(/path: '\/a'.*upstream: 'http:\/\/a:8080'.* 2$/s)
  })

  it("the README's worker_threads example (main.ts and worker.ts) runs as pasted: four workers attach and exit cleanly", () => {
    const [main, worker] = readmeBlock('Sharing one cache between worker_threads').split(/^\/\/ worker\.ts$/m)
    if (worker === undefined) throw new Error('the example has no "// worker.ts" part')
    // The example's main file starts './worker.js': compiled ES modules, in a folder of type "module".
    mkdirSync(join(app, 'threads'))
    write('threads/package.json', JSON.stringify({ type: 'module' }))
    write('threads/main.js', transpile(main!))
    write('threads/worker.js', transpile(worker))
    expect(() => node(['threads/main.js'])).not.toThrow()
  })
  it('mlcache/redis loads without ioredis (an optional peer) installed, and a RedisStore or RedisBus made from a url says what to install', () => {
    const probe = (make: string) => `
      import * as redis from 'mlcache/redis'
      try { ${make}; console.log('made') } catch (error) { console.log(Object.keys(redis).sort().join(',') + ' | ' + error.message) }
    `
    write('no-ioredis-store.mjs', probe("new redis.RedisStore({ url: 'redis://127.0.0.1:1' })"))
    write('no-ioredis-bus.mjs', probe("new redis.RedisBus({ url: 'redis://127.0.0.1:1' })"))
    const expected = "RedisBus,RedisStore | mlcache/redis needs the 'ioredis' package (an optional peer dependency of mlcache): npm install ioredis"
    expect(node(['no-ioredis-store.mjs'])).toBe(expected)
    expect(node(['no-ioredis-bus.mjs'])).toBe(expected)
    write('no-ioredis.cjs', "const { RedisStore } = require('mlcache/redis'); console.log(typeof RedisStore)")
    expect(node(['no-ioredis.cjs'])).toBe('function')
  })

  it.runIf(redisServerInstalled)("the README's Redis quick start runs as pasted once ioredis is installed, against a real redis-server", async () => {
    execFileSync(npm, ['install', 'ioredis', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, encoding: 'utf8' })
    const server = await startRedisServer()
    if (server === undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)')
    try {
      const quickStart = readmeBlock('Across processes and hosts \\(Redis\\)')
      write('redis-quick-start.mjs', transpile(quickStart))
      expect(node(['redis-quick-start.mjs'], { REDIS_URL: server.url })).toBe("{ id: 42, name: 'Ada' }")
      // As pasted into a TypeScript module of the app, it type-checks too.
      write('redis-quick-start.ts', `${quickStart}export {}\n`)
      write('redis-typed.ts', "import { RedisBus, RedisStore } from 'mlcache/redis'\nexport const made: [RedisStore, RedisBus] | undefined = undefined\n")
      const options = { strict: true, skipLibCheck: true, noEmit: true, types: ['node'], typeRoots: [join(root, 'node_modules/@types')] }
      write('tsconfig.redis.json', JSON.stringify({ compilerOptions: { ...options, target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext' }, files: ['redis-typed.ts', 'redis-quick-start.ts'] }))
      write('tsconfig.redis10.json', JSON.stringify({ compilerOptions: { ...options, module: 'commonjs', moduleResolution: 'node10' }, files: ['redis-typed.ts'] }))
      expect(tsc('tsconfig.redis.json')).toBe('')
      expect(tsc('tsconfig.redis10.json')).toBe('')
    } finally {
      await server.stop()
    }
  }, 60_000)
})
