/**
 * Runs examples/two-hosts against the built package (see the global setup) and a real
 * redis-server of its own: a stand-in database and two "hosts", A and B, each a process whose
 * HTTP handlers run in 2 worker_threads sharing the host's SharedDict, invalidating each other
 * over Redis. Requests go to a host's threads round-robin; every answer names its host and
 * thread, and the checks that concern every thread repeat a request until each has answered.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const THREADS = 2

type Body = Record<string, unknown> & { host: string; thread: number }
type Host = 'A' | 'B'

describe.runIf(redisServerInstalled)('examples/two-hosts', () => {
  const server = useRedisServer()
  let start: ChildProcess | undefined
  let stderr = ''
  const ports = {} as Record<Host, number>

  async function request(host: Host, method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
    const response = await fetch(`http://127.0.0.1:${ports[host]}${path}`, body === undefined ? { method } : { method, body: JSON.stringify(body) })
    return { status: response.status, body: (await response.json()) as Body }
  }

  const loaderCalls = async (host: Host): Promise<number> => (await request(host, 'GET', '/stats')).body.loaderCalls as number

  /** GETs `path` on `host` until each of its threads has answered (bounded); answers the responses in order. */
  async function fromEveryThread(host: Host, path: string): Promise<Body[]> {
    const responses: Body[] = []
    const threads = new Set<number>()
    for (let i = 0; i < THREADS * 10 && threads.size < THREADS; i++) {
      const { status, body } = await request(host, 'GET', path)
      expect(status).toBe(200)
      responses.push(body)
      threads.add(body.thread)
    }
    expect(threads.size).toBe(THREADS)
    return responses
  }

  /** Each thread's first response among `responses`. */
  const firstOfEachThread = (responses: Body[]): Body[] => [...new Map(responses.toReversed().map((body) => [body.thread, body])).values()]

  beforeAll(async () => {
    // Its own process group: the cleanup kills the hosts too, whatever state start.mjs is in.
    start = spawn(process.execPath, ['examples/two-hosts/start.mjs'], {
      cwd: root,
      env: { ...process.env, PORT: '0', REDIS_URL: server().url },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    start.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const [line] = (await Promise.race([
      once(createInterface({ input: start.stdout! }), 'line'),
      once(start, 'exit').then(([code, signal]) => Promise.reject(new Error(`start.mjs exited before the hosts served (${signal ?? code}): ${stderr}`))),
    ])) as [string]
    Object.assign(ports, JSON.parse(line) as Record<Host, number>)
  }, 30_000)

  afterAll(async () => {
    if (start === undefined) return
    if (start.exitCode === null && start.signalCode === null) {
      const exited = once(start, 'exit')
      start.kill('SIGTERM')
      await Promise.race([exited, sleep(5_000)])
    }
    try {
      process.kill(-start.pid!, 'SIGKILL') // whatever is left of the group (the hosts)
    } catch {
      // the group is gone already
    }
  })

  it('concurrent requests for a cold user make one loader call per host (each host has its own locks)', async () => {
    const [beforeA, beforeB] = [await loaderCalls('A'), await loaderCalls('B')]
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => request(i % 2 === 0 ? 'A' : 'B', 'GET', '/users/7')))
    expect(responses.every((r) => r.status === 200 && r.body.name === 'user 7')).toBe(true)
    expect([(await loaderCalls('A')) - beforeA, (await loaderCalls('B')) - beforeB]).toEqual([1, 1])
  })

  it('a DELETE on host A, then POST /update on B, makes B load the user again: no thread of B serves its old copy from L1 or its SharedDict', async () => {
    await fromEveryThread('A', '/users/8')
    await fromEveryThread('B', '/users/8') // both threads of B hold user 8 in L1, and B's SharedDict too
    const before = await loaderCalls('B')

    expect((await request('A', 'DELETE', '/users/8')).status).toBe(200)
    const updated = await request('B', 'POST', '/update')
    expect(updated.status).toBe(200)
    expect(updated.body.updated).toHaveLength(THREADS)

    const after = await fromEveryThread('B', '/users/8')
    expect(after[0]).toMatchObject({ id: 8, name: 'user 8', hitLevel: 3 })
    // The other thread finds no old L1 copy: it reads what the first one loaded (2), or loads too.
    for (const first of firstOfEachThread(after)) expect(first.hitLevel).not.toBe(1)
    expect((await loaderCalls('B')) - before).toBe(1)
  })

  it('a PUT on host A, then POST /update on B, is what every thread of B serves (never the old value)', async () => {
    await fromEveryThread('A', '/users/9')
    await fromEveryThread('B', '/users/9')

    expect(await request('A', 'PUT', '/users/9', { name: 'Ada' })).toMatchObject({ status: 200, body: { id: 9, name: 'Ada' } })
    expect((await request('B', 'POST', '/update')).status).toBe(200)

    const after = await fromEveryThread('B', '/users/9')
    for (const body of after) expect(body).toMatchObject({ id: 9, name: 'Ada' })
  })

  it('each host reaches Redis through one RedisBus (two connections), not one per thread', async () => {
    const admin = new Redis(server().url)
    try {
      const clients = ((await admin.call('CLIENT', 'LIST')) as string).trim().split('\n')
      expect(clients).toHaveLength(2 * 2 + 1) // two per host, and this one
    } finally {
      admin.disconnect()
    }
  })

  it('a DELETE on A while Redis is down (its relay to Redis fails) leads B, once Redis is back, to a resync that clears its L1 and its SharedDict copy', async () => {
    await fromEveryThread('A', '/users/20')
    await fromEveryThread('B', '/users/20')
    const before = await loaderCalls('B')

    await server().kill()
    // A's own SharedDict and L1 drop the user; the thread's publish resolves once A's main thread
    // has tried to hand the event to Redis, which failed: that is reported to the host's onError.
    expect((await request('A', 'DELETE', '/users/20')).status).toBe(200)
    for (let i = 0; i < 50 && !/host A: .*failed/.test(stderr); i++) await sleep(100)
    expect(stderr).toMatch(/host A: .*failed/)
    await server().restart()

    // B's threads resubscribe and resync: L1 cleared and B's SharedDict copy forgotten, so B loads
    // again. Until then B serves its copy, as any cache cut off from its invalidations would.
    let reloaded: Body | undefined
    for (let i = 0; i < 150 && reloaded === undefined; i++) {
      const { status, body } = await request('B', 'GET', '/users/20')
      expect(status).toBe(200)
      if (body.hitLevel === 3) reloaded = body
      else await sleep(100)
    }
    expect(reloaded).toMatchObject({ id: 20, name: 'user 20', hitLevel: 3 })
    expect((await loaderCalls('B')) - before).toBeGreaterThanOrEqual(1)
    // The bus works again: B's threads drain it.
    expect((await request('B', 'POST', '/update')).status).toBe(200)
  })
})
