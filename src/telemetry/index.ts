/**
 * Telemetry (docs/observability.md): keyway's Prometheus metrics, the `GET /metrics` stage, trace
 * export over OTLP/HTTP, and one trace per change. See docs/observability.md.
 */
export {
  createKeywayMetrics,
  type KeywayMetrics,
  type KeywayMetricsOptions,
  type OwnershipRow,
  type ProxySummary,
  type SourceSummary,
  type PublishedShardMap,
  STREAM_LIMIT_REASONS,
  type StreamLimitReason,
} from './metrics.js';
export { KEYWAY_METRICS, CACHE_NODE_METRICS, PROCESS_METRICS, instrumentName } from './metric-names.js';
export { ownershipRows } from './ownership.js';
export { createPrometheusRegistry, PROMETHEUS_CONTENT_TYPE, type PrometheusRegistry } from './prometheus-registry.js';
export { startTracing, tracingConfigFromEnv, TRACER_NAME, type Tracing, type TracingConfig, type StartTracingOptions } from './tracing.js';
export type { ExportHealthEvent } from './export-health.js';
export { installOtelDiagLog, OTEL_DIAG_WINDOW_MS, type OtelDiagOptions, type OtelDiagSink } from './otel-diag.js';
export { installGrpcLog, MAX_GRPC_LOG_CHARS, type GrpcLogOptions, type GrpcLogSink } from './grpc-log.js';
export {
  beginChangeTrace,
  CHANGE_SPAN,
  PUSH_SPAN,
  type ChangeTrace,
  type ChangeTraceOptions,
  type ChangeOutcome,
  type ChangeOutcomeKind,
} from './change-trace.js';
