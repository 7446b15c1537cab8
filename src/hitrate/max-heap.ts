/**
 * A binary max-heap of `(priority, item)` pairs of integers, kept in growable
 * typed arrays: OPT pushes one pair per request (914k on oltp), and objects
 * per pair would cost more than the simulation itself.
 */
export class MaxHeap {
  #priorities = new Float64Array(1024)
  #items = new Int32Array(1024)
  #size = 0

  /** The number of pairs held. */
  get size(): number {
    return this.#size
  }

  /** Adds `item` with `priority`. */
  push(priority: number, item: number): void {
    if (this.#size === this.#items.length) this.#grow()
    let index = this.#size++
    while (index > 0) {
      const parent = (index - 1) >> 1
      const parentPriority = this.#priorities[parent]!
      if (parentPriority >= priority) break
      this.#priorities[index] = parentPriority
      this.#items[index] = this.#items[parent]!
      index = parent
    }
    this.#priorities[index] = priority
    this.#items[index] = item
  }

  /** The highest priority held; only meaningful when `size > 0`. */
  peekPriority(): number {
    return this.#priorities[0]!
  }

  /** Removes the pair of highest priority and answers its item; only call when `size > 0`. */
  pop(): number {
    const top = this.#items[0]!
    const last = --this.#size
    const priority = this.#priorities[last]!
    const item = this.#items[last]!
    let index = 0
    for (;;) {
      let child = 2 * index + 1
      if (child >= last) break
      if (child + 1 < last && this.#priorities[child + 1]! > this.#priorities[child]!) child++
      if (this.#priorities[child]! <= priority) break
      this.#priorities[index] = this.#priorities[child]!
      this.#items[index] = this.#items[child]!
      index = child
    }
    this.#priorities[index] = priority
    this.#items[index] = item
    return top
  }

  #grow(): void {
    const priorities = new Float64Array(this.#priorities.length * 2)
    priorities.set(this.#priorities)
    this.#priorities = priorities
    const items = new Int32Array(this.#items.length * 2)
    items.set(this.#items)
    this.#items = items
  }
}
