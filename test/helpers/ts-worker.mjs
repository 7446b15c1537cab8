// Boots a worker thread on a TypeScript entry file: registers tsx's loader in
// this thread, then imports the entry named in workerData.entry.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
