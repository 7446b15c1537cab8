/**
 * Builds `dist/` once before the suite: the package and example tests load
 * the shipped artefact, as users do.
 */
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

export default function buildPackage(): void {
  // The mutant check runs only source tests, many times over: it needs no build.
  if (process.env.MLCACHE_SKIP_BUILD === '1') return
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: 'inherit' })
}
