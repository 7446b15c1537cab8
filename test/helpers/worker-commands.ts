/**
 * The command loop of the tests' worker scripts: answers each
 * `{ id, ... }` message with `{ id, result }`, or `{ id, error }` (the
 * error as text), commands running concurrently, then says
 * `{ ready: true }`.
 */
import { parentPort } from 'node:worker_threads'

export function answerCommands<C extends { id: number }>(run: (command: C) => Promise<unknown>): void {
  parentPort?.on('message', (command: C) => {
    run(command).then(
      (result) => parentPort?.postMessage({ id: command.id, result }),
      (error: unknown) => parentPort?.postMessage({ id: command.id, error: String(error) }),
    )
  })
  parentPort?.postMessage({ ready: true })
}
