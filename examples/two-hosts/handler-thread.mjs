// One request handler thread of a host: attaches to the host's SharedDict
// and WorkerBus (which reaches the other hosts through the main thread's
// RedisBus), and serves the users through the cache.
import { parentPort, threadId, workerData } from 'node:worker_threads'
import { MLCache, SharedDict, WorkerBus } from 'mlcache'

const { host, dbUrl } = workerData
const dict = SharedDict.attach(workerData.dict)
const bus = WorkerBus.attach(workerData.bus)
const users = new MLCache('users', { store: dict, bus, ttl: 60_000, negTtl: 5_000 })

// The loader (L3): a query to the database, ~100 ms; counted there per host.
async function findUser(id) {
  const response = await fetch(`${dbUrl}/users/${id}?host=${host}`)
  if (response.status === 404) return undefined
  if (!response.ok) throw new Error(`database: HTTP ${response.status}`)
  return response.json()
}

async function handle({ method, url, body }) {
  const [, resource, id] = url.split('/')
  if (method === 'READY' || (method === 'POST' && resource === 'update')) {
    // Drains the WorkerBus and, through the main thread, the RedisBus: every invalidation
    // published before, on any host, is applied here (for READY: Redis is subscribed).
    await users.update()
    return { status: 200, body: { thread: threadId } }
  }
  if (method === 'GET' && resource === 'stats') {
    const { loaderCalls } = await (await fetch(`${dbUrl}/stats`)).json()
    return { status: 200, body: { loaderCalls: loaderCalls[host] ?? 0 } }
  }
  if (resource !== 'users' || !id) return { status: 404, body: { error: 'not found' } }
  if (method === 'DELETE') {
    // This host's SharedDict and this L1, then every other L1 of this host, and every other
    // host's SharedDict and L1s. Resolves once the main thread has handed the event to Redis
    // (if Redis is down, that fails there and is reported to its onError).
    await users.delete(id)
    return { status: 200, body: { deleted: Number(id) } }
  }
  if (method === 'PUT') {
    const response = await fetch(`${dbUrl}/users/${id}`, { method: 'PUT', body })
    const user = await response.json()
    await users.set(id, user)
    return { status: 200, body: user }
  }
  if (method !== 'GET') return { status: 405, body: { error: 'method not allowed' } }
  const { value, hitLevel } = await users.lookup(id, findUser)
  return value === undefined ? { status: 404, body: { error: 'no such user', hitLevel } } : { status: 200, body: { ...value, hitLevel } }
}

parentPort.on('message', async (request) => {
  if (request.method === 'CLOSE') {
    await users.close()
    await bus.close()
    parentPort.postMessage({ id: request.id, status: 200, body: {} })
    return
  }
  let answer
  try {
    answer = await handle(request)
  } catch (error) {
    answer = { status: 500, body: { error: error.message, code: error.code } }
  }
  parentPort.postMessage({ id: request.id, status: answer.status, body: { ...answer.body, thread: threadId } })
})
