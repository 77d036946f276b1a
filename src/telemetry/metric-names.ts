/**
 * The Prometheus names keyway exposes on `GET /metrics` (docs/observability.md "Metrics"), exactly as scraped: the
 * OpenTelemetry Prometheus exporter appends `_total` to counters and nothing else, so the unit
 * is part of each instrument's name. Dashboards, alerts and docs/observability.md use these names;
 * changing one is a breaking change for users' dashboards.
 */
import { LOAD_METRIC_NAMES } from '../core/load.js';

export const KEYWAY_METRICS = {
  /** gauge {flavor}: proxies connected over xDS, by flavor (`envoy`, `grpc`). */
  proxiesConnected: 'keyway_xds_proxies_connected',
  /** gauge {type, status}: connected proxies per resource type and sync status (SYNCED, STALE, NACKED, NOT_SENT). */
  proxySyncStatus: 'keyway_xds_proxy_sync_status',
  /**
   * gauge {flavor}: proxy classes keyway translates and holds a snapshot for (`envoy`, `grpc`, `agent`;
   * docs/security.md "xDS streams"): each is a translation and a snapshot at every map change.
   */
  proxyClasses: 'keyway_xds_proxy_classes',
  /** counter {type}: DiscoveryResponses answered by a proxy (ACK or NACK). */
  pushes: 'keyway_xds_pushes_total',
  /** histogram {type}: seconds from writing a DiscoveryResponse to the proxy's ACK or NACK of it. */
  pushDuration: 'keyway_xds_push_duration_seconds',
  /** counter {type}: NACKs received (a request carrying error_detail). */
  nacks: 'keyway_xds_nacks_total',
  /** counter {limit}: new xDS streams refused at a stream cap or limit, by the setting hit. */
  streamsRefused: 'keyway_xds_streams_refused_total',
  /**
   * counter {reason}: admitted xDS streams keyway ended itself at a per-stream limit: `write_stall`, `buffered_bytes`,
   * `subscription_names`, `subscription_name_chars` (STREAM_LIMIT_REASONS; refusals at admission are streamsRefused).
   */
  streamsOverLimit: 'keyway_xds_streams_over_limit_total',
  /** histogram: seconds from a change at a source to the ACK of the last connected proxy. */
  convergence: 'keyway_convergence_seconds',
  /** histogram: seconds to compute one shard map (full or incremental). */
  shardMapComputeDuration: 'keyway_shardmap_compute_duration_seconds',
  /** gauge: seconds since the shard map in force was published. */
  shardMapVersionAge: 'keyway_shardmap_version_age_seconds',
  /** gauge {version}: 1 for the version in force. */
  shardMapInfo: 'keyway_shardmap_info',
  /** gauge: S, the number of shards. */
  shardCount: 'keyway_shardmap_shards',
  /** counter: shards whose owner list changed, summed over every change. */
  shardsMoved: 'keyway_shards_moved_total',
  /** counter: shard-map changes published (the first map included). */
  shardMapChanges: 'keyway_shardmap_changes_total',
  /** histogram: shards moved by one change. */
  movedPerChange: 'keyway_shardmap_change_moved_shards',
  /** gauge {endpoint, region, zone, subzone}: shards the endpoint owns (primary or replica). */
  shardsOwned: 'keyway_shards_owned',
  /** gauge {endpoint, region, zone, subzone}: shards the endpoint leads (primary). */
  shardsPrimary: 'keyway_shards_primary',
  /** gauge {endpoint, region, zone, subzone}: the endpoint's configured weight. */
  endpointWeight: 'keyway_endpoint_weight',
  /** gauge {endpoint, region, zone, subzone}: 1 when the endpoint is ready, else 0. */
  endpointReady: 'keyway_endpoint_ready',
  /** counter {source}: failures of a source (a file that does not parse, a lost API server). */
  sourceErrors: 'keyway_source_errors_total',
  /** gauge {source}: seconds since the source last delivered state from its backend. */
  sourceStaleness: 'keyway_source_staleness_seconds',
  /** gauge {source}: 1 while the source serves its last known state because its backend failed. */
  sourceStale: 'keyway_source_stale',
  /**
   * gauge {reason}: 1 while keyway is degraded for that reason, else 0 (docs/security.md "Honest state"); one series per
   * reason of DEGRADED_REASON_CODES: proxy_nack, snapshot_rejected, source_stale, source_error, pipeline_error.
   */
  degraded: 'keyway_degraded',
  /** counter: two-phase moves started (a shard's new primary began warming). */
  handoffStarted: 'keyway_handoff_transitions_started_total',
  /** counter {outcome}: two-phase moves ended: warm, timeout, cancelled, owner-lost, agent-lost. */
  handoffCompleted: 'keyway_handoff_transitions_completed_total',
  /** histogram {outcome}: seconds from the start of a two-phase move to its flip (outcome warm or timeout): time to warm. */
  handoffWarmDuration: 'keyway_handoff_warm_duration_seconds',
  /** gauge: shards in transition now (routed to their previous owners while the new primary warms). */
  handoffInTransition: 'keyway_handoff_shards_in_transition',
  /** gauge: (shard, node) drains under way: previous primaries serving shards they lost. */
  handoffDraining: 'keyway_handoff_shards_draining',
  /** gauge: notAfter of the xDS server certificate in use, Unix seconds (absent without --xds-tls-cert). */
  xdsTlsCertificateExpiry: 'keyway_xds_tls_certificate_expiry_timestamp_seconds',
  /** gauge {shard}: requests per second of a shard in the last closed load window, summed from the reports this replica received (absent when none came; its hottest shards only; docs/load-reports.md). */
  loadShard: LOAD_METRIC_NAMES.shard,
  /** gauge {node}: requests per second a node reported for that window. */
  loadNode: LOAD_METRIC_NAMES.node,
  /** gauge: start of that window, Unix seconds. */
  loadWindow: LOAD_METRIC_NAMES.window,
  /** gauge: failed reads of the load snapshot source in a row (0 after a read that succeeded). */
  loadSnapshotReadFailures: 'keyway_load_snapshot_read_failures',
  /** gauge {reason}: shards the hot-shard policy changes now: `spread` (several readers), `bounded-load` (primary moved). */
  hotShards: 'keyway_hot_shards',
  /** counter: shards whose owners or readers changed between two consecutive hot-shard decisions. */
  hotShardMoves: 'keyway_hot_shard_moves_total',
  /** counter: moves the churn budget (hotShards.maxMovesPerWindow) deferred to a later window. */
  hotShardMovesDeferred: 'keyway_hot_shard_moves_deferred_total',
  /** gauge {map}: modelled busiest node, load over weight share, for the published map (`hot`) and plain rendezvous (`plain`). */
  hotShardLoadRatio: 'keyway_hot_shard_max_load_ratio',
  /** counter {outcome}: endpoint picker (ext_proc) decisions: `route`, `bad-request` (400), `unavailable` (503). */
  pickerDecisions: 'keyway_picker_decisions_total',
  /** counter {by}: responses whose served endpoint the gateway reported: `primary`, `replica`, `elsewhere`. */
  pickerServed: 'keyway_picker_served_total',
} as const;

