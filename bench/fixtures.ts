/**
 * The values every scenario reads, in the main thread and in the workers.
 */

/** The ~100-byte object of the L2 scenarios (its msgpack encoding is printed). */
export const USER = {
  id: 12_345,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  roles: ['admin', 'editor'],
  active: true,
  createdAt: 1_700_000_000_000,
  score: 98.5,
}
export type User = typeof USER

export const SHORT = 'a short string value'
export const KEY = 'user:12345'

/** The keys of the L2 scenarios: read in order through an L1 of 1k, every read misses L1. */
export const L2_KEY_COUNT = 10_000
export const L2_LRU_SIZE = 1_000
export function l2Keys(): string[] {
  return Array.from({ length: L2_KEY_COUNT }, (_, i) => `user:${i}`)
}
