/**
 * Plain JavaScript workers for the tests that need many threads: a worker
 * booted through ts-worker.mjs registers tsx first, which costs a quarter of
 * a second of CPU each, too much for a hundred. These tests instead compile
 * `src/bus/worker-bus.ts` and the modules it imports with TypeScript's own
 * transpiler into a temporary directory (which links the repository's
 * `node_modules` for the packages they import), once per test file, and
 * run `.mjs` entries that import the compiled module: the same code,
 * without the loader.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ts from 'typescript'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

/** A compiled copy of the bus: `moduleUrl` to import, `dispose` to delete it. */
export interface CompiledBus {
  /** `file:` URL of the compiled `worker-bus.js`. */
  readonly moduleUrl: string
  dispose(): void
}

/** Compiles `src/bus/worker-bus.ts` and its relative imports to ES modules in a temporary directory. */
export function compileWorkerBus(): CompiledBus {
  const out = mkdtempSync(join(tmpdir(), 'mlcache-bus-'))
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }')
  symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(out, 'node_modules'), 'dir')
  const pending = [join(SRC, 'bus/worker-bus.ts')]
  const done = new Set<string>()
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (done.has(file)) continue
    done.add(file)
    const source = readFileSync(file, 'utf8')
    for (const [, spec] of source.matchAll(/(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
      pending.push(join(dirname(file), (spec as string).replace(/\.js$/, '.ts')))
    }
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    })
    const target = join(out, relative(SRC, file).replace(/\.ts$/, '.js'))
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, outputText)
  }
  return {
    moduleUrl: pathToFileURL(join(out, 'bus/worker-bus.js')).href,
    dispose: () => rmSync(out, { recursive: true, force: true }),
  }
}
