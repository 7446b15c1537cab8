/** A value whose containers nest `depth` deep: `nested(1, 'array')` is `[0]`. */
export function nested(depth: number, kind: 'object' | 'array' | 'map'): unknown {
  let value: unknown = 0
  for (let i = 0; i < depth; i++) {
    value = kind === 'object' ? { level: value } : kind === 'array' ? [value] : new Map([['level', value]])
  }
  return value
}
