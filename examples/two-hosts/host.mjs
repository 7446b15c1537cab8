// One "host": an HTTP server whose handlers run in THREADS worker_threads
// (default 2) sharing this host's SharedDict (L2 and loader locks) and one
// WorkerBus, whose main-thread end relays to the one RedisBus of this host:
// the threads reach the other hosts through it (Kong's topology: a shared
// dict per node, cluster events between nodes).
//
//   HOST_NAME=A PORT=3001 REDIS_URL=redis://127.0.0.1:6379 DB_URL=http://127.0.0.1:4000 node examples/two-hosts/host.mjs
import { createServer } from 'node:http'
import { Worker } from 'node:worker_threads'
import { SharedDict, WorkerBus } from 'mlcache'
import { RedisBus } from 'mlcache/redis'

const name = process.env.HOST_NAME ?? 'A'
const onError = (error) => console.error(`host ${name}: ${error.message}${error.cause ? ` (${error.cause.message})` : ''}`)
// One RedisBus (two Redis connections) for the whole host, however many threads.
const upstream = new RedisBus({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', prefix: 'two-hosts:', onError })
const bus = WorkerBus.create({ upstream, onError })
const dict = SharedDict.create({ size: '16m' })
const size = Number(process.env.THREADS ?? 2)
const workerData = { dict: dict.handle, bus: bus.handle, host: name, dbUrl: process.env.DB_URL }
const threads = Array.from({ length: size }, () => new Worker(new URL('./handler-thread.mjs', import.meta.url), { workerData }))

// A minimal pool: one pending map per request id; a request goes to one thread, round-robin, or to every thread.
let next = 0
let requestId = 0
const pending = new Map()
for (const thread of threads) {
  thread.on('message', ({ id, status, body }) => {
    const respond = pending.get(id)
    pending.delete(id)
    respond?.({ status, body })
  })
}
function dispatch(thread, request) {
  return new Promise((resolve) => {
    const id = ++requestId
    pending.set(id, resolve)
    thread.postMessage({ id, ...request })
  })
}
// Every thread has joined the bus once it answers.
await Promise.all(threads.map((thread) => dispatch(thread, { method: 'READY' })))

const server = createServer(async (req, res) => {
  let body = ''
  for await (const chunk of req) body += chunk
  const request = { method: req.method, url: req.url, body }
  let answer
  if (req.method === 'POST' && req.url === '/update') {
    // Every thread of this host drains its bus: each one applies every invalidation published before.
    const updated = await Promise.all(threads.map((thread) => dispatch(thread, request)))
    const failed = updated.find(({ status }) => status !== 200)
    answer = failed ?? { status: 200, body: { updated: updated.map(({ body }) => body.thread) } }
  } else {
    answer = await dispatch(threads[next++ % threads.length], request)
  }
  res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...answer.body, host: name }))
})
server.listen(Number(process.env.PORT ?? 3001), () => {
  console.log(JSON.stringify({ host: name, port: server.address().port, threads: size }))
})

process.on('SIGTERM', async () => {
  server.close()
  server.closeIdleConnections() // keep-alive connections would hold the process until they time out
  await Promise.all(threads.map((thread) => dispatch(thread, { method: 'CLOSE' })))
  await Promise.all(threads.map((thread) => thread.terminate()))
  await bus.close() // stops relaying
  await upstream.close() // says goodbye to the other hosts
})
