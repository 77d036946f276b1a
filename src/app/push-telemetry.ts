/**
 * Telemetry of xDS pushes (docs/observability.md "Traces"; fed by the xDS stage): per-type push counts and
 * durations (response written to ACK or NACK), NACKs, and per published shard map one change trace
 * whose end gives the convergence time: from the source event (the view's `cause.detectedAt`, else
 * the publication) to the ACK of the last connected proxy that the change pushed to.
 *
 * A trace reads: `keyway.change` (source, reason, version) with the children `keyway.sharding` (the
 * runner's computation, at its real times), `keyway.xds.rebuild` (translation and encoding) and
 * `keyway.xds.push` per proxy and type, each ended by that proxy's ACK or NACK.
 *
 * A change collects the responses written while its rebuild runs, plus follow-ups to the same
 * proxies before it ends (a gRPC client that learns new clusters then asks for their endpoints).
 * A gRPC client ACKs new routes before it asks for the clusters they use, so its ACKs count only
 * once it holds, acknowledged, the routes, clusters and endpoints they lead to (the server says so
 * on each ACK, `complete`): until then its pushes stay open and the change has not converged.
 * A newer change supersedes one still waiting once it writes a response: the proxies will only ACK
 * the newer responses. A newer change that writes none (it changes nothing proxies receive) leaves
 * the one waiting to converge on its own answers.
 * Changes published in one turn of the event loop go out as one push of the latest: that change
 * carries the earlier ones, so it starts at the earliest one's source event and counts the shards
 * moved from the map pushed before them (`keyway.change.coalesced` says how many it carries).
 * A change whose view is being built ahead (`building`) is pushed on its own: the changes published
 * meanwhile do not fold into it, they go out after it.
 */
import type { Logger } from 'pino';
import { diffShardMaps } from '../sharding/index.js';
import { beginChangeTrace, type ChangeTrace, type KeywayMetrics } from '../telemetry/index.js';
import type { ServingView } from '../core/serving.js';
import type { XdsServerEvents } from '../xds/server/index.js';

/** The runner's shard-map computation, a child of `keyway.change`. */
export const SHARDING_SPAN = 'keyway.sharding';
/** Translation and encoding of the snapshots for every proxy class, a child of `keyway.change`. */
export const REBUILD_SPAN = 'keyway.xds.rebuild';

export interface PushTelemetry {
  /** Pass to `startXdsServer({events})`. */
  readonly events: XdsServerEvents;
  /**
   * A view was published: opens its change (superseding one not pushed yet). `source` is used when
   * the view has no `cause` (which names its own source).
   */
  published(view: ServingView, source: string): void;
  /**
   * The xDS stage builds the latest published view ahead, in slices (docs/ownership.md "Cost"), and
   * serves that view itself with the next `pushing`: its change is set aside for that push, so the
   * views published meanwhile open a change of their own, pushed after it, rather than fold it in
   * (it reaches the proxies on its own, and would otherwise go untraced).
   */
  building(): void;
  /**
   * Runs the rebuild that pushes the change set aside by `building`, else the latest published
   * change; its responses belong to that change, which supersedes the one in flight at its first
   * response.
   * `fanOut`, given the rebuild's result, says when the responses are still being written after it
   * returned (the cache announces big changes in slices): they belong to the change too, and the
   * change is sealed only then.
   */
  pushing<T>(rebuild: () => T, fanOut?: (result: T) => Promise<void> | undefined): T;
  /** Ends open changes. */
  close(): void;
}

interface OpenChange {
  readonly trace: ChangeTrace;
  /** When the earliest change this push carries reached keyway (ms): convergence counts from there. */
  readonly startMs: number;
  /** The view published before the earliest change it carries (the map the proxies had); dropped once pushed. */
  base: ServingView | undefined;
  /** Shards moved from `base` to this change's map. */
  readonly moved: number;
  /** Changes published before it and never pushed: its push carries them. */
  readonly coalesced: number;
  /** Proxies this change pushed to: later responses to them are follow-ups of the change. */
  readonly proxies: Set<string>;
  /**
   * Per gRPC client, the kinds it ACKed while it did not yet hold the clusters and endpoints its
   * routes use: their pushes stay open until it does (or answers with a NACK, or leaves).
   */
  readonly incomplete: Map<string, Set<string>>;
}

export interface PushTelemetryOptions {
  readonly metrics?: KeywayMetrics;
  readonly logger: Logger;
  /** Does the node still hold a stream? (A proxy gone stops counting for convergence.) */
  readonly connected: (nodeId: string) => boolean;
  /** Bound on one change (default 30 s, the change trace's default). */
  readonly timeoutMs?: number;
}

/** The ACKs of `nodeId` held back while its configuration was incomplete now count (at this answer's time). */
function settleIncomplete(c: OpenChange, nodeId: string): void {
  const kinds = c.incomplete.get(nodeId);
  if (!kinds) return;
  c.incomplete.delete(nodeId);
  for (const kind of kinds) c.trace.proxyAcked(nodeId, kind);
}

/**
 * The xDS stage's push observer (docs/xds-protocol.md "When a change has converged"): a change ends
 * only when the last proxy it pushed to has ACKed, so its trace measures convergence.
 */
