/**
 * The Redis keys and channel of one RedisStore prefix. Every name is the
 * prefix, a one-letter kind, then the namespace with its UTF-8 byte length
 * in front (`${prefix}e:${bytes}:${namespace}:${key}`): the length says
 * where the namespace ends, so no namespace or key, whatever it contains,
 * can spell another pair's name (`('a:b', 'c')` and `('a', 'b:c')` differ
 * in the length). Kinds:
 *
 * - `e:` an entry (a hash: value, flags, expiry, stale window, generation);
 * - `l:` a loader lock (a hash: owner token, generation, voided, waiters);
 * - `n:` a namespace's metadata (a hash: purge generation and instant).
 *
 * Two stores whose prefixes differ never see each other's keys unless one
 * prefix starts with the other followed by a kind and a length (`'app:'`
 * and `'app:e:3:'`), which no sensible pair of prefixes does.
 */

/** The names a store uses for one namespace. */
export class RedisKeys {
  /** The channel on which `unlock` announces a release (message: the lock's key). */
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

  /** The key of the metadata (purge generation) of `namespace`. */
  meta(namespace: string): string {
    return `${this.#prefix}n:${scoped(namespace)}`
  }

  /** A SCAN MATCH pattern matching the entry keys of `namespace` and nothing else. */
  entryPattern(namespace: string): string {
    return `${escapeGlob(`${this.#prefix}e:${scoped(namespace)}:`)}*`
  }
}

/** `${bytes}:${namespace}`: the namespace behind its UTF-8 byte length. */
function scoped(namespace: string): string {
  return `${Buffer.byteLength(namespace, 'utf8')}:${namespace}`
}

/** Escapes the characters that Redis's glob matcher (SCAN MATCH) treats specially: `*`, `?`, `[`, `]` and `\`. */
export function escapeGlob(literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}
