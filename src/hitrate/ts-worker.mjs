// Boots a replay worker from TypeScript sources (tests, `npx tsx src/hitrate/cli.ts`):
// registers tsx's loader in this thread, then imports workerData.entry. The
// built package starts dist/hitrate/replay-worker.js directly and never loads it.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
