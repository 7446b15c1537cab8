import { WorkerBus } from '../../src/bus/worker-bus.js'
import { registerEventBusContract } from '../../src/testing/event-bus-contract.js'

// The end made by `create` alone on its bus: a single member, like LocalBus.
registerEventBusContract({ name: 'WorkerBus (main end)', create: (options) => WorkerBus.create(options) })
