/**
 * MLCache over ClusterBus across real node:cluster processes, with L2 in a
 * real redis-server shared by all of them: invalidations reach every
 * process, and a page swap run in one worker process switches the primary
 * and every other worker before it resolves.
 */
import { describe, expect, it } from 'vitest'
import { useClusterApps } from '../helpers/cluster-processes.js'
import { redisServerInstalled, useRedisServer } from '../helpers/redis-server.js'

interface Found {
  value: unknown
  hitLevel: number
  page: number
}

describe.runIf(redisServerInstalled)('MLCache over ClusterBus and RedisStore', () => {
  const server = useRedisServer()
  const startApp = useClusterApps()
  let run = 0

  async function app() {
    const started = await startApp({ redis: { url: server().url, prefix: `cluster${++run}:` } })
    const members = [0, await started.spawn(), await started.spawn()]
    const lookup = (on: number, key: string) => started.call<Found>({ cmd: 'cache', on, op: 'lookup', entry: key })
    return { app: started, members, lookup }
  }

  it('set() in one worker process makes every other process drop the key from its L1', async () => {
    const { app: cluster, members, lookup } = await app()
    await cluster.call({ cmd: 'cache', on: members[1]!, op: 'set', entry: 'k', value: 'old' })
    for (const on of members) expect((await lookup(on, 'k')).value).toBe('old')
    // Every process now holds 'old' in its L1.
    for (const on of members) expect(await lookup(on, 'k')).toMatchObject({ value: 'old', hitLevel: 1 })
    await cluster.call({ cmd: 'cache', on: members[2]!, op: 'set', entry: 'k', value: 'new' })
    for (const on of members) await cluster.call({ cmd: 'drain', on })
    for (const on of members.filter((id) => id !== members[2])) expect(await lookup(on, 'k')).toMatchObject({ value: 'new', hitLevel: 2 })
  })

  it('swap() in one worker process resolves once the primary and every worker switched; a worker forked later opens on the new page', async () => {
    const { app: cluster, members, lookup } = await app()
    await cluster.call({ cmd: 'cache', on: 0, op: 'set', entry: 'a', value: 'gen1' })
    for (const on of members) expect(await lookup(on, 'a')).toMatchObject({ value: 'gen1', page: 1 })
    expect(await cluster.call({ cmd: 'cache', on: members[1]!, op: 'swap', values: { a: 'gen2', b: 'gen2' } })).toBe(2)
    // No drain: swap() resolved only after every live member answered the flip.
    for (const on of members) expect(await cluster.call({ cmd: 'cache', on, op: 'page' })).toBe(2)
    for (const on of members) expect(await lookup(on, 'a')).toMatchObject({ value: 'gen2', hitLevel: 2, page: 2 })
    const late = await cluster.spawn()
    expect(await lookup(late, 'b')).toEqual({ value: 'gen2', hitLevel: 2, page: 2 })
  })
})
