/**
 * `keyway.v1.ShardOwnership/ReportWarm` (docs/ownership.md "ReportWarm"), served on the xDS port
 * beside ADS: a cache node reports shards it has pre-warmed; keyway checks the report and hands it
 * to the warm-report sink (the runner's handoff planner), which flips the route of each shard whose
 * transition waits for that node.
 */
import { create } from '@bufbuild/protobuf';
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { WarmedMove, WarmReportOutcome, WarmReportSink } from '../../core/handoff.js';
import { WarmReportReplySchema, type WarmReport, type WarmReportReply } from '../proto.js';
import { streamPeer } from './peer-identity.js';
import { DEFAULT_XDS_STREAM_LIMITS } from './stream-limits.js';
import { nodeIdTooLong, ProtocolError, type StreamPeer } from './session.js';
import type { RefusalLog } from './refusal-log.js';

export interface WarmReportOptions {
  /** Where valid reports go; without it ReportWarm answers UNIMPLEMENTED. */
  readonly sink?: WarmReportSink | undefined;
  /** S of the view in force (reported shards must be below it); undefined before the first map. */
  readonly shardCount: () => number | undefined;
  readonly logger: Logger;
  /** Under mTLS, the node-id rule of the xDS streams: a node reports warm only for itself. */
  readonly admit?: (nodeId: string, peer: StreamPeer) => void;
  /** Longest `node_id` taken (docs/security.md "xDS streams"); default DEFAULT_XDS_STREAM_LIMITS.maxNodeIdLength. */
  readonly maxNodeIdLength?: number;
  /** Where refusals are logged, once per burst per gRPC code; default a line each. */
  readonly refusals?: RefusalLog;
}

/** A report keyway refuses: the gRPC status and a message naming the field. */
export interface Refusal {
  readonly code: GrpcStatus;
  readonly details: string;
}

/** A report that passed its checks: what the sink is handed. */
export interface CheckedWarmReport {
  /** The shards of `shards` not also in `warmed`, distinct and ascending. */
  readonly shards: number[];
  /** The `warmed` entries, distinct, by shard then deadline. */
  readonly moves: WarmedMove[];
}

/**
 * Checks one report: `node_id` non-empty, every shard below the current shard count, every
 * `warmed` entry with a deadline. A shard in `warmed` is judged by that entry only, so a node may
 * list it in `shards` too for an older keyway that knows no `warmed`. Returns the report to hand
 * on, or why it is refused.
 */
function checkWarmReport(report: WarmReport, shardCount: number | undefined): CheckedWarmReport | Refusal {
  if (report.nodeId === '') {
    return { code: GrpcStatus.INVALID_ARGUMENT, details: 'node_id: empty; set it to the endpoint id the node is known by (its ownership stream node.id)' };
  }
  if (shardCount === undefined) return { code: GrpcStatus.UNAVAILABLE, details: 'keyway has no shard map yet; retry' };
  const notShard = (field: string, shard: number): Refusal => ({
    code: GrpcStatus.INVALID_ARGUMENT,
    details: `${field}: ${shard} is not a shard (shard count is ${shardCount}, shards are 0..${shardCount - 1})`,
  });
  for (const [i, shard] of report.shards.entries()) if (shard >= shardCount) return notShard(`shards[${i}]`, shard);
  const moves = new Map<string, WarmedMove>();
  for (const [i, w] of report.warmed.entries()) {
    if (w.shard >= shardCount) return notShard(`warmed[${i}].shard`, w.shard);
    // A deadline past 2^53 ms is no deadline keyway sends (year 287396), so Number() loses nothing it needs.
    if (w.untilUnixMs <= 0n || w.untilUnixMs > BigInt(Number.MAX_SAFE_INTEGER)) {
      return { code: GrpcStatus.INVALID_ARGUMENT, details: `warmed[${i}].until_unix_ms: ${w.untilUnixMs} is no deadline; send the until_unix_ms of the shard's WARMING assignment from this replica` };
    }
    const until = Number(w.untilUnixMs);
    moves.set(`${w.shard}:${until}`, { shard: w.shard, untilUnixMs: until });
  }
  const named = new Set([...moves.values()].map((m) => m.shard));
  return {
    shards: [...new Set(report.shards)].filter((s) => !named.has(s)).sort((a, b) => a - b),
    moves: [...moves.values()].sort((a, b) => a.shard - b.shard || a.untilUnixMs - b.untilUnixMs),
  };
}

