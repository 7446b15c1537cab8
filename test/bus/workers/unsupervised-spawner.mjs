// A plain worker that never loads mlcache: it starts workers that attach to
// a WorkerBus (workers/attach-and-idle.mjs), then terminates them. Nobody
// supervises those deaths: the thread that created them has no bus member.
// Answers each { count, data } message with { attached, failures } once the
// `count` workers it started are all attached (or failed) and terminated.
import { Worker, parentPort } from 'node:worker_threads'

const CHILD = new URL('./attach-and-idle.mjs', import.meta.url)

function startChild(data) {
  return new Promise((resolve) => {
    const child = new Worker(CHILD, { workerData: data })
    child.once('message', (message) => resolve({ child, message }))
    child.once('error', (error) => resolve({ child, message: { error: String(error) } }))
  })
}

parentPort.on('message', async ({ count, data }) => {
  const started = await Promise.all(Array.from({ length: count }, () => startChild(data)))
  await Promise.all(started.map(({ child }) => child.terminate()))
  const failures = started.map(({ message }) => message.error).filter((error) => error !== undefined)
  parentPort.postMessage({ attached: count - failures.length, failures })
})
