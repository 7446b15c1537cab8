/**
 * Runtime failures of mlcache. Programmer errors (bad arguments or options)
 * are plain `TypeError`/`RangeError`s instead; everything that can go wrong
 * at run time is an {@link MLCacheError} with a stable string `code`.
 *
 * Messages never include cached values (they may hold personal data); keys
 * are allowed, and are also available as `error.key`.
 */

/** Options shared by every {@link MLCacheError} constructor. */
export interface MLCacheErrorOptions {
  /** The underlying error, if any (ES2022 `cause`). */
  cause?: unknown
  /** The cache key involved, if any. */
  key?: string
}

/** The codes carried by {@link MLCacheError}s. */
export type MLCacheErrorCode =
  | 'E_LOADER'
  | 'E_LOADER_TIMEOUT'
  | 'E_LOCK_TIMEOUT'
  | 'E_NO_MEMORY'
  | 'E_L1_SERIALIZER'
  | 'E_ENCODE'
  | 'E_DECODE'
  | 'E_L2'
  | 'E_BUS'
  | 'E_BUSY'
  | 'E_CLOSED'
  | 'E_PAGE_RETIRED'

/** Base class of every runtime failure; test `error.code` or `instanceof`. */
export class MLCacheError extends Error {
  /** A stable machine-readable code such as `E_LOADER`. */
  readonly code: MLCacheErrorCode
  /** The cache key involved, if any. */
  readonly key: string | undefined

  constructor(code: MLCacheErrorCode, message: string, options: MLCacheErrorOptions = {}) {
    super(message, 'cause' in options ? { cause: options.cause } : undefined)
    this.name = new.target.name
    this.code = code
    this.key = options.key
  }
}

/** The loader threw or rejected and nothing stale could be served; `cause` is what it threw. */
export class LoaderError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_LOADER', message, options)
  }
}

/**
 * The loader ran past its hard `loaderTimeout` (or the wait for another
 * worker's loader did) and nothing stale could be served. The loader's
 * `ctx.signal` was aborted with this error and its lock released; whatever
 * it answers later is dropped.
 */
export class LoaderTimeoutError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_LOADER_TIMEOUT', message, options)
  }
}

/** Waiting for another worker's loader took longer than `lockTimeout` and nothing stale could be served. */
export class LockTimeoutError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_LOCK_TIMEOUT', message, options)
  }
}

/** `set()` could not fit the value in L2 after `setTries` tries. */
export class NoMemoryError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_NO_MEMORY', message, options)
  }
}

/** `l1Serializer` threw or returned `undefined`. */
export class SerializerError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_L1_SERIALIZER', message, options)
  }
}

/** A value cannot be encoded (a function, a symbol, a cycle...). Nothing was written. */
export class EncodeError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_ENCODE', message, options)
  }
}

/** Stored bytes are corrupt or of an unknown format version (reported by `peek` only). */
export class DecodeError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_DECODE', message, options)
  }
}

/** The L2 store failed where no fallback applies; `cause` is the store's error. */
export class L2Error extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_L2', message, options)
  }
}

/** A bus refused a publish: payload too large, queue full, or bus closed. */
export class BusError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_BUS', message, options)
  }
}

/** A page swap of this cache is already running, in this worker or another sharing the store. */
export class BusyError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_BUSY', message, options)
  }
}

/** A method of a closed cache was called. */
export class ClosedError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_CLOSED', message, options)
  }
}

/**
 * A snapshot read needed L2, but the snapshot's page was retired: a later
 * swap reclaimed its entries (the swap's `grace` ended, or the next swap
 * started). Take a new snapshot.
 */
export class PageRetiredError extends MLCacheError {
  constructor(message: string, options: MLCacheErrorOptions = {}) {
    super('E_PAGE_RETIRED', message, options)
  }
}
