import { WorkerBus } from '../../src/bus/worker-bus.js'
import { LocalBus } from '../../src/bus/local-bus.js'
import { registerEventBusContract } from '../../src/testing/event-bus-contract.js'

// The end made by `create` alone on its bus: a single member, like LocalBus.
registerEventBusContract({ name: 'WorkerBus (main end)', create: (options) => WorkerBus.create(options) })

// The same end relaying to an upstream (a LocalBus, which holds nothing to close): the relay
// changes nothing a single member sees.
registerEventBusContract({ name: 'WorkerBus (main end with an upstream)', create: (options) => WorkerBus.create({ ...options, upstream: new LocalBus() }) })
