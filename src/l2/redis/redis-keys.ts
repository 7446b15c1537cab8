/**
 * Where a RedisStore keeps things: every Redis name is the store's prefix,
 * a one-letter kind, then the namespace behind its UTF-8 byte length:
 *
 * - `${prefix}e:${bytes}:${namespace}:${key}`: an entry (a string: header
 *   and value, see `entry-format.ts`);
 * - `${prefix}l:${bytes}:${namespace}:${key}`: a loader lock (a hash: owner
 *   token, namespace generation, voided mark, waiters mark);
 * - `${prefix}n:${bytes}:${namespace}`: a namespace's metadata (a string:
 *   purge generation and the server instant of the last purge);
 * - `${prefix}unlock`: the channel on which a release is announced.
 *
 * The length says where the namespace ends, so no namespace or key,
 * whatever it contains, spells another pair's name: `('a:b', 'c')` and
 * `('a', 'b:c')` differ in the length (upstream mlcache concatenated
 * `name .. key` and let them collide). Two prefixes never see each other
 * unless one is the other followed by a kind and a length (`'app:'` and
 * `'app:e:3:'`), which no sensible pair of prefixes is.
 */

/** The Redis names of one RedisStore prefix. */
export class RedisKeys {
  /** The channel on which `unlock` announces a release; the message is the lock's Redis key. */
  readonly unlockChannel: string
  readonly #prefix: string

  constructor(prefix: string) {
    this.#prefix = prefix
    this.unlockChannel = `${prefix}unlock`
  }

  /** The key of the entry of `key` in `namespace`. */
  entry(namespace: string, key: string): string {
    return `${this.#prefix}e:${scoped(namespace)}:${key}`
  }

  /** The key of the loader lock of `key` in `namespace`. */
  lock(namespace: string, key: string): string {
    return `${this.#prefix}l:${scoped(namespace)}:${key}`
  }

  /** The key of the metadata (purge generation and instant) of `namespace`. */
  meta(namespace: string): string {
    return `${this.#prefix}n:${scoped(namespace)}`
  }

  /**
   * A SCAN MATCH pattern matching the entry keys of `namespace` and no
   * other key of this prefix: the prefix and namespace are glob-escaped,
   * and the byte length pins where the namespace ends.
   */
  entryPattern(namespace: string): string {
    return `${escapeGlob(`${this.#prefix}e:${scoped(namespace)}:`)}*`
  }
}

/** `${bytes}:${namespace}`: the namespace behind its UTF-8 byte length. */
function scoped(namespace: string): string {
  return `${Buffer.byteLength(namespace, 'utf8')}:${namespace}`
}

/**
 * Escapes what Redis's glob matcher (SCAN MATCH) treats specially: `*`, `?`,
 * `[`, `]` and `\` (a `^` or `-` only means something inside brackets,
 * which no escaped literal opens).
 */
function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}
