// Starts a stand-in database and two "hosts" (A and B), each one process
// with its own SharedDict whose request handlers run in worker_threads, all
// invalidating each other over one Redis server.
//
//   npm run build && REDIS_URL=redis://127.0.0.1:6379 node examples/two-hosts/start.mjs
//   curl localhost:3001/users/42                  # host A
//   curl -X DELETE localhost:3001/users/42        # A forgets it, and B forgets its own copy
//   curl -X POST localhost:3002/update            # B's threads apply every invalidation so far
//   curl localhost:3002/users/42                  # host B loads it again
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const basePort = Number(process.env.PORT ?? 3001) // A on PORT, B on PORT + 1; 0: free ports

// The database both hosts read: users 1..1000 exist, a PUT replaces one; each query takes ~100 ms
// and is counted per host (the hosts' loader calls).
const saved = new Map()
const loaderCalls = {}
const db = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://db')
  const [, resource, id] = url.pathname.split('/')
  const reply = (status, body) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  if (resource === 'stats') return reply(200, { loaderCalls })
  if (resource !== 'users' || !id) return reply(404, { error: 'not found' })
  if (req.method === 'PUT') {
    let text = ''
    for await (const chunk of req) text += chunk
    const user = { ...JSON.parse(text), id: Number(id) }
    saved.set(user.id, user)
    return reply(200, user)
  }
  const host = url.searchParams.get('host') ?? '?'
  loaderCalls[host] = (loaderCalls[host] ?? 0) + 1
  await new Promise((resolve) => setTimeout(resolve, 100))
  const user = saved.get(Number(id)) ?? (Number(id) >= 1 && Number(id) <= 1000 ? { id: Number(id), name: `user ${id}` } : undefined)
  return user === undefined ? reply(404, { error: 'no such user' }) : reply(200, user)
})
db.listen(0, '127.0.0.1')
await once(db, 'listening')
const dbUrl = `http://127.0.0.1:${db.address().port}`

// Each host prints one line, {"host":..., "port":...}, once it serves.
async function startHost(name, port) {
  const host = spawn(process.execPath, [new URL('./host.mjs', import.meta.url).pathname], {
    env: { ...process.env, HOST_NAME: name, PORT: String(port), REDIS_URL: redisUrl, DB_URL: dbUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: host.stdout })
  const [line] = await Promise.race([
    once(lines, 'line'),
    once(host, 'exit').then(([code]) => Promise.reject(new Error(`host ${name} exited (${code})`))),
  ])
  lines.on('line', (more) => console.log(more))
  return { process: host, port: JSON.parse(line).port }
}
const hosts = await Promise.all([startHost('A', basePort), startHost('B', basePort === 0 ? 0 : basePort + 1)])
console.log(JSON.stringify({ db: dbUrl, A: hosts[0].port, B: hosts[1].port }))

process.on('SIGTERM', async () => {
  await Promise.all(hosts.map(({ process: host }) => (host.exitCode === null ? (host.kill('SIGTERM'), once(host, 'exit')) : undefined)))
  db.close()
})
