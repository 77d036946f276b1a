/**
 * `keyway.v1.ShardOwnership/ReportLoad` (docs/load-reports.md), served on the xDS port beside
 * ReportWarm: a cache node reports the requests it served per shard in one closed, epoch-aligned
 * load window; keyway checks the report and hands it to the load-report sink (the load snapshot
 * source the runner wires), which the hot-shard policy reads.
 */
import { create } from '@bufbuild/protobuf';
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { KeywayError } from '../../core/errors.js';
import { MAX_REPORTED_SHARDS, type LoadReport, type LoadReportSink } from '../../core/load.js';
import { LoadReportReplySchema, type LoadReportMessage, type LoadReportReply } from '../proto.js';
import { refusedNode, refusedReport, type Refusal } from './ownership-service.js';
import type { RefusalLog } from './refusal-log.js';
import type { StreamPeer } from './session.js';

export interface LoadReportOptions {
  /** Where valid reports go; without it ReportLoad answers UNIMPLEMENTED. */
  readonly sink?: LoadReportSink | undefined;
  /** S of the view in force (reported shards must be below it); undefined before the first map. */
  readonly shardCount: () => number | undefined;
  /** Whether a node id is an endpoint of the view in force; default: any id. See checkLoadReport. */
  readonly isEndpoint?: (nodeId: string) => boolean;
  readonly logger: Logger;
  /** Under mTLS, the node-id rule of the xDS streams: a node reports load only for itself. */
  readonly admit?: (nodeId: string, peer: StreamPeer) => void;
  /** Longest `node_id` taken (docs/security.md "xDS streams"); default DEFAULT_XDS_STREAM_LIMITS.maxNodeIdLength. */
  readonly maxNodeIdLength?: number;
  /** Where refusals are logged, once per burst per gRPC code; default a line each. */
  readonly refusals?: RefusalLog;
  /** The clock, for refusing windows that have not started yet; default Date.now. */
  readonly now?: () => number;
}

const invalid = (details: string): Refusal => ({ code: GrpcStatus.INVALID_ARGUMENT, details });

