/**
 * Streaming readers of the access-trace formats the hit-rate benchmark
 * replays (`bench/traces`, `test/fixtures`):
 * each turns a (possibly gzipped) byte stream into the keys it requests, in
 * order, without holding the file in memory.
 */
import { createReadStream } from 'node:fs'
import { Readable, pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'

/** The trace formats {@link readTrace} understands. */
export const TRACE_FORMATS = ['arc', 'lirs', 'cache2k', 'lines'] as const

/**
 * A trace format: `arc` (Megiddo & Modha, FAST'03: lines `start count _ _`
 * requesting `start .. start+count-1`), `lirs` (Jiang & Zhang,
 * SIGMETRICS'02: one integer per line, `*` lines are comments), `cache2k`
 * (big-endian int32 keys, 4 bytes each), `lines` (one key per line).
 */
export type TraceFormat = (typeof TRACE_FORMATS)[number]

/** Answers whether `value` names a {@link TraceFormat}. */
export function isTraceFormat(value: string): value is TraceFormat {
  return (TRACE_FORMATS as readonly string[]).includes(value)
}

/** The two bytes every gzip member starts with (RFC 1952, ID1 ID2). */
const GZIP_MAGIC = [0x1f, 0x8b] as const

/**
 * Passes `chunks` through, gunzipped when they start with the gzip magic
 * bytes: the content decides, not the file name.
 */
async function* gunzipIfNeeded(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]()
  // The magic may straddle chunks: gather at least two bytes before deciding.
  let head = new Uint8Array(0)
  while (head.length < GZIP_MAGIC.length) {
    const next = await iterator.next()
    if (next.done === true) break
    head = Buffer.concat([head, next.value])
  }
  async function* rest(): AsyncGenerator<Uint8Array> {
    if (head.length > 0) yield head
    for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value
  }
  if (head[0] !== GZIP_MAGIC[0] || head[1] !== GZIP_MAGIC[1]) {
    yield* rest()
    return
  }
  // pipeline() destroys the gunzip stream with the source's error, so iteration rejects instead of hanging.
  yield* pipeline(Readable.from(rest()), createGunzip(), () => undefined) as AsyncIterable<Uint8Array>
}

/** Splits a byte stream into trimmed text lines (UTF-8, `\n` or `\r\n`). */
async function* textLines(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let partial = ''
  for await (const chunk of chunks) {
    const lines = (partial + decoder.decode(chunk, { stream: true })).split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) yield line.trim()
  }
  const last = partial + decoder.decode()
  if (last.trim() !== '') yield last.trim()
}

/** Parses a non-negative integer field of a trace line, or throws naming the line. */
function integerField(field: string | undefined, lineNumber: number, format: TraceFormat): number {
  const value = field === undefined || !/^\d+$/.test(field) ? Number.NaN : Number(field)
  if (!Number.isSafeInteger(value)) throw new SyntaxError(`${format} trace, line ${lineNumber}: expected an integer, got '${field ?? ''}'`)
  return value
}

async function* arcKeys(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let lineNumber = 0
  for await (const line of textLines(chunks)) {
    lineNumber++
    if (line === '') continue
    // ARC's traces list runs of consecutive blocks: `start count` and two fields the replay ignores.
    const [startField, countField] = line.split(/\s+/)
    const start = integerField(startField, lineNumber, 'arc')
    const count = integerField(countField, lineNumber, 'arc')
    for (let block = start; block < start + count; block++) yield String(block)
  }
}

async function* lirsKeys(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let lineNumber = 0
  for await (const line of textLines(chunks)) {
    lineNumber++
    // The LIRS traces end with `*`-prefixed summary lines.
    if (line === '' || line.startsWith('*')) continue
    yield String(integerField(line, lineNumber, 'lirs'))
  }
}

async function* cache2kKeys(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  let carry = new Uint8Array(0)
  for await (const chunk of chunks) {
    // A key may straddle two chunks: keep the tail for the next one.
    const bytes = carry.length === 0 ? chunk : Buffer.concat([carry, chunk])
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const whole = bytes.length - (bytes.length % 4)
    for (let offset = 0; offset < whole; offset += 4) yield String(view.getInt32(offset, false))
    carry = bytes.slice(whole)
  }
  if (carry.length !== 0) throw new SyntaxError(`cache2k trace: ${carry.length} trailing bytes (not a multiple of 4)`)
}

async function* plainKeys(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  for await (const line of textLines(chunks)) if (line !== '') yield line
}

const PARSERS: Readonly<Record<TraceFormat, (chunks: AsyncIterable<Uint8Array>) => AsyncGenerator<string>>> = {
  arc: arcKeys,
  lirs: lirsKeys,
  cache2k: cache2kKeys,
  lines: plainKeys,
}

/**
 * The keys requested by a trace given as byte chunks, gzipped or not.
 * @throws {SyntaxError} a malformed line or a truncated cache2k key (rejects while iterating)
 */
export function parseTrace(chunks: AsyncIterable<Uint8Array>, format: TraceFormat): AsyncGenerator<string> {
  return PARSERS[format](gunzipIfNeeded(chunks))
}

/** The keys requested by the trace file at `path`, streamed. */
function readTrace(path: string, format: TraceFormat): AsyncGenerator<string> {
  return parseTrace(createReadStream(path), format)
}

/** Reads a whole trace into memory: OPT needs to see the future anyway. */
export async function loadTrace(path: string, format: TraceFormat): Promise<string[]> {
  const keys: string[] = []
  for await (const key of readTrace(path, format)) keys.push(key)
  return keys
}
