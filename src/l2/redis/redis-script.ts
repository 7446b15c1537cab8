/**
 * A Lua script called by its SHA1 (EVALSHA), so that a call sends a digest
 * rather than the source, and sent whole (EVAL) when Redis answers
 * NOSCRIPT: its script cache is empty after a restart, a failover or a
 * `SCRIPT FLUSH`. The EVAL also caches the script again, so the next call
 * is an EVALSHA once more. Callers run a script inside one
 * `RedisLink.run`, so both attempts together stay within one
 * `commandTimeout`.
 */
import { createHash } from 'node:crypto'
import type { Redis } from 'ioredis'

/** What a script call sends as a key or an argument. */
export type ScriptArgument = string | Buffer

/** One Lua script and its SHA1. */
export class RedisScript {
  /** The Lua source. */
  readonly source: string
  /** The SHA1 of {@link RedisScript.source}, in hex, as EVALSHA wants it. */
  readonly sha: string

  constructor(source: string) {
    this.source = source
    this.sha = createHash('sha1').update(source).digest('hex')
  }

  /**
   * Runs the script with `keys` and `args` on `client`, answering its reply
   * with bulk strings as Buffers, so that bytes round-trip exactly.
   * @throws (rejects) what the client rejects with: a ReplyError (a script
   *   error, OOM...), a connection error
   */
  async call(client: Redis, keys: readonly ScriptArgument[], args: readonly ScriptArgument[]): Promise<unknown> {
    try {
      return await client.callBuffer('EVALSHA', this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!isNoScript(error)) throw error
      return await client.callBuffer('EVAL', this.source, keys.length, ...keys, ...args)
    }
  }
}

/** Whether Redis refused an EVALSHA because its script cache does not hold the script. */
function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT')
}
