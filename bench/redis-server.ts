/**
 * A throwaway redis-server for the scenarios that measure the peers over
 * Redis: started from `redis-server` on PATH, on a free loopback port, with
 * no config file and no persistence (`--save '' --appendonly no`, a
 * temporary `--dir`), and stopped by the scenario in a `finally`. A system
 * Redis (a service on 6379) is never used.
 *
 * If this process ends without `stop()` (an uncaught error, a signal) the
 * server is killed on the way out, so no redis-server outlives the bench.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { type AddressInfo, connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'

export interface RedisServer {
  /** The loopback port it listens on. */
  port: number
  /** `redis://127.0.0.1:<port>` */
  url: string
  /** What `redis-server --version` reports, e.g. `7.0.15`. */
  version: string
  /** Stops the server (SIGTERM, then waits for it to exit) and removes its directory; safe to call twice. */
  stop(): Promise<void>
  /** Kills the server with SIGKILL (an outage with no goodbye) and waits for it to exit. */
  kill(): Promise<void>
  /** Freezes the server with SIGSTOP: its sockets stay open and nothing answers. */
  pause(): void
  /** Thaws a paused server with SIGCONT. */
  resume(): void
  /** Starts the server again on the same port (killing it first if it runs) and waits until it answers PING; its data is gone. */
  restart(): Promise<void>
}

/** How long the server may take to answer PING. */
const START_TIMEOUT_MS = 10_000
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000
/** How much of the server's output an error quotes. */
const OUTPUT_LIMIT = 4_096

/** The version of the `redis-server` on PATH, or `undefined` if there is none. */
export async function redisServerVersion(): Promise<string | undefined> {
  try {
    const { stdout } = await promisify(execFile)('redis-server', ['--version'], { timeout: 5_000 })
    // "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=..."
    return /\bv=(\S+)/.exec(stdout)?.[1] ?? stdout.trim()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** A port free on 127.0.0.1 right now: listen on port 0, read the port, close. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Whether a server on `port` answers `PING` with `+PONG` (a raw RESP inline command). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let answer = ''
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.on('error', () => done(false))
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'))
    })
    socket.on('end', () => done(false))
  })
}

/** Resolves when `child` has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/**
 * Starts a redis-server of its own on a free loopback port and waits until
 * it answers PING; answers `undefined` if `redis-server` is not on PATH.
 * Throws (with the server's output) if it exits or does not answer within
 * 10 s; the server is then already stopped.
 */
export async function startRedisServer(): Promise<RedisServer | undefined> {
  const version = await redisServerVersion()
  if (version === undefined) return undefined
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), 'mlcache-bench-redis-'))
  // Not detached: it stays in this process group, so a terminal's Ctrl-C reaches it too.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'yes', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir]
  let output = ''
  let spawnError: Error | undefined
  let child = spawnServer()

  function spawnServer(): ChildProcess {
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    // Redis logs to stdout: keep draining both pipes (a full pipe would block the server), keep the tail.
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT)
    }
    started.stdout?.on('data', keep)
    started.stderr?.on('data', keep)
    started.on('error', (error) => {
      spawnError = error
    })
    return started
  }

  const running = () => child.exitCode === null && child.signalCode === null
  const killNow = () => {
    if (running()) child.kill('SIGKILL')
  }
  // The safety net: kill the server (and remove its directory) if this process exits or is signalled before stop().
  const cleanUpNow = () => {
    killNow()
    rmSync(dir, { recursive: true, force: true })
  }
  const onSignal = (signal: NodeJS.Signals) => {
    cleanUpNow()
    removeSafetyNet()
    // Nobody else handles it: let the signal do what it would have done without us.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const removeSafetyNet = () => {
    process.off('exit', cleanUpNow)
    for (const signal of signals) process.off(signal, onSignal)
  }
  process.on('exit', cleanUpNow)
  for (const signal of signals) process.on(signal, onSignal)

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (running()) {
        // A paused server would never act on SIGTERM.
        child.kill('SIGCONT')
        child.kill('SIGTERM')
        const timer = setTimeout(killNow, STOP_TIMEOUT_MS)
        await exited(child)
        clearTimeout(timer)
      }
      removeSafetyNet()
      await rm(dir, { recursive: true, force: true })
    })()
    return stopping
  }

  const waitForPing = async (): Promise<void> => {
    const deadline = performance.now() + START_TIMEOUT_MS
    for (;;) {
      if (spawnError !== undefined) throw spawnError
      if (!running()) {
        throw new Error(`redis-server exited (${child.signalCode ?? `exit code ${child.exitCode}`}) before answering PING`)
      }
      if (await ping(port)) return
      if (performance.now() > deadline) throw new Error(`redis-server did not answer PING on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms`)
      await sleep(50)
    }
  }

  try {
    await waitForPing()
  } catch (error) {
    await stop()
    throw new Error(`${(error as Error).message}; its output:\n${output.trim() || '(none)'}`, { cause: error })
  }

  const kill = async (): Promise<void> => {
    killNow()
    await exited(child)
  }
  const restart = async (): Promise<void> => {
    if (stopping !== undefined) throw new Error('redis-server was stopped')
    await kill()
    child = spawnServer()
    await waitForPing()
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    version,
    stop,
    kill,
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    restart,
  }
}
