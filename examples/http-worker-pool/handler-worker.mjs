// One request handler thread: attaches to the shared dict and bus, and wraps
// a slow lookup in the shared cache. However many threads ask for a cold key
// at once, the lookup runs once.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { MLCache, SharedDict, WorkerBus } from 'mlcache'

const dict = SharedDict.attach(workerData.dict)
const bus = WorkerBus.attach(workerData.bus)
const users = new MLCache('users', { store: dict, bus, ttl: 60_000, negTtl: 5_000 })

async function findUser(id) {
  dict.incr('stats:loader-calls', 1, 0) // counted across every thread
  await new Promise((resolve) => setTimeout(resolve, 200)) // the "database"
  return Number(id) > 1000 ? undefined : { id: Number(id), name: `user ${id}`, loadedBy: threadId }
}

async function handle({ method, url }) {
  // As upstream advises: apply invalidations published before this request,
  // so no thread serves a value another thread deleted before it arrived.
  await users.update()
  const [, resource, id] = url.split('/')
  if (resource === 'stats') return { status: 200, body: { loaderCalls: dict.get('stats:loader-calls')?.value ?? 0 } }
  if (resource !== 'users' || !id) return { status: 404, body: { error: 'not found' } }
  if (method === 'DELETE') {
    await users.delete(id) // L2, this L1, then every other thread's L1
    return { status: 204, body: null }
  }
  const { value, hitLevel } = await users.lookup(id, findUser)
  return value === undefined ? { status: 404, body: { error: 'no such user', hitLevel } } : { status: 200, body: { ...value, hitLevel } }
}

parentPort.on('message', async (request) => {
  try {
    parentPort.postMessage({ id: request.id, ...(await handle(request)) })
  } catch (error) {
    parentPort.postMessage({ id: request.id, status: 500, body: { error: error.message, code: error.code } })
  }
})
