/**
 * What msgpackr would encode without complaint but not give back: strings
 * that are not well-formed UTF-16, and values nested deeper than some
 * thread can decode. {@link assertEncodable} finds both in one walk over
 * the containers msgpackr walks, before anything is encoded.
 *
 * msgpackr writes strings as UTF-8, which has no form for a lone surrogate:
 * it comes back as U+FFFD (one to three of them), so the value would change
 * on its way through L2, and two object keys could merge into one.
 *
 * Decoding recurses once per level, and the main thread's stack (about
 * 1 MB) is a quarter of a worker's (4 MB): a value a worker encodes may
 * overflow the main thread's stack when read, which then takes the entry
 * for corrupt and deletes it.
 */

/**
 * The deepest nesting of containers (objects, arrays, `Map`s, `Set`s,
 * errors) a value may have: `[1]` is 1 deep. On Node 20 the main thread
 * decodes objects about 1,200 deep before its stack runs out (arrays and
 * maps somewhat deeper), so 512 leaves room for the frames of the code that
 * calls the cache.
 */
export const MAX_DEPTH = 512

/**
 * Throws unless msgpackr can encode `value` into bytes every thread decodes
 * back to an equal value, as far as strings and depth go (functions and
 * symbols are msgpackr's to refuse).
 * @throws {TypeError} a string (or a key) holds a lone surrogate
 * @throws {RangeError} containers nest deeper than {@link MAX_DEPTH}, or the value holds a cycle
 */
export function assertEncodable(value: unknown): void {
  if (typeof value === 'string') assertString(value)
  else if (typeof value === 'object' && value !== null) walk(value, 1)
}

function assertString(value: string): void {
  if (!value.isWellFormed()) throw new TypeError('it holds a string that is not well-formed UTF-16 (a lone surrogate)')
}

function visit(value: unknown, depth: number): void {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) assertString(value)
  } else if (typeof value === 'object' && value !== null) {
    walk(value, depth)
  }
}

/**
 * Checks the container `value`, `depth` deep, and what it holds, in the
 * order msgpackr tests types: plain objects and arrays first (the common
 * case), then its built-in extensions, then `toJSON`, then any other object
 * as its own enumerable properties.
 */
function walk(value: object, depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new RangeError(`it nests deeper than ${MAX_DEPTH} levels (or holds a cycle), more than every thread can decode`)
  }
  const next = depth + 1
  const constructor = value.constructor
  if (constructor === Object) {
    walkProperties(value as Record<string, unknown>, next)
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) visit(value[i], next)
  } else if (value instanceof Map) {
    for (const [key, item] of value) {
      visit(key, next)
      visit(item, next)
    }
  } else if (value instanceof Set) {
    for (const item of value) visit(item, next)
  } else if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date) {
    // Bytes and timestamps: no strings, no nesting.
  } else if (value instanceof Error) {
    // msgpackr writes an error as [name, message, cause].
    visit(value.name, next)
    visit(value.message, next)
    visit(value.cause, next + 1)
  } else if (value instanceof RegExp) {
    assertString(value.source)
  } else if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    // msgpackr encodes what toJSON answers (unless it is the object itself).
    const json: unknown = (value as { toJSON: () => unknown }).toJSON()
    if (json === value) walkProperties(value as Record<string, unknown>, next)
    else visit(json, depth)
  } else {
    walkProperties(value as Record<string, unknown>, next)
  }
}

/** The enumerable string keys of `value` and what they hold (inherited ones too: a superset of what msgpackr writes). */
function walkProperties(value: Record<string, unknown>, depth: number): void {
  for (const key in value) {
    if (!key.isWellFormed()) assertString(key)
    visit(value[key], depth)
  }
}
