/**
 * mlcache: a three-level cache for Node.js, ported from lua-resty-mlcache.
 * This module exports the public surface only.
 */
export { MLCache } from './mlcache.js'
export type { DefaultStoreOptions } from './default-store.js'
export { SharedDict } from './l2/shared-dict/shared-dict.js'
export type {
  DictEntry,
  DictIncrResult,
  DictSetResult,
  DictStaleEntry,
  DictValue,
  SharedDictAttachOptions,
  SharedDictHandle,
  SharedDictOptions,
  SharedDictRecovery,
  SharedDictStats,
} from './l2/shared-dict/types.js'
export { TieredStore } from './l2/tiered/tiered-store.js'
export type { TieredStoreOptions } from './l2/tiered/tiered-options.js'
export { LocalBus } from './bus/local-bus.js'
export { BUS_RESYNC_EVENT, BUS_SOURCE, WORKER_SOURCE } from './bus/event-bus.js'
export type { BusReach, EventBus, EventBusOptions, EventBusTarget, EventHandler } from './bus/event-bus.js'
export type { EntryView, L2Entry, L2Store, L2WriteOptions, L2WriteResult, LockResult, LockStore, MaybePromise, ValueStore } from './l2/l2-store.js'
export {
  BusError,
  BusyError,
  ClosedError,
  DecodeError,
  EncodeError,
  L2Error,
  LoaderError,
  LoaderTimeoutError,
  LockTimeoutError,
  MLCacheError,
  NoMemoryError,
  PageRetiredError,
  SerializerError,
} from './errors.js'
export type { MLCacheErrorCode, MLCacheErrorOptions } from './errors.js'
export type {
  BulkOp,
  BulkOptions,
  BulkResult,
  GetOptions,
  HitLevel,
  L1Store,
  Loader,
  LoaderContext,
  LoaderTimeout,
  Lookup,
  MLCacheOptions,
  MLCacheStats,
  PageWriter,
  PageWriterOptions,
  Peek,
  PeekOptions,
  PurgeOptions,
  SetOptions,
  StatsOptions,
  SwapOptions,
  WarmupOptions,
  WarmupReport,
} from './types.js'
export { CacheSnapshot } from './pages/snapshot.js'
export type { CacheTraceContext, GetTraceContext } from './diagnostics/tracing.js'
export type { WarmupSource } from './pages/warmup.js'
export { ClusterBus, isClusterBusMessage, type ClusterBusAttachOptions, type ClusterBusOptions } from './bus/cluster-bus.js'
export { WorkerBus, type WorkerBusAttachOptions, type WorkerBusHandle, type WorkerBusOptions } from './bus/worker-bus.js'