/**
 * What the example cache node (examples/cache-node) exposes: the contract the "keyway / Locality"
 * dashboard reads, which any cache implementation can export to get the same panels.
 * `shard?`: only with the example node's opt-in `--shard-metrics` (docs/observability.md).
 */
export const CACHE_NODE_METRICS = {
  /** counter {node, region, zone, subzone, shard?, tier, result}: lookups per tier (l1, l2, l3) and result (hit, miss). */
  lookups: 'keyway_cache_lookups_total',
  /** counter {node, region, zone, subzone, shard?, owner}: requests served, `owner` = true | false | unknown. */
  requests: 'keyway_cache_requests_total',
  /**
   * counter {node, region, zone, subzone, shard?}: requests refused with 421 because the key does not
   * hash to the `x-cache-shard` they carried (`shard` is the carried value): a client's hash is wrong.
   */
  misdirected: 'keyway_cache_misdirected_requests_total',
  /** gauge {node, region, zone, subzone, tier}: entries held per tier (l1, l2). */
  entries: 'keyway_cache_entries',
  /** gauge {node, region, zone, subzone, role}: shards this node owns, role = primary | replica. */
  ownedShards: 'keyway_cache_owned_shards',
  /** gauge {node, region, zone, subzone}: seconds since the node last read keyway's shard map. */
  shardMapAge: 'keyway_cache_shardmap_age_seconds',
  /** counter {node, region, zone, subzone, shard?}: entries copied from a peer by warm-ups (docs/ownership.md). */
  warmEntries: 'keyway_cache_warm_entries_total',
  /** histogram {node, region, zone, subzone, outcome}: one shard's warm-up, outcome = copied | empty | aborted. */
  warmDuration: 'keyway_cache_warm_duration_seconds',
  /** counter {node, region, zone, subzone, shard?}: requests served for a shard whose warm-up had not finished. */
  requestsWhileWarming: 'keyway_cache_requests_while_warming_total',
} as const;

