/**
 * Without redis-server on PATH the Redis tests skip with one notice, and
 * with MLCACHE_REQUIRE_REDIS=1 (as CI runs) the same run fails: a nested
 * vitest over test/bench/redis-server.test.ts, with a PATH holding only node.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { REQUIRE_REDIS_ENV } from '../redis-setup.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const bin = mkdtempSync(join(tmpdir(), 'mlcache-no-redis-'))
symlinkSync(process.execPath, join(bin, 'node'))

/** Runs vitest on the Redis test file with `bin` as the whole PATH; answers its exit code and output. */
function vitestWithoutRedis(env: Record<string, string>): { status: number | null; output: string } {
  // The outer run's own VITEST_* variables would confuse the nested one; the build is not needed.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== REQUIRE_REDIS_ENV))
  const run = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--project', 'default', 'test/bench/redis-server.test.ts'],
    { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...inherited, PATH: bin, MLCACHE_SKIP_BUILD: '1', NO_COLOR: '1', ...env } },
  )
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

describe('tests that need redis-server, on a machine without it', { timeout: 60_000 }, () => {
  afterAll(() => rmSync(bin, { recursive: true, force: true }))

  it('skip with exactly one notice naming them and how to install redis-server; the run passes', () => {
    const { status, output } = vitestWithoutRedis({})
    expect(status, output).toBe(0)
    expect(output.match(/NOTICE: redis-server is not on PATH/g), output).toHaveLength(1)
    expect(output).toMatch(/\([^)]*test\/bench\/redis-server.test.ts[^)]*\)/)
    expect(output).toContain('apt-get install -y redis-server')
    expect(output).toMatch(/1 passed \| 2 skipped/)
  })

  it(`fail the run when ${REQUIRE_REDIS_ENV}=1`, () => {
    const { status, output } = vitestWithoutRedis({ [REQUIRE_REDIS_ENV]: '1' })
    expect(status, output).not.toBe(0)
    expect(output).toContain(`${REQUIRE_REDIS_ENV}=1 but redis-server is not on PATH`)
    expect(output).not.toMatch(/passed/)
  })
})
