/**
 * Parsing of the dict size, the analogue of the `<size>` argument of
 * `lua_shared_dict <name> <size>` (nginx's `ngx_parse_size`: a byte count
 * with an optional `k`/`m` suffix; we also accept `g`).
 */

/**
 * The smallest dict accepted, in bytes: nginx's documented minimum for a
 * `lua_shared_dict` zone (8 KiB). Half of it is the header, the rest holds
 * a few dozen small entries, enough for a lock store.
 */
export const MIN_DICT_BYTES = 8 * 1024

/**
 * The largest dict accepted, in bytes (4 GiB − 1): every offset and counter
 * in the layout is a uint32.
 */
export const MAX_DICT_BYTES = 0xffff_ffff

const SIZE_PATTERN = /^\s*(\d+)\s*([kKmMgG]?)\s*$/

const MULTIPLIERS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }

/**
 * Converts `'64m'`, `'512k'`, `'1g'`, `'65536'` or a number of bytes into a
 * byte count within {@link MIN_DICT_BYTES}..{@link MAX_DICT_BYTES}.
 *
 * @param size - the `size` option as given.
 * @returns the size in bytes.
 * @throws {TypeError} when `size` is neither a number nor a string.
 * @throws {RangeError} when the string is malformed, the number is not an
 *   integer, or the size is out of range.
 */
export function parseDictSize(size: unknown): number {
  let bytes: number
  if (typeof size === 'number') {
    if (!Number.isInteger(size)) throw new RangeError('options.size must be an integer number of bytes')
    bytes = size
  } else if (typeof size === 'string') {
    const match = SIZE_PATTERN.exec(size)
    if (match === null) {
      throw new RangeError(`options.size must be a byte count or a size like '64m' or '512k', got '${size}'`)
    }
    const [, digits = '', unit = ''] = match
    bytes = Number(digits) * (MULTIPLIERS[unit.toLowerCase()] ?? 1)
  } else {
    throw new TypeError('options.size must be a number or a string')
  }
  if (bytes < MIN_DICT_BYTES) throw new RangeError(`options.size must be >= ${MIN_DICT_BYTES} bytes`)
  if (bytes > MAX_DICT_BYTES) throw new RangeError(`options.size must be <= ${MAX_DICT_BYTES} bytes (4 GiB - 1)`)
  return bytes
}
