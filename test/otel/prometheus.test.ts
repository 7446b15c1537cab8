/**
 * The README's Prometheus example, run as written (on a free port): the
 * OpenTelemetry Prometheus exporter serves MLCache's metrics over HTTP.
 */
import { createServer } from 'node:net'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { describe, expect, it, onTestFinished } from 'vitest'
import { observeMLCache } from '../../src/otel/index.js'
import { testCache } from '../helpers/cache-factory.js'

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

describe('mlcache/otel with the Prometheus exporter', () => {
  it('serves mlcache_hits_total, mlcache_loads_total, the load duration histogram in seconds and L2 memory on /metrics', async () => {
    const { cache: users, store: dict } = testCache('users')
    const port = await freePort()
    const exporter = new PrometheusExporter({ port, host: '127.0.0.1' })
    const provider = new MeterProvider({ readers: [exporter] })
    onTestFinished(() => provider.shutdown())
    observeMLCache({ meter: provider.getMeter('my-app'), caches: [users], stores: { main: dict } })
    await users.get('user:42', () => ({ id: 42 }))
    await users.get('user:42')
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    expect(text).toMatch(/^mlcache_hits_total\{mlcache_name="users",mlcache_level="l1",otel_scope_name="my-app"\} 1$/m)
    expect(text).toMatch(/^mlcache_loads_total\{mlcache_name="users",otel_scope_name="my-app"\} 1$/m)
    expect(text).toMatch(/^mlcache_load_duration_count\{mlcache_name="users",mlcache_outcome="ok",otel_scope_name="my-app"\} 1$/m)
    expect(text).toMatch(/^mlcache_load_duration_bucket\{mlcache_name="users",mlcache_outcome="ok",otel_scope_name="my-app",le="0.001"\} [01]$/m)
    expect(text).toMatch(/^mlcache_l2_memory_used\{mlcache_store="main",otel_scope_name="my-app"\} \d+$/m)
  })
})