/** A uint64 count as a number, or undefined when it is beyond 2^53 - 1 (no real window holds that many). */
function count(v: bigint): number | undefined {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/**
 * Checks one report against the contract of docs/load-reports.md: `node_id` non-empty;
 * `window_ms` equal to keyway's window; `window_start_unix_ms` a multiple of it and not in the
 * future (one window of clock skew allowed); at most MAX_REPORTED_SHARDS shards, each below the
 * shard count and listed once; every count a safe integer; the listed requests at most
 * `total_requests`. Returns the report in keyway's shape (shards ascending), or why it is refused.
 */
function checkLoadReport(
  report: LoadReportMessage,
  expected: { readonly windowMs: number | undefined; readonly shardCount: number | undefined; readonly nowMs: number; readonly isEndpoint?: (nodeId: string) => boolean },
): LoadReport | Refusal {
  if (report.nodeId === '') return invalid('node_id: empty; set it to the endpoint id the node is known by (its ownership stream node.id)');
  if (expected.windowMs === undefined || expected.shardCount === undefined) return { code: GrpcStatus.UNAVAILABLE, details: 'keyway has no shard map yet; retry' };
  // Only the map's endpoints: each reporting id becomes a metric series and adds to the policy's
  // fleet total, and the client chooses its id (a new one per window would grow both for good).
  if (expected.isEndpoint && !expected.isEndpoint(report.nodeId)) {
    return {
      code: GrpcStatus.FAILED_PRECONDITION,
      details: `node_id: ${JSON.stringify(report.nodeId.slice(0, 200))} is not an endpoint of keyway's shard map; load is taken only from its endpoints (a node keyway does not list yet is taken from the window after it does)`,
    };
  }
  if (report.windowMs !== expected.windowMs) {
    return invalid(`window_ms: ${report.windowMs}, but keyway's load window is ${expected.windowMs} ms (hotShards.windowMs); report per window of that length`);
  }
  const start = report.windowStartUnixMs;
  if (start <= 0n || start % BigInt(report.windowMs) !== 0n) {
    return invalid(`window_start_unix_ms: ${start} is not a positive multiple of window_ms ${report.windowMs} (windows are aligned to the Unix epoch: floor(t / window_ms) * window_ms)`);
  }
  const startMs = Number(start);
  if (startMs > expected.nowMs + report.windowMs) {
    return invalid(`window_start_unix_ms: ${startMs} is more than one window ahead of keyway's clock (${expected.nowMs}); check the node's clock`);
  }
  if (report.shards.length > MAX_REPORTED_SHARDS) {
    return invalid(`shards: ${report.shards.length} entries, the limit is ${MAX_REPORTED_SHARDS}; report the node's hottest ${MAX_REPORTED_SHARDS} shards`);
  }
  const total = count(report.totalRequests);
  if (total === undefined) return invalid(`total_requests: ${report.totalRequests} is beyond 2^53 - 1`);
  const seen = new Set<number>();
  const shards: { shard: number; requests: number }[] = [];
  let listed = 0;
  for (const [i, s] of report.shards.entries()) {
    if (s.shard >= expected.shardCount) {
      return invalid(`shards[${i}].shard: ${s.shard} is not a shard (shard count is ${expected.shardCount}, shards are 0..${expected.shardCount - 1})`);
    }
    if (seen.has(s.shard)) return invalid(`shards[${i}].shard: ${s.shard} is listed twice; list each shard once with its count for the window`);
    seen.add(s.shard);
    const requests = count(s.requests);
    if (requests === undefined) return invalid(`shards[${i}].requests: ${s.requests} is beyond 2^53 - 1`);
    listed += requests;
    shards.push({ shard: s.shard, requests });
  }
  if (listed > total) return invalid(`total_requests: ${total} is less than the listed shards' requests (${listed}); it counts every request of the window`);
  shards.sort((a, b) => a.shard - b.shard);
  return { nodeId: report.nodeId, windowStartMs: startMs, windowMs: report.windowMs, totalRequests: total, shards };
}

/** The grpc-js handler of ReportLoad. Replies `accepted_shards` = how many shards were recorded. */
export function reportLoadHandler(opts: LoadReportOptions) {
  const log = opts.logger.child({ rpc: 'ReportLoad' });
  const now = opts.now ?? Date.now;
  return (call: ServerUnaryCall<LoadReportMessage, LoadReportReply>, callback: sendUnaryData<LoadReportReply>): void => {
    if (!opts.sink) {
      callback({
        code: GrpcStatus.UNIMPLEMENTED,
        details: 'this keyway takes no load reports: ShardOwnership/ReportLoad needs a load snapshot source (keyway serve wires it; see docs/load-reports.md)',
      });
      return;
    }
    const refused = refusedNode(opts.admit, call, opts.maxNodeIdLength);
    if (refused) {
      refusedReport(log, opts.refusals, 'load', refused, { peer: call.getPeer() });
      callback(refused);
      return;
    }
    const checked = checkLoadReport(call.request, {
      windowMs: opts.sink.windowMs(),
      shardCount: opts.shardCount(),
      nowMs: now(),
      ...(opts.isEndpoint ? { isEndpoint: opts.isEndpoint } : {}),
    });
    if ('code' in checked) {
      refusedReport(log, opts.refusals, 'load', checked, { node: call.request.nodeId });
      callback(checked);
      return;
    }
    try {
      opts.sink.reportLoad(checked);
    } catch (err) {
      if (err instanceof KeywayError && (err.code === 'BAD_ARGUMENT' || err.code === 'LIMIT_EXCEEDED')) {
        // A report the sink refuses (a window too late to count, the node's clock behind; a window
        // full of nodes): refused as such, and logged per burst like the other refusals, not once
        // per report as an error.
        const code = err.code === 'BAD_ARGUMENT' ? GrpcStatus.FAILED_PRECONDITION : GrpcStatus.RESOURCE_EXHAUSTED;
        const refusal: Refusal = { code, details: err.message };
        refusedReport(log, opts.refusals, 'load', refusal, { node: checked.nodeId });
        callback(refusal);
        return;
      }
      log.error({ err, node: checked.nodeId }, 'load report sink failed');
      callback({ code: GrpcStatus.INTERNAL, details: `load report not recorded: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    log.debug({ node: checked.nodeId, windowStartMs: checked.windowStartMs, shards: checked.shards.length, total: checked.totalRequests }, 'load report');
    callback(null, create(LoadReportReplySchema, { acceptedShards: checked.shards.length }));
  };
}
