// A worker that never loads mlcache: it starts the TypeScript entry it is
// given (through the same boot file as every test worker) and relays that
// worker's messages both ways. The grandchild is therefore created by a
// thread that does not supervise it: nobody reaps it when it dies, as for a
// worker started by a plain library.
//
// Protocol with the parent, besides the relayed messages: `{ relayed: id }`
// first (the grandchild's thread id); `{ relayExit: code }` when the
// grandchild has exited; the parent's `{ relayTerminate: true }` terminates
// the grandchild. The relay itself stays until it is terminated.
import { parentPort, Worker, workerData } from 'node:worker_threads'

const { boot, data } = workerData
const child = new Worker(new URL(boot), { workerData: data })
parentPort.postMessage({ relayed: child.threadId })
child.on('message', (message) => parentPort.postMessage(message))
child.on('error', (error) => {
  throw error
})
child.on('exit', (code) => parentPort.postMessage({ relayExit: code }))
parentPort.on('message', (message) => {
  if (message?.relayTerminate === true) void child.terminate()
  else child.postMessage(message)
})
