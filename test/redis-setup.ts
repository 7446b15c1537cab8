/**
 * Looks for `redis-server` on PATH once per run, for the tests that start a
 * real one (they ask `test/helpers/redis-server.ts`). Without it those tests
 * skip, and this prints one notice naming them and how to install it; with
 * MLCACHE_REQUIRE_REDIS=1 (CI) a missing redis-server fails the run instead,
 * so a skipped Redis test can never pass CI unnoticed.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'
import { redisServerVersion } from '../bench/redis-server.js'

/** Set to 1 (CI does) to make a missing redis-server fail the run rather than skip its tests. */
export const REQUIRE_REDIS_ENV = 'MLCACHE_REQUIRE_REDIS'

/** What a test file that needs redis-server imports: the notice names the files that do. */
const REDIS_HELPER = 'helpers/redis-server.js'

declare module 'vitest' {
  interface ProvidedContext {
    redisServerInstalled: boolean
  }
}

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The test files that use the helper, for the notice. */
function redisTestFiles(): string[] {
  const testDir = join(ROOT, 'test')
  return readdirSync(testDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts') && readFileSync(join(testDir, file), 'utf8').includes(REDIS_HELPER))
    .map((file) => relative(ROOT, join(testDir, file)))
    .sort()
}

export default async function findRedisServer(project: TestProject): Promise<void> {
  const installed = (await redisServerVersion()) !== undefined
  project.provide('redisServerInstalled', installed)
  if (installed) return
  const files = redisTestFiles().join(', ')
  if (process.env[REQUIRE_REDIS_ENV] === '1') {
    throw new Error(`${REQUIRE_REDIS_ENV}=1 but redis-server is not on PATH: the tests that need it (${files}) cannot run. Install it: apt-get install -y redis-server`)
  }
  process.stderr.write(
    `\nNOTICE: redis-server is not on PATH, so the tests that start a real Redis are skipped (${files}). ` +
      `Install it to run them: apt-get install -y redis-server\n\n`,
  )
}
