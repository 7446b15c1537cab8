/**
 * `mlcache/otel`: MLCache's counters, load durations and L2 memory as
 * OpenTelemetry metrics. Bring your own `Meter` (`@opentelemetry/api` is an
 * optional peer dependency: this module imports only its types).
 */
export { observeMLCache, type MLCacheMetrics, type MLCacheMetricsOptions, type ObservedCache, type ObservedStore } from './cache-metrics.js'
