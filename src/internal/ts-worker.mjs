// Boots a worker thread on a TypeScript entry file when running from sources
// (tests, the benchmark, `npx tsx src/hitrate/cli.ts`): registers tsx's
// loader in this thread, then imports the entry named in workerData.entry.
// The built package starts compiled workers directly and never loads it.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