/**
 * Logs a refused warm or load report: once per burst per gRPC code through `refusals` (a client
 * sending reports in a loop, or for node ids the map does not list, would otherwise write a line
 * each), else a line each.
 */
export function refusedReport(log: Logger, refusals: RefusalLog | undefined, kind: 'warm' | 'load', refusal: Refusal, fields: Record<string, unknown>): void {
  if (refusals) refusals.refused(`${kind === 'warm' ? 'ReportWarm' : 'ReportLoad'} ${GrpcStatus[refusal.code]}`, fields, `${kind} report refused: ${refusal.details}`);
  else log.warn({ ...fields, error: refusal.details }, `${kind} report refused`);
}

/** The shards a report had taken: all but those of `moves` the sink found stale; distinct, ascending. */
function acceptedShards(checked: CheckedWarmReport, stale: readonly number[]): number[] {
  const refused = new Set(stale);
  const taken = new Set([...checked.shards, ...checked.moves.map((m) => m.shard).filter((s) => !refused.has(s))]);
  return [...taken].sort((a, b) => a - b);
}

/**
 * The grpc-js handler of ReportWarm. Replies `accepted` = the reported shards (distinct, ascending),
 * without the `warmed` entries the sink ignored as naming no move it runs.
 */
export function reportWarmHandler(opts: WarmReportOptions) {
  const log = opts.logger.child({ rpc: 'ReportWarm' });
  return (call: ServerUnaryCall<WarmReport, WarmReportReply>, callback: sendUnaryData<WarmReportReply>): void => {
    if (!opts.sink) {
      callback({
        code: GrpcStatus.UNIMPLEMENTED,
        details: 'this keyway takes no warm reports: ShardOwnership/ReportWarm needs the handoff planner (keyway serve wires it; see docs/ownership.md)',
      });
      return;
    }
    const refused = refusedNode(opts.admit, call, opts.maxNodeIdLength);
    if (refused) {
      refusedReport(log, opts.refusals, 'warm', refused, { peer: call.getPeer() });
      callback(refused);
      return;
    }
    const checked = checkWarmReport(call.request, opts.shardCount());
    if (!('shards' in checked)) {
      refusedReport(log, opts.refusals, 'warm', checked, { node: call.request.nodeId });
      callback(checked);
      return;
    }
    let outcome: WarmReportOutcome | void;
    try {
      outcome = opts.sink.reportWarm({ node: call.request.nodeId, shards: checked.shards, ...(checked.moves.length > 0 && { moves: checked.moves }) });
    } catch (err) {
      log.error({ err, node: call.request.nodeId }, 'warm report sink failed');
      callback({ code: GrpcStatus.INTERNAL, details: `warm report not recorded: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    const accepted = acceptedShards(checked, outcome?.stale ?? []);
    log.debug({ node: call.request.nodeId, shards: accepted }, 'warm report');
    callback(null, create(WarmReportReplySchema, { accepted }));
  };
}

/**
 * The node-id rules of the xDS streams for the ShardOwnership RPCs: a `node_id` within the length
 * limit (RESOURCE_EXHAUSTED past it) and, under mTLS, a node reports only for itself (its client
 * certificate names `node_id`). Undefined when admitted (or no mTLS, or an empty node id, which
 * the report's own check refuses). The refusal's message quotes the node id, cut.
 */
export function refusedNode(
  admit: ((nodeId: string, peer: StreamPeer) => void) | undefined,
  call: ServerUnaryCall<{ readonly nodeId: string }, unknown>,
  maxNodeIdLength: number = DEFAULT_XDS_STREAM_LIMITS.maxNodeIdLength,
): Refusal | undefined {
  const tooLong = nodeIdTooLong(call.request.nodeId, maxNodeIdLength);
  if (tooLong) return { code: tooLong.code, details: tooLong.message };
  if (!admit || call.request.nodeId === '') return undefined;
  try {
    admit(call.request.nodeId, streamPeer(call));
    return undefined;
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
    return { code: err.code, details: err.message };
  }
}
