/**
 * Builds `dist/` once before the suite: the package and example tests load
 * the shipped artefact, as users do.
 */
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export default function buildPackage(): void {
  // The mutant check runs only source tests, many times over: it needs no build.
  if (process.env.MLCACHE_SKIP_BUILD === '1') return
  const root = fileURLToPath(new URL('..', import.meta.url))
  // From scratch, as `npm run build` does: tsc leaves behind the outputs of
  // removed sources and options, which the packed tarball would then ship.
  rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true })
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
}
