/**
 * Runs examples/cluster-http against the built package (see the global setup): a real node:cluster
 * HTTP server, a primary and 4 worker processes, each worker with a SharedDict of its own and all
 * on one ClusterBus. Connections land on the workers round-robin: every request opens a connection
 * of its own, every answer names its process (`pid`), and the checks that concern every process
 * repeat a request until each live process has answered (bounded).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { request as httpRequest } from 'node:http'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
const WORKERS = 4
let server: ChildProcess | undefined
let port: number

type Body = Record<string, unknown> & { pid: number }
interface Stats {
  loaderCalls: number
  byPid: Record<string, number>
  workers: number[]
  busExits: { workerId: number; crashed: boolean }[]
}

/** One request on a connection of its own (no keep-alive), so that cluster hands it to the next worker. */
function request(method: string, path: string, body?: unknown): Promise<{ status: number; body: Body }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body === undefined ? undefined : JSON.stringify(body))
  })
}

const stats = async (): Promise<Stats> => (await request('GET', '/stats')).body as unknown as Stats

/** Loader calls per process since `before`. */
function loadsSince(before: Stats, after: Stats): Record<string, number> {
  const delta: Record<string, number> = {}
  for (const [pid, calls] of Object.entries(after.byPid)) if (calls !== (before.byPid[pid] ?? 0)) delta[pid] = calls - (before.byPid[pid] ?? 0)
  return delta
}

/**
 * GETs `path` until every live worker process has answered (at most 20 rounds of the pool); answers
 * each process's responses, in order. Fails if a process never answered.
 */
async function fromEveryProcess(path: string): Promise<Map<number, Body[]>> {
  const { workers } = await stats()
  const seen = new Map<number, Body[]>()
  for (let i = 0; i < WORKERS * 20 && workers.some((pid) => !seen.has(pid)); i++) {
    const { status, body } = await request('GET', path)
    expect(status).toBe(200)
    seen.set(body.pid, [...(seen.get(body.pid) ?? []), body])
  }
  expect([...seen.keys()].sort()).toEqual([...workers].sort())
  return seen
}

describe('examples/cluster-http', () => {
  beforeAll(async () => {
    // Its own process group: the cleanup can kill the workers too, whatever state the primary is in.
    server = spawn(process.execPath, ['examples/cluster-http/server.mjs'], {
      cwd: root,
      env: { ...process.env, PORT: '0', WORKERS: String(WORKERS) },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    })
    const [line] = (await Promise.race([
      once(createInterface({ input: server.stdout! }), 'line'),
      once(server, 'exit').then(([code, signal]) => Promise.reject(new Error(`the server exited before listening (${signal ?? code})`))),
    ])) as [string]
    port = (JSON.parse(line) as { port: number }).port
  }, 60_000)

  afterAll(async () => {
    if (server === undefined) return
    if (server.exitCode === null && server.signalCode === null) {
      const exited = once(server, 'exit')
      server.kill('SIGTERM')
      await Promise.race([exited, sleep(5_000)])
    }
    try {
      process.kill(-server.pid!, 'SIGKILL') // whatever is left of the group (the workers, if the primary is stuck or gone)
    } catch {
      // the group is gone already
    }
  })

  it('serves concurrent requests for a cold user with one loader call per process (each process has its own lock)', async () => {
    const before = await stats()
    const responses = await Promise.all(Array.from({ length: 40 }, () => request('GET', '/users/7')))
    expect(responses.every((r) => r.status === 200 && r.body.name === 'user 7')).toBe(true)
    const served = new Set(responses.map((r) => String(r.body.pid)))
    // Every process that served the cold user loaded it once, however many of the requests it got.
    const loads = loadsSince(before, await stats())
    expect(Object.keys(loads).sort()).toEqual([...served].sort())
    expect(Object.values(loads).every((calls) => calls === 1)).toBe(true)
  })

  it('a DELETE in one process, then POST /update, makes every process load the user again (no old copy in any L1 or SharedDict)', async () => {
    await fromEveryProcess('/users/8') // every process has user 8 in its L1 and its SharedDict
    const before = await stats()
    const deleted = await request('DELETE', '/users/8')
    expect(deleted.status).toBe(200)
    const updated = await request('POST', '/update')
    expect((updated.body.updated as number[]).sort()).toEqual([...before.workers].sort())

    const after = await fromEveryProcess('/users/8')
    for (const [, [first]] of after) expect(first).toMatchObject({ id: 8, name: 'user 8', hitLevel: 3 })
    const loads = loadsSince(before, await stats())
    expect(Object.keys(loads).sort()).toEqual(before.workers.map(String).sort())
    expect(Object.values(loads).every((calls) => calls === 1)).toBe(true)
  })

  it('a PUT in one process, then POST /update, is what every process serves (never the old value)', async () => {
    await fromEveryProcess('/users/9')
    const put = await request('PUT', '/users/9', { name: 'Ada' })
    expect(put).toMatchObject({ status: 200, body: { id: 9, name: 'Ada' } })
    await request('POST', '/update')

    const after = await fromEveryProcess('/users/9')
    for (const [pid, responses] of after) {
      for (const body of responses) expect(body).toMatchObject({ id: 9, name: 'Ada' })
      // The process that made the change has it in L1; every other one loads it from the database.
      expect(responses[0]!.hitLevel).toBe(pid === put.body.pid ? 1 : 3)
    }
  })

  it('a worker killed with SIGKILL is respawned by the primary, the bus reports its crash, and the server keeps answering', async () => {
    const before = await stats()
    const victim = before.workers[0]!
    process.kill(victim, 'SIGKILL')

    let now = before
    for (let i = 0; i < 200 && (now.workers.includes(victim) || now.workers.length < WORKERS); i++) {
      await sleep(50)
      now = await stats().catch(() => now) // a connection handed to the dying worker may fail: ask again
    }
    expect(now.workers).not.toContain(victim)
    expect(now.workers).toHaveLength(WORKERS)
    expect(now.busExits.filter((exit) => exit.crashed)).toHaveLength(before.busExits.filter((exit) => exit.crashed).length + 1)

    // Every process answers, the respawned one included (it starts with an empty L1 and SharedDict).
    const respawned = now.workers.find((pid) => !before.workers.includes(pid))!
    const after = await fromEveryProcess('/users/10')
    expect(after.get(respawned)![0]).toMatchObject({ id: 10, name: 'user 10', hitLevel: 3 })
  })
})
