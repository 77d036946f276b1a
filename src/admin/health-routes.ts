/**
 * Probes (docs/api.md "Observability and probes"): `GET /healthz` answers 200 while the process serves; `GET /readyz`
 * answers 200 when a shard map with owners is in force and 503 with the reason otherwise. A ready keyway may be
 * degraded (docs/security.md "Honest state"): proxies NACK, a proxy class's snapshot was refused, or a source is stale. That stays 200 with
 * `status: "degraded"` and the reasons, because a 503 would take every replica out of its Service and cut the
 * proxies off from the configuration they still need.
 */
import type { FastifyInstance } from 'fastify';
import { degradedReasons, snapshotRejectionsOf, type DegradedReason, type NackView } from '../core/health.js';
import type { ProxyStatusReader } from '../core/proxy.js';
import type { ShardMap } from '../core/shard-map.js';
import type { ServingReader } from '../core/serving.js';
import type { ReadyzBody } from './api-types.js';
import { sourcesDetail } from './sources-detail.js';

// Per map: the counts /readyz reports. Every ShardMapClient polls /readyz once a second, and a pass
// over S shards per request adds up at S = 131072 with a thousand clients.
const countsByMap = new WeakMap<ShardMap, { ownedShards: number; readyEndpoints: number }>();

function mapCounts(map: ShardMap): { ownedShards: number; readyEndpoints: number } {
  let counts = countsByMap.get(map);
  if (!counts) {
    counts = {
      ownedShards: map.owners.reduce((n, owners) => n + (owners.length > 0 ? 1 : 0), 0),
      readyEndpoints: map.endpoints.filter((e) => e.ready && e.weight > 0).length,
    };
    countsByMap.set(map, counts);
  }
  return counts;
}

/**
 * A proxy-status reader that may also list only the nodes that NACK, with only their NACKed types
 * (the xDS server's does): `/readyz` needs no more, and a row per proxy costs about 100 ms at
 * thousands of proxies. A reader without it is read through its rows.
 */
export type NackReader = ProxyStatusReader & { nacking?(): Iterable<NackView> };

/** `proxies`: the xDS stages' readers, whose NACKs make keyway degraded (none: no xDS stage). */
export function healthRoutes(state: ServingReader, proxies: readonly NackReader[] = []) {
  const nackReasons = proxyReasons(proxies);
  return async function register(app: FastifyInstance): Promise<void> {
    app.get('/healthz', async () => ({ ok: true }));

    app.get('/readyz', async (_request, reply) => {
      const view = state.current();
      const detail = sourcesDetail(state);
      const health = { sources: state.sources(), pipelineError: state.pipelineError(), snapshots: snapshotRejectionsOf(state) };
      const reasons = [...nackReasons(), ...degradedReasons(health)];
      if (!view) {
        const body: ReadyzBody = { ready: false, status: 'not-ready', reason: 'no valid topology loaded yet: no shard map', reasons, ...detail };
        return reply.code(503).send(body);
      }
      const { map } = view;
      const { ownedShards, readyEndpoints } = mapCounts(map);
      const summary = {
        version: map.version,
        shardCount: map.policy.shardCount,
        ownedShards,
        endpoints: map.endpoints.length,
        readyEndpoints,
        warnings: map.warnings,
        reasons,
        ...detail,
      };
      if (ownedShards === 0) {
        const reason =
          map.endpoints.length === 0
            ? 'no endpoints: every shard is without owners'
            : `no ready endpoint with weight > 0 among ${map.endpoints.length}: every shard is without owners`;
        const body: ReadyzBody = { ready: false, status: 'not-ready', reason, ...summary };
        return reply.code(503).send(body);
      }
      const body: ReadyzBody = { ready: true, status: reasons.length > 0 ? 'degraded' : 'ready', ...summary };
      return body;
    });
  };
}

/**
 * The proxies' part of the reasons, reused for ten times what reading them took: `/readyz` is polled by every
 * kubelet and every open web view (each second). A reader's NACKing nodes alone are cheap to read; a reader
 * without {@link NackReader.nacking} builds every row, about 100 ms at thousands of proxies. So the probe
 * spends at most about a tenth of the event loop on them, and a cheap read is done afresh on every call.
 */
function proxyReasons(readers: readonly NackReader[]): () => readonly DegradedReason[] {
  let cached: readonly DegradedReason[] = [];
  let validUntil = -Infinity;
  return () => {
    const start = performance.now();
    if (start < validUntil) return cached;
    const rows = function* (): Iterable<NackView> {
      for (const reader of readers) yield* reader.nacking?.() ?? reader.proxies();
    };
    cached = degradedReasons({ sources: [], proxies: rows() });
    const end = performance.now();
    validUntil = end + 10 * (end - start);
    return cached;
  };
}
