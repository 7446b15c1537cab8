/**
 * Runs examples/http-worker-pool against the built package (see the global setup): a real HTTP
 * server whose handlers run in 3 worker threads sharing one cache.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
let server: ChildProcess
let base: string

async function request(method: string, path: string): Promise<{ status: number; body: Record<string, unknown> | null }> {
  const response = await fetch(`${base}${path}`, { method })
  const text = await response.text()
  return { status: response.status, body: text === '' ? null : (JSON.parse(text) as Record<string, unknown>) }
}

describe('examples/http-worker-pool', () => {
  beforeAll(async () => {
    server = spawn(process.execPath, ['examples/http-worker-pool/server.mjs'], { cwd: root, env: { ...process.env, PORT: '0', WORKERS: '3' } })
    const [line] = (await once(server.stdout!, 'data')) as [Buffer]
    base = `http://127.0.0.1:${(JSON.parse(line.toString()) as { port: number }).port}`
  }, 60_000)

  afterAll(async () => {
    server.kill('SIGTERM')
    await once(server, 'exit')
  })

  it('serves 30 concurrent requests for a cold user with one loader call across the worker threads', async () => {
    const responses = await Promise.all(Array.from({ length: 30 }, () => request('GET', '/users/7')))
    expect(responses.every((r) => r.status === 200 && r.body?.name === 'user 7')).toBe(true)
    expect(new Set(responses.map((r) => r.body?.loadedBy)).size).toBe(1)
    expect((await request('GET', '/stats')).body).toEqual({ loaderCalls: 1 })
  })

  it('a DELETE in one thread makes every thread load the user again', async () => {
    expect((await request('DELETE', '/users/7')).status).toBe(204)
    const after = await Promise.all(Array.from({ length: 6 }, () => request('GET', '/users/7')))
    expect(after.every((r) => r.status === 200)).toBe(true)
    expect(after.filter((r) => r.body?.hitLevel === 3)).toHaveLength(1)
    expect((await request('GET', '/stats')).body).toEqual({ loaderCalls: 2 })
  })

  it('answers 404 for a user the loader does not find, and caches that', async () => {
    expect((await request('GET', '/users/5000')).status).toBe(404)
    expect((await request('GET', '/users/5000')).status).toBe(404)
    expect((await request('GET', '/stats')).body).toEqual({ loaderCalls: 3 })
  })
})
