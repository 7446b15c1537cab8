// Boots a benchmark worker thread on a TypeScript entry file: registers tsx's
// loader in this thread, then imports the entry named in workerData.entry
// (a copy of test/helpers/ts-worker.mjs, so the benchmark does not depend on
// the test helpers).
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
