/**
 * RedisLink against a real redis-server that the tests kill, pause and
 * restart: every call settles within its timeout, an open breaker fails
 * calls without sending them, a probe closes it, and a recovery is
 * announced once per outage.
 */
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { RedisLink, RedisUnavailableError, resolveLinkOptions } from '../../src/redis/redis-link.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

const KNOWN = new Set(['url', 'client', 'prefix', 'commandTimeout'])

/** The number of commands of `name` the server has processed (INFO commandstats). */
async function processed(url: string, name: string): Promise<number> {
  const raw = new Redis(url)
  try {
    const info = await raw.info('commandstats')
    return Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
  } finally {
    raw.disconnect()
  }
}

describe('resolveLinkOptions()', () => {
  it('needs exactly one of url and client, and names a bad option', () => {
    expect(() => resolveLinkOptions(undefined, KNOWN)).toThrow(/^options must be an object/)
    expect(() => resolveLinkOptions({}, KNOWN)).toThrow(/exactly one of url and client/)
    expect(() => resolveLinkOptions({ url: 'redis://x', client: {} }, KNOWN)).toThrow(/exactly one of url and client/)
    expect(() => resolveLinkOptions({ url: '' }, KNOWN)).toThrow(/^options\.url /)
    expect(() => resolveLinkOptions({ client: {} }, KNOWN)).toThrow(/^options\.client must be an ioredis client/)
    expect(() => resolveLinkOptions({ url: 'redis://x', prefix: 1 }, KNOWN)).toThrow(/^options\.prefix /)
    expect(() => resolveLinkOptions({ url: 'redis://x', commandTimeout: 0 }, KNOWN)).toThrow(RangeError)
    expect(() => resolveLinkOptions({ url: 'redis://x', commandTimeout: 2 ** 31 }, KNOWN)).toThrow(/options\.commandTimeout/)
    expect(() => resolveLinkOptions({ url: 'redis://x', comandTimeout: 5 }, KNOWN)).toThrow(/options\.comandTimeout is not a known option/)
  })

  it("defaults prefix to 'mlcache:' and commandTimeout to 1000", () => {
    expect(resolveLinkOptions({ url: 'redis://x' }, KNOWN)).toEqual({ connection: { url: 'redis://x' }, prefix: 'mlcache:', commandTimeout: 1000 })
  })
})

