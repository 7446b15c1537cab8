#!/usr/bin/env node
/**
 * The `mlcache-bench` executable: `mlcache-bench hitrate --trace <file> ...`
 * (usage in `command.ts`). Exits 2 on a bad command line, 1 when the replay fails.
 */
import { runCommand } from './command.js'

try {
  process.exitCode = await runCommand(process.argv.slice(2), {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  })
} catch (error) {
  process.stderr.write(`mlcache-bench: ${error instanceof Error ? error.message : String(error)}\n`)
  process.exitCode = 1
}
