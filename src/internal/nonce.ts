/**
 * Identities that must not repeat across threads, processes and hosts
 * sharing a store or a bus: loader-lock tokens and the origins of bus
 * events. A thread id or a per-process counter repeats in every process; 64
 * random bits per module instance (each thread loads its own) do not, in
 * practice.
 */
import { randomBytes } from 'node:crypto'

/** 16 hex digits drawn once per thread. */
const NONCE = randomBytes(8).toString('hex')

let counter = 0

/** A new identity, unique across every thread, process and host: `${nonce}:${n}`. */
export function uniqueId(): string {
  return `${NONCE}:${++counter}`
}
