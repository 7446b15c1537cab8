/**
 * The values every scenario reads, in the main thread and in the workers.
 */
// The tests' PRNG (mulberry32): the same key sequences in every run.
import { seededRandom } from '../test/helpers/seeded-random.js'

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

/**
 * The ~1 KB object of the L1 hit and miss scenarios: a user profile with a
 * nested address, preferences and its last orders. Its msgpack encoding
 * (what mlcache writes to L2) is 982 bytes, its JSON 1,695 bytes; the
 * scenarios print the encoded size they measured.
 */
export const PROFILE = {
  ...USER,
  bio: 'Mathematician and writer, chiefly known for her work on the proposed mechanical general-purpose computer, the Analytical Engine.',
  address: { street: '12 St James Square', city: 'London', postcode: 'SW1Y 4JH', country: 'GB', geo: { lat: 51.5074, lng: -0.1337 } },
  preferences: { locale: 'en-GB', timezone: 'Europe/London', newsletter: true, theme: 'dark', notifications: { email: true, sms: false, push: true } },
  tags: ['mathematics', 'computing', 'poetry', 'engines', 'notes', 'bernoulli', 'difference-engine', 'babbage', 'algorithms'],
  orders: Array.from({ length: 9 }, (_, i) => ({
    id: `ord_${(100_000 + i * 7_919).toString(36)}`,
    total: 19.99 + i * 5.25,
    currency: 'GBP',
    items: 1 + (i % 3),
    status: i % 4 === 0 ? 'delivered' : 'shipped',
    placedAt: 1_700_000_000_000 + i * 86_400_000,
  })),
}

/** A short string value (20 characters). */
export const SHORT = 'a short string value'
/** The two values every L1 hit and miss task is measured with; `tag` suffixes the task names. */
export const VALUES = [
  { label: 'short string', tag: 'string', value: SHORT as unknown },
  { label: '~1 KB object', tag: '1 KB obj', value: PROFILE as unknown },
] as const

/** The hot key of the L1 hit scenario; every key of every scenario is shaped `user:<n>`. */
export const KEY = 'user:12345'

/** The keys of the L2 scenarios: read in order through an L1 of 1k, every read misses L1. */
const L2_KEY_COUNT = 10_000
export const L2_LRU_SIZE = 1_000
export function l2Keys(): string[] {
  return Array.from({ length: L2_KEY_COUNT }, (_, i) => `user:${i}`)
}

/**
 * `length` reads over the L2 keys: uniformly random, or Zipf-distributed
 * with exponent `s` (rank r drawn with probability proportional to 1/r^s,
 * by binary search over the cumulative distribution), from a fixed seed.
 */
export function keySequence(distribution: 'uniform' | { zipf: number }, length = 1 << 16): string[] {
  const keys = l2Keys()
  const random = seededRandom(0x5eed)
  if (distribution === 'uniform') return Array.from({ length }, () => keys[Math.floor(random() * keys.length)] as string)
  const cumulative = new Float64Array(keys.length)
  let sum = 0
  for (let rank = 0; rank < keys.length; rank++) cumulative[rank] = sum += 1 / (rank + 1) ** distribution.zipf
  return Array.from({ length }, () => {
    const target = random() * sum
    let low = 0
    let high = keys.length - 1
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((cumulative[middle] as number) < target) low = middle + 1
      else high = middle
    }
    return keys[low] as string
  })
}
