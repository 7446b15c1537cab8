// One cluster worker process: its own SharedDict (this process's L2 and
// loader locks, as each nginx host of Kong has its own lua_shared_dict), its
// end of the primary's ClusterBus, and an HTTP server on the shared port.
import { createServer } from 'node:http'
import { ClusterBus, isClusterBusMessage, MLCache, SharedDict } from 'mlcache'

const dict = SharedDict.create({ size: '16m' })
const bus = ClusterBus.attach()
const users = new MLCache('users', { store: dict, bus, ttl: 60_000, negTtl: 5_000 })

// Requests to the primary (the "database", the stats, an update of every process) and its requests to us.
let nextRid = 0
const answers = new Map()
function ask(message) {
  return new Promise((resolve, reject) => {
    const rid = ++nextRid
    answers.set(rid, (reply) => (reply.error === undefined ? resolve(reply.body) : reject(new Error(reply.error))))
    process.send({ ...message, rid })
  })
}
process.on('message', async (message) => {
  if (isClusterBusMessage(message) || typeof message?.app !== 'string') return
  if (message.app === 'answer') {
    answers.get(message.rid)?.(message)
    answers.delete(message.rid)
  } else if (message.app === 'update') {
    await users.update() // every invalidation the broker relayed to this process before is applied
    process.send({ app: 'answer', rid: message.rid, body: process.pid })
  }
})

// The loader (L3): a query to the database, ~100 ms. `null` there means "no such user".
async function findUser(id) {
  return (await ask({ app: 'findUser', id: Number(id) })) ?? undefined
}

async function readBody(req) {
  let text = ''
  for await (const chunk of req) text += chunk
  return text === '' ? {} : JSON.parse(text)
}

async function handle(req) {
  const [, resource, id] = req.url.split('/')
  if (req.method === 'GET' && resource === 'stats') return { status: 200, body: await ask({ app: 'stats' }) }
  if (req.method === 'POST' && resource === 'update') return { status: 200, body: await ask({ app: 'update' }) }
  if (resource !== 'users' || !id) return { status: 404, body: { error: 'not found' } }
  if (req.method === 'DELETE') {
    // This process's L2 and L1, then every other process drops the user from its SharedDict and its L1.
    await users.delete(id)
    // Our own event came back through the broker: it has been relayed to every process, so an
    // update() anywhere after this response applies it.
    await users.update()
    return { status: 200, body: { deleted: Number(id) } }
  }
  if (req.method === 'PUT') {
    const { name } = await readBody(req)
    const user = await ask({ app: 'saveUser', id: Number(id), user: { id: Number(id), name } })
    await users.set(id, user) // this process's L2 and L1; the other processes forget their copies
    await users.update()
    return { status: 200, body: user }
  }
  if (req.method !== 'GET') return { status: 405, body: { error: 'method not allowed' } }
  const { value, hitLevel } = await users.lookup(id, findUser)
  return value === undefined ? { status: 404, body: { error: 'no such user', hitLevel } } : { status: 200, body: { ...value, hitLevel } }
}

const server = createServer(async (req, res) => {
  let status
  let body
  try {
    ;({ status, body } = await handle(req))
  } catch (error) {
    ;({ status, body } = { status: 500, body: { error: error.message, code: error.code } })
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ ...body, pid: process.pid }))
})
server.listen(Number(process.env.PORT ?? 3000))
