/**
 * Server-side scripts, called by their SHA1 (EVALSHA) so that a call sends
 * a digest rather than the source, with the source sent once more (EVAL)
 * when Redis answers NOSCRIPT: its script cache is empty after a restart or
 * a `SCRIPT FLUSH`. Both attempts happen inside one {@link RedisLink.run},
 * so together they stay within one `commandTimeout`.
 */
import { createHash } from 'node:crypto'
import type { RedisLink } from '../../redis/redis-link.js'

/** What a script call sends besides keys: strings, numbers or bytes. */
export type ScriptArgument = string | number | Buffer

/** One Lua script and its SHA1. */
export class RedisScript {
  readonly source: string
  readonly sha: string

  constructor(source: string) {
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  /**
   * Runs the script on `link` with `keys` and `args`, answering its reply
   * with bulk strings as Buffers (bytes round-trip exactly).
   * @throws the link's errors ({@link RedisUnavailableError}, a ReplyError)
   */
  run(link: RedisLink, keys: readonly string[], args: readonly ScriptArgument[]): Promise<unknown> {
    return link.run(async (client) => {
      try {
        return await client.callBuffer('EVALSHA', this.sha, keys.length, ...keys, ...args)
      } catch (error) {
        if (!isNoScript(error)) throw error
        return await client.callBuffer('EVAL', this.source, keys.length, ...keys, ...args)
      }
    })
  }
}

/** Whether Redis refused an EVALSHA because it does not know the script. */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}
