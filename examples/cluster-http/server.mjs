// A node:cluster HTTP server: the primary forks WORKERS processes that share
// the port; each keeps its own SharedDict (its L2 and its loader locks) and
// all of them, the primary included, are members of one ClusterBus that
// carries invalidations. The primary also plays the database the workers
// read through their loaders, and respawns a worker that dies.
//
//   npm run build && node examples/cluster-http/server.mjs
//   curl localhost:3000/users/42        # first call in a process: ~100 ms (the "database"), then cached
//   curl -X DELETE localhost:3000/users/42
//   curl -X POST localhost:3000/update  # every process applies the invalidations published so far
//   curl localhost:3000/stats           # loader calls per process
import cluster from 'node:cluster'
import { once } from 'node:events'
import { ClusterBus, isClusterBusMessage, WORKER_SOURCE } from 'mlcache'

const size = Number(process.env.WORKERS ?? 4)
const port = Number(process.env.PORT ?? 3000)

// Create the bus before forking: the primary's end is the broker.
const bus = ClusterBus.create()
const busExits = []
bus.subscribe(WORKER_SOURCE, 'exit', ({ workerId, crashed }) => {
  busExits.push({ workerId, crashed })
})

// The "database": users 1..1000 exist ({ id, name }), a PUT replaces one.
// Every query is counted per process: that count is the number of loader calls.
const saved = new Map()
const loaderCalls = {}
function findUser(id) {
  if (saved.has(id)) return saved.get(id)
  return id >= 1 && id <= 1000 ? { id, name: `user ${id}` } : null
}

// A tiny request/answer protocol over cluster's IPC channels, next to the bus's own messages.
let nextRid = 0
const answers = new Map()
function ask(worker, message) {
  const rid = ++nextRid
  const answered = new Promise((resolve) => answers.set(rid, resolve))
  worker.send({ ...message, rid }, () => undefined) // a closed channel: the 'exit' below answers
  // A worker that dies before answering answers nothing.
  const stop = new AbortController()
  const died = once(worker, 'exit', { signal: stop.signal }).then(() => undefined, () => undefined)
  return Promise.race([answered, died]).finally(() => {
    answers.delete(rid)
    stop.abort()
  })
}

function liveWorkers() {
  return Object.values(cluster.workers).filter((worker) => worker.isConnected())
}

async function answer(worker, { app, id, user }) {
  const pid = worker.process.pid
  switch (app) {
    case 'findUser':
      loaderCalls[pid] = (loaderCalls[pid] ?? 0) + 1
      await new Promise((resolve) => setTimeout(resolve, 100)) // the query's latency
      return findUser(id)
    case 'saveUser':
      saved.set(id, user)
      return user
    case 'update': {
      // Every live process drains the bus: it has then applied every invalidation published before.
      const updated = await Promise.all(liveWorkers().map((each) => ask(each, { app: 'update' })))
      return { updated: updated.filter((pid) => pid !== undefined) }
    }
    case 'stats':
      return {
        loaderCalls: Object.values(loaderCalls).reduce((sum, calls) => sum + calls, 0),
        byPid: loaderCalls,
        workers: liveWorkers().map((each) => each.process.pid),
        busExits,
      }
    default:
      throw new Error(`unknown request ${app}`)
  }
}

cluster.on('message', async (worker, message) => {
  if (isClusterBusMessage(message) || typeof message?.app !== 'string') return
  if (message.app === 'answer') {
    answers.get(message.rid)?.(message.body)
    return
  }
  let reply
  try {
    reply = { app: 'answer', rid: message.rid, body: await answer(worker, message) }
  } catch (error) {
    reply = { app: 'answer', rid: message.rid, error: error.message }
  }
  if (worker.isConnected()) worker.send(reply, () => undefined)
})

// Workers: forked at start, and again whenever one dies (a crash, a SIGKILL).
let stopping = false
cluster.setupPrimary({ exec: new URL('./app-worker.mjs', import.meta.url).pathname })
cluster.on('exit', (worker, code, signal) => {
  if (stopping) return
  console.error(`worker ${worker.process.pid} died (${signal ?? code}); forking another`)
  cluster.fork({ PORT: String(port) })
})
let listening = 0
cluster.on('listening', (worker, address) => {
  // Workers that listen on port 0 share the one port cluster picked for the first.
  if (++listening === size) console.log(JSON.stringify({ port: address.port, workers: size }))
})
for (let i = 0; i < size; i++) cluster.fork({ PORT: String(port) })

process.on('SIGTERM', async () => {
  stopping = true
  await Promise.all(
    Object.values(cluster.workers).map((worker) => {
      const exited = once(worker, 'exit')
      worker.kill() // disconnects the worker (it closes its server), then SIGTERM
      return exited
    }),
  )
  await bus.close()
})