/**
 * The process and runtime metrics `keyway serve` also exposes (src/telemetry/process-metrics.ts), named
 * by OpenTelemetry's semantic conventions as the exporter renders them. Event-loop delay and CPU
 * utilization cover the time since the previous scrape; the rest are totals or current values.
 */
export const PROCESS_METRICS = {
  /** counter {process_cpu_state: user, system}: CPU seconds used. */
  cpuTime: 'process_cpu_time_total',
  /** gauge {process_cpu_state}: CPU used since the previous scrape, over elapsed time and the machine's CPUs (not a pod's CPU limit). */
  cpuUtilization: 'process_cpu_utilization',
  /** gauge: resident set size, bytes. */
  memory: 'process_memory_usage',
  /** gauge: file descriptors held open (Linux: /proc/self/fd; absent without procfs). */
  fileDescriptors: 'process_unix_file_descriptor_count',
  /** gauge: event-loop utilization, 0 to 1, since the previous scrape. */
  eventLoopUtilization: 'nodejs_eventloop_utilization',
  /** counter {nodejs_eventloop_state: active, idle}: event-loop seconds by state. */
  eventLoopTime: 'nodejs_eventloop_time_total',
  /** gauges: event-loop delay in seconds since the previous scrape (10 ms sampling; under 5 new samples a scrape repeats the previous figures, absent until the first 5). */
  eventLoopDelayMin: 'nodejs_eventloop_delay_min',
  eventLoopDelayMax: 'nodejs_eventloop_delay_max',
  eventLoopDelayMean: 'nodejs_eventloop_delay_mean',
  eventLoopDelayStddev: 'nodejs_eventloop_delay_stddev',
  eventLoopDelayP50: 'nodejs_eventloop_delay_p50',
  eventLoopDelayP90: 'nodejs_eventloop_delay_p90',
  eventLoopDelayP99: 'nodejs_eventloop_delay_p99',
  /** histogram {v8js_gc_type}: garbage-collection pauses, seconds. */
  gcDuration: 'v8js_gc_duration',
  /** gauges {v8js_heap_space_name}: V8 heap bytes per space: used, size, available, physical. */
  heapUsed: 'v8js_memory_heap_used',
  heapSpaceSize: 'v8js_memory_heap_space_size',
  heapSpaceAvailable: 'v8js_memory_heap_space_available_size',
  heapSpacePhysical: 'v8js_memory_heap_space_physical_size',
  /** gauge {v8js_resource_type}: handles and requests keeping the event loop alive (TCPWRAP, Timeout, ...). */
  activeResources: 'v8js_resource_active',
} as const;

/** The instrument name behind an exposed name (counters lose the `_total` the exporter adds back). */
export function instrumentName(exposed: string): string {
  return exposed.endsWith('_total') ? exposed.slice(0, -'_total'.length) : exposed;
}
