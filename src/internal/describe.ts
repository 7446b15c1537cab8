/**
 * How an error reads inside another error's message or a warning: its
 * `message`, or the thrown value as a string. Anything can be thrown, and
 * `String()` itself throws for some values (an object without a prototype,
 * a `toString` that throws), so this never does.
 */
export function describe(error: unknown): string {
  try {
    return error instanceof Error ? error.message : String(error)
  } catch {
    return 'an unprintable value'
  }
}