describe.runIf(redisServerInstalled)('RedisLink', () => {
  const server = useRedisServer()
  const links: RedisLink[] = []
  const open = (commandTimeout = 200) => {
    const link = new RedisLink({ url: server().url }, commandTimeout)
    links.push(link)
    return link
  }
  afterEach(async () => {
    await Promise.all(links.splice(0).map((link) => link.close()))
    server().resume()
  })

  it('run() answers what Redis answers, and passes reply errors through without opening the breaker', async () => {
    const link = open()
    expect(await link.run((client) => client.set('link:k', 'v'))).toBe('OK')
    expect(await link.run((client) => client.get('link:k'))).toBe('v')
    const error = await link.run((client) => client.incr('link:k')).catch((e: unknown) => e)
    expect(error).toHaveProperty('name', 'ReplyError')
    expect(error).not.toBeInstanceOf(RedisUnavailableError)
    expect(link.available).toBe(true)
  })

  it('run() rejects a call Redis does not answer within commandTimeout, then fails calls without sending them until a probe succeeds', async () => {
    const link = open(150)
    await link.run((client) => client.ping())
    server().pause()
    const timedOut = await link.run((client) => client.get('link:paused')).catch((e: unknown) => e)
    expect(timedOut).toBeInstanceOf(RedisUnavailableError)
    expect((timedOut as Error).message).toMatch(/did not answer within 150 ms/)
    expect(link.available).toBe(false)
    const before = await Promise.race([processed(server().url, 'exists'), new Promise<'paused'>((resolve) => setTimeout(() => resolve('paused'), 50))])
    expect(before).toBe('paused')
    // With the breaker open, a burst fails at once: nothing is queued for the frozen server.
    const burst = await Promise.allSettled(Array.from({ length: 300 }, () => link.run((client) => client.exists('link:burst'))))
    expect(burst.every((result) => result.status === 'rejected' && result.reason instanceof RedisUnavailableError)).toBe(true)
    server().resume()
    await vi.waitFor(() => expect(link.available).toBe(true), { timeout: 5_000, interval: 20 })
    expect(await processed(server().url, 'exists')).toBe(0)
    expect(await link.run((client) => client.get('link:paused'))).toBeNull()
  })

  it('onRecovered() listeners run once per outage, after a kill and a restart', async () => {
    const link = open(150)
    const recovered = vi.fn()
    const stop = link.onRecovered(recovered)
    await link.run((client) => client.set('link:r', '1'))
    await server().kill()
    await expect(link.run((client) => client.get('link:r'))).rejects.toBeInstanceOf(RedisUnavailableError)
    await expect(link.run((client) => client.get('link:r'))).rejects.toThrow(/unavailable/)
    await server().restart()
    await vi.waitFor(() => expect(recovered).toHaveBeenCalledTimes(1), { timeout: 5_000, interval: 20 })
    expect(await link.run((client) => client.get('link:r'))).toBeNull()
    // No second announcement without a second outage; a removed listener is not called.
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(recovered).toHaveBeenCalledTimes(1)
    stop()
    await server().kill()
    await link.run((client) => client.ping()).catch(() => undefined)
    await server().restart()
    await vi.waitFor(() => expect(link.available).toBe(true), { timeout: 5_000, interval: 20 })
    expect(recovered).toHaveBeenCalledTimes(1)
  })

  it('close() ends the connections it made and leaves a caller\'s client open; later calls reject', async () => {
    const client = new Redis(server().url)
    try {
      const link = new RedisLink({ client }, 200)
      const subscriber = link.subscriber()
      await subscriber.subscribe('link:channel')
      expect(subscriber).not.toBe(client)
      await link.close()
      await link.close()
      expect(subscriber.status).toBe('end')
      expect(await client.ping()).toBe('PONG')
      await expect(link.run((c) => c.ping())).rejects.toThrow(/closed/)
      const owned = open()
      await owned.run((c) => c.ping())
      await owned.close()
      expect(owned.client.status).toBe('end')
    } finally {
      client.disconnect()
    }
  })

  it('close() settles while the server is down and the connection waits to reconnect', async () => {
    const link = open(150)
    await link.run((client) => client.ping())
    await server().kill()
    await vi.waitFor(() => expect(link.client.status).toBe('reconnecting'), { timeout: 5_000, interval: 10 })
    await link.close()
    await server().restart()
    // Past the longest reconnect backoff (1 s): a connection still retrying would be back by now.
    await new Promise((resolve) => setTimeout(resolve, 1_300))
    const raw = new Redis(server().url)
    try {
      expect(await raw.info('clients')).toMatch(/connected_clients:1\r/)
    } finally {
      raw.disconnect()
    }
  })

  it('subscriber() turns off ioredis\'s own resubscription, whose promise nobody handles: its owner resubscribes', async () => {
    const link = open(150)
    const subscriber = link.subscriber()
    // ioredis resubscribes on 'ready' without a rejection handler: a server dying right then would
    // leave an unhandled rejection. RedisBus and RedisStore subscribe again themselves instead.
    expect(subscriber.options.autoResubscribe).toBe(false)
    expect(subscriber.options.disconnectTimeout).toBe(150)
    await subscriber.subscribe('link:channel')
    await server().kill()
    await server().restart()
    await vi.waitFor(() => expect(subscriber.status).toBe('ready'), { timeout: 5_000, interval: 10 })
    const raw = new Redis(server().url)
    try {
      // Not subscribed again by ioredis: the connection answers a plain PING, as no subscriber can.
      expect(await subscriber.ping()).toBe('PONG')
      expect(await raw.pubsub('NUMSUB', 'link:channel')).toEqual(['link:channel', 0])
    } finally {
      raw.disconnect()
    }
  })
})
