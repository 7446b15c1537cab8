import { describe, expect, it } from 'vitest'
import { acquireMutex, lockWordOf, ownerOf, ownLockWord, releaseMutex, stealFromDead } from '../../src/internal/robust-mutex.js'

/** A mutex word and a progress word. */
const mutex = (): Int32Array => new Int32Array(new SharedArrayBuffer(8))

describe('the robust mutex', () => {
  it('a lock word names its owner whatever its supervised and contended bits', () => {
    for (const supervised of [false, true]) {
      const word = lockWordOf(41, supervised)
      expect(ownerOf(word)).toBe(41)
      expect(ownerOf(word | 1)).toBe(41)
      expect(word & 1).toBe(0)
      expect(word).not.toBe(0)
    }
    expect(lockWordOf(0, true)).not.toBe(lockWordOf(0, false))
  })

  it('the main thread holds it with the supervised bit: it is never presumed dead', () => {
    expect(ownLockWord()).toBe(lockWordOf(0, true))
  })

  it('releaseMutex() frees a word it holds, clearing the contended bit a waiter set', () => {
    const i32 = mutex()
    expect(acquireMutex(i32, 0, 1, 100)).toBe(0)
    const held = ownLockWord()
    expect(Atomics.load(i32, 0)).toBe(held)
    Atomics.or(i32, 0, 1)
    expect(releaseMutex(i32, 0, held)).toBe(true)
    expect(Atomics.load(i32, 0)).toBe(0)
  })

  it('releaseMutex() of an owner that was taken over releases nothing and answers false', () => {
    const i32 = mutex()
    const stealer = lockWordOf(7, false)
    for (const word of [stealer, stealer | 1]) {
      Atomics.store(i32, 0, word)
      expect(releaseMutex(i32, 0, ownLockWord())).toBe(false)
      expect(Atomics.load(i32, 0)).toBe(word)
    }
  })

  it('acquireMutex() takes over an unsupervised owner that shows no progress for ownerDeadAfter, answering its word', () => {
    const i32 = mutex()
    const dead = lockWordOf(4242, false)
    Atomics.store(i32, 0, dead)
    expect(acquireMutex(i32, 0, 1, 50)).toBe(dead | 1)
    expect(Atomics.load(i32, 0)).toBe(ownLockWord() | 1)
  })

  it('stealFromDead() takes the word of that thread only, supervised or not', () => {
    const i32 = mutex()
    for (const supervised of [false, true]) {
      Atomics.store(i32, 0, lockWordOf(12, supervised) | 1)
      expect(stealFromDead(i32, 0, 13)).toBe(0)
      expect(stealFromDead(i32, 0, 12)).toBe(lockWordOf(12, supervised) | 1)
      expect(Atomics.load(i32, 0)).toBe(ownLockWord() | 1)
    }
    Atomics.store(i32, 0, 0)
    expect(stealFromDead(i32, 0, 0)).toBe(0)
  })
})
