import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type RedisServer, startRedisServer } from '../../bench/redis-server.js'
import { redisServerInstalled } from '../helpers/redis-server.js'

/** Sends one inline command and answers the first reply line. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    let answer = ''
    socket.on('error', reject)
    socket.on('connect', () => socket.write(`${line}\r\n`))
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n')) {
        socket.destroy()
        resolve(answer.slice(0, answer.indexOf('\r\n')))
      }
    })
  })
}

describe('bench redis-server', () => {
  let server: RedisServer | undefined
  const path = process.env.PATH
  afterEach(async () => {
    process.env.PATH = path
    await server?.stop()
    server = undefined
  })

  // Skipped without redis-server (test/redis-setup.ts prints why); required on CI.
  it.runIf(redisServerInstalled)('startRedisServer() starts a server of its own on a loopback port, and stop() ends it', async () => {
    server = await startRedisServer()
    if (server === undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)')
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`)
    expect(server.version).toMatch(/^\d+\.\d+/)
    expect(await command(server.port, 'SET k v')).toBe('+OK')
    expect(await command(server.port, 'CONFIG GET save')).toBe('*2')
    await server.stop()
    await expect(command(server.port, 'PING')).rejects.toThrow(/ECONNREFUSED/)
    // stop() twice is harmless.
    await server.stop()
  })

  it.runIf(redisServerInstalled)('pause() freezes the server until resume(), and kill() then restart() brings it back empty on the same port', async () => {
    server = await startRedisServer()
    if (server === undefined) throw new Error('redis-server is not installed (apt-get install -y redis-server)')
    const { port } = server
    expect(await command(port, 'SET k v')).toBe('+OK')
    server.pause()
    const frozen = await Promise.race([command(port, 'PING'), new Promise((resolve) => setTimeout(() => resolve('no answer'), 300))])
    expect(frozen).toBe('no answer')
    server.resume()
    expect(await command(port, 'GET k')).toBe('$1')
    await server.kill()
    await expect(command(port, 'PING')).rejects.toThrow(/ECONNREFUSED/)
    await server.restart()
    expect(await command(port, 'PING')).toBe('+PONG')
    expect(await command(port, 'GET k')).toBe('$-1')
  })

  it('startRedisServer() answers undefined when redis-server is not on PATH', async () => {
    process.env.PATH = '/nonexistent'
    server = await startRedisServer()
    expect(server).toBeUndefined()
  })
})
