import cluster from 'node:cluster'
import { expect, it } from 'vitest'
import { ClusterBus } from '../../src/bus/cluster-bus.js'
import { registerEventBusContract } from '../../src/testing/event-bus-contract.js'

// The test process was not forked by cluster, so it is a cluster primary: the end made by `create`
// (broker and member 0) alone on its bus, a single member like LocalBus. Multi-process behaviour is
// in cluster-bus.test.ts.
it('the test process is a cluster primary (the contract below runs in it)', () => {
  expect(cluster.isPrimary).toBe(true)
})

registerEventBusContract({ name: 'ClusterBus (primary end)', create: (options) => ClusterBus.create(options) })
