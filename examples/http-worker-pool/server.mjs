// An HTTP server whose request handlers run in a pool of worker_threads, all
// sharing one mlcache: one SharedDict (L2) and one WorkerBus for invalidations.
//
//   npm run build && node examples/http-worker-pool/server.mjs
//   curl localhost:3000/users/42        # first call: ~200 ms (the "database"), then cached
//   curl -X DELETE localhost:3000/users/42
//   curl localhost:3000/stats           # loader calls across every worker
import { createServer } from 'node:http'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { SharedDict, WorkerBus } from 'mlcache'

const dict = SharedDict.create({ size: '64m' })
const bus = WorkerBus.create()
const size = Number(process.env.WORKERS ?? Math.max(2, availableParallelism()))
const workers = Array.from({ length: size }, () =>
  new Worker(new URL('./handler-worker.mjs', import.meta.url), { workerData: { dict: dict.handle, bus: bus.handle } }),
)

// A minimal pool: round-robin, one pending map per request id.
let next = 0
let requestId = 0
const pending = new Map()
for (const worker of workers) {
  worker.on('message', ({ id, status, body }) => {
    const respond = pending.get(id)
    pending.delete(id)
    respond?.(status, body)
  })
}
function dispatch(request) {
  return new Promise((resolve) => {
    const id = ++requestId
    pending.set(id, (status, body) => resolve({ status, body }))
    workers[next++ % workers.length].postMessage({ id, ...request })
  })
}

const server = createServer(async (req, res) => {
  const { status, body } = await dispatch({ method: req.method, url: req.url })
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
})
server.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(JSON.stringify({ port: server.address().port, workers: size }))
})

process.on('SIGTERM', async () => {
  server.close()
  await Promise.all(workers.map((worker) => worker.terminate()))
  await bus.close()
})
