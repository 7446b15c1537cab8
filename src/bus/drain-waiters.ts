/**
 * The pending `drain()` calls of a bus, oldest first. Each waits for a mark
 * (what had been published when it was called) and resolves once the bus
 * has handled up to it, at its timeout, or when the bus closes.
 */
interface Waiter<Mark> {
  readonly mark: Mark
  readonly resolve: () => void
  timer: NodeJS.Timeout | undefined
}

export class DrainWaiters<Mark> {
  readonly #waiters: Waiter<Mark>[] = []

  /** Resolves once {@link DrainWaiters.releaseSettled} finds `mark` handled, after `timeout` ms, or on {@link DrainWaiters.releaseAll}. */
  wait(mark: Mark, timeout: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter<Mark> = { mark, resolve, timer: undefined }
      if (timeout !== undefined) waiter.timer = setTimeout(() => this.#release(waiter), timeout)
      this.#waiters.push(waiter)
    })
  }

  /** Resolves the waiters, oldest first, while `settled` says their mark is handled. */
  releaseSettled(settled: (mark: Mark) => boolean): void {
    while (this.#waiters[0] !== undefined && settled(this.#waiters[0].mark)) this.#release(this.#waiters[0])
  }

  /** Resolves every waiter (the bus closed). */
  releaseAll(): void {
    for (const waiter of [...this.#waiters]) this.#release(waiter)
  }

  #release(waiter: Waiter<Mark>): void {
    clearTimeout(waiter.timer)
    const index = this.#waiters.indexOf(waiter)
    if (index !== -1) this.#waiters.splice(index, 1)
    waiter.resolve()
  }
}