export function pushTelemetry(opts: PushTelemetryOptions): PushTelemetry {
  const { metrics, logger } = opts;
  let pending: OpenChange | undefined;
  /** The change whose view is being built ahead (`building`): the next `pushing` pushes it. */
  let claimed: OpenChange | undefined;
  /** The last view published: the base of the next change, unless that one joins a pending one. */
  let lastView: ServingView | undefined;
  let inflight: OpenChange | undefined;
  /** The change whose rebuild (and sliced fan-out) is writing responses now: every proxy written to joins it. */
  let collecting: OpenChange | undefined;

  const events: XdsServerEvents = {
    sent(e) {
      // The first response of the change being pushed: the proxies will answer it, not the change
      // before (a change that writes nothing leaves that one to converge).
      if (collecting && collecting !== inflight && !collecting.trace.ended) {
        inflight?.trace.end('superseded');
        inflight = collecting;
      }
      const c = inflight;
      if (!c || c.trace.ended) return;
      if (collecting === c) c.proxies.add(e.nodeId);
      else if (!c.proxies.has(e.nodeId)) return;
      c.trace.pushed(e.nodeId, e.kind, { 'keyway.xds.version': e.version, 'keyway.xds.resources': e.resources });
    },
    acked(e) {
      metrics?.recordPush(e.kind, (e.at - e.sentAt) / 1000);
      const c = inflight;
      if (!c) return;
      if (e.complete === false) {
        // A gRPC client ACKed routes (or clusters) before fetching what they use: not converged yet.
        let kinds = c.incomplete.get(e.nodeId);
        if (!kinds) c.incomplete.set(e.nodeId, (kinds = new Set()));
        kinds.add(e.kind);
        return;
      }
      settleIncomplete(c, e.nodeId);
      c.trace.proxyAcked(e.nodeId, e.kind);
    },
    nacked(e) {
      metrics?.recordPush(e.kind, (e.at - e.sentAt) / 1000);
      metrics?.recordNack(e.kind);
      if (!inflight) return;
      settleIncomplete(inflight, e.nodeId);
      inflight.trace.proxyNacked(e.nodeId, e.kind, e.message);
    },
    refused(e) {
      metrics?.recordStreamRefused(e.limit);
    },
    overLimit(e) {
      metrics?.recordStreamOverLimit(e.reason);
    },
    closed(e) {
      if (opts.connected(e.nodeId)) return;
      inflight?.incomplete.delete(e.nodeId);
      inflight?.trace.proxyGone(e.nodeId);
    },
  };

  return {
    events,
    published(view, source) {
      // A change published but not pushed yet goes out with this one (the xDS stage pushes the
      // latest view): this change carries it, from its start and its base map.
      const joined = pending;
      joined?.trace.end('superseded');
      const base = joined ? joined.base : lastView;
      lastView = view;
      const own = view.diff?.moves.length ?? 0;
      const moved = !joined ? own : base && view.diff ? diffShardMaps(base.map, view.map).moves.length : joined.moved + own;
      const cause = view.cause;
      const startMs = Math.min(joined?.startMs ?? Infinity, (cause?.detectedAt ?? view.updatedAt).getTime());
      const coalesced = joined ? joined.coalesced + 1 : 0;
      const published = view.diff ? `shard map ${view.map.version} published (${moved} shards moved)` : `shard map ${view.map.version} published`;
      const trace = beginChangeTrace({
        source: cause?.source ?? source,
        reason: cause ? `${cause.reason}; ${published}` : published,
        startTime: new Date(startMs),
        attributes: {
          'keyway.shardmap.version': view.map.version,
          'keyway.shardmap.moved_shards': moved,
          ...(coalesced > 0 ? { 'keyway.change.coalesced': coalesced } : {}),
        },
        ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
        ...(metrics ? { onConverged: (s: number) => metrics.recordConvergence(s) } : {}),
        onSettled: (o) => {
          if (o.pushes === 0 && o.outcome !== 'timeout') return;
          const level = o.outcome === 'converged' || o.outcome === 'superseded' ? 'info' : 'warn';
          logger[level](
            { shardMapVersion: view.map.version, outcome: o.outcome, seconds: o.seconds, pushes: o.pushes, acked: o.acked, nacked: o.nacked, pending: o.pending, traceId: o.traceId },
            `xDS change ${o.outcome}`,
          );
        },
      });
      if (cause) {
        const start = cause.computeStartedAt.getTime();
        trace.recordStage(SHARDING_SPAN, start, start + cause.computeSeconds * 1000, {
          'keyway.sharding.mode': cause.mode,
          'keyway.sharding.seconds': cause.computeSeconds,
          'keyway.endpoints': view.map.endpoints.length,
        });
      }
      pending = { trace, startMs, base, moved, coalesced, proxies: new Set(), incomplete: new Map() };
    },
    building() {
      if (!pending) return;
      claimed?.trace.end('superseded'); // not expected: the stage builds one view at a time
      claimed = pending;
      pending = undefined;
    },
    pushing(rebuild, fanOut) {
      const change = claimed ?? pending;
      if (claimed) claimed = undefined;
      else pending = undefined;
      if (change) {
        change.base = undefined; // needed only to join a later change; not to hold an old map alive
        // It becomes the change in flight at its first response (`sent`).
        collecting = change;
      }
      let writing: Promise<void> | undefined;
      const seal = (): void => {
        if (collecting === change) collecting = undefined;
        change?.trace.sealed();
      };
      try {
        const result = change ? change.trace.stage(REBUILD_SPAN, undefined, rebuild) : rebuild();
        writing = fanOut?.(result);
        return result;
      } finally {
        if (writing && change) writing.then(seal, seal);
        else seal();
      }
    },
    close() {
      pending?.trace.end();
      claimed?.trace.end();
      collecting?.trace.end();
      inflight?.trace.end();
      pending = claimed = inflight = collecting = undefined;
    },
  };
}
