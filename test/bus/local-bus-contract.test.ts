import { LocalBus } from '../../src/bus/local-bus.js'
import { registerEventBusContract } from '../../src/testing/event-bus-contract.js'

registerEventBusContract({ name: 'LocalBus', create: (options) => new LocalBus(options) })
