/**
 * Waiting for a promise at most so long. Every timeout in mlcache races a
 * promise against a timer the same way, and clears the timer as soon as the
 * promise settles first: no timer outlives the wait (a pending timer would
 * keep a process alive, and fire for nothing).
 */

/**
 * Settles as `promise` does, unless `ms` pass first: then with what
 * `onTimeout` returns (or rejects with what it throws). `promise` is left
 * to settle on its own; its rejection stays handled.
 */
export function raceTimer<T, U>(promise: Promise<T>, ms: number, onTimeout: () => U): Promise<T | U> {
  return new Promise<T | U>((resolve, reject) => {
    const timer = setTimeout(() => {
      try {
        resolve(onTimeout())
      } catch (error) {
        reject(error)
      }
    }, ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
