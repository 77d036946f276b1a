/**
 * Load snapshot sources (docs/load-reports.md): the reports this replica received (`LoadAggregate`,
 * the xDS server's load-report sink), read back locally or through Prometheus.
 */
export { LoadAggregate, MAX_KEPT_WINDOWS, MAX_NODES_PER_WINDOW, MAX_REPORT_LATENESS_WINDOWS, MAX_SNAPSHOT_SHARDS, quantize, hottest, type LoadAggregateOptions } from './aggregate.js';
export { LocalLoadSource, type LocalLoadSourceOptions } from './local.js';
export { PrometheusLoadSource, loadQuery, snapshotsFromMatrix, SHARD_COUNT_METRIC, type FutureWindow, type OtherShardCountWindow, type PrometheusLoadSourceOptions } from './prometheus.js';
export { createLoadSignal, type LoadSignal, type LoadSignalSettings } from './signal.js';
