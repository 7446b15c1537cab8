// Attaches to the WorkerBus in workerData (the compiled module named in
// workerData.moduleUrl, see plain-workers.ts), says { workerId } or
// { error }, then idles until it is terminated, never closing its member.
import { parentPort, workerData } from 'node:worker_threads'

const { WorkerBus } = await import(workerData.moduleUrl)
try {
  const bus = WorkerBus.attach(workerData.handle)
  parentPort.postMessage({ workerId: bus.workerId })
} catch (error) {
  parentPort.postMessage({ error: `${error.name}: ${error.message}` })
}
