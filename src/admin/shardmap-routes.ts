/**
 * The shard-map REST routes (public contract: docs/api.md, bodies in `./api-types.ts`):
 * `GET /v1/shardmap`, `GET /v1/shards/{shard}`, `GET /v1/lookup?key=K`, `GET /v1/handoff?node=ID`
 * and `GET /v1/changes`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { endpointShares, keyToShard, ownersOf } from '../sharding/index.js';
import type { ServingReader, ServingView } from '../core/serving.js';
import { shardReaders } from '../core/shard-map.js';
import type { HotShardBody, HotShardsBody, LookupBody, ShardBody, ShardMapBody, SourcesDetailBody } from './api-types.js';
import { changesBodies, MAX_CHANGE_MOVES_SHOWN } from './changes-body.js';
import { errorBody, repeatedParameter } from './error-body.js';
import { ifNoneMatchHits, strongEtag, weakEtag } from './etag.js';
import { handoffBody, nodeHandoffBody } from './handoff-body.js';
import { sourcesDetail } from './sources-detail.js';

/** `GET /v1/shardmap` body, built once per published view. */
function shardMapBody(view: ServingView): Omit<ShardMapBody, keyof SourcesDetailBody> {
  const { map } = view;
  const shares = endpointShares(map);
  return {
    version: map.version,
    shardCount: map.policy.shardCount,
    replicas: map.policy.replicas,
    spread: map.policy.spread,
    shards: map.owners.map((owners, shard) => {
      const readers = shardReaders(map, shard);
      return readers > 1 ? { shard, owners, readers } : { shard, owners };
    }),
    endpoints: map.endpoints.map((e) => ({
      id: e.id,
      address: e.address,
      port: e.port,
      locality: { region: e.locality.region, zone: e.locality.zone, subzone: e.locality.subzone },
      weight: e.weight,
      ready: e.ready,
      draining: e.draining === true,
      shardsOwned: shares.get(e.id)?.owned ?? 0,
      shardsPrimary: shares.get(e.id)?.primary ?? 0,
    })),
    warnings: map.warnings,
    updatedAt: view.updatedAt.toISOString(),
    // A view built by hand, without the serving state's stamp, has only its publish time.
    versionSince: (view.versionSince ?? view.updatedAt).toISOString(),
    handoff: handoffBody(view),
    hotShards: hotShardsBody(view),
  };
}

/** The hot-shard decision behind the target map, for `/v1/shardmap` (docs/hot-shards.md). */
function hotShardsBody(view: ServingView): HotShardsBody {
  const d = view.hotShards;
  if (!d) return { shards: [], moves: 0, deferred: 0 };
  return {
    ...(d.windowStartMs > 0 ? { window: new Date(d.windowStartMs).toISOString() } : {}),
    shards: d.shards.map(hotShardBody),
    moves: d.moves,
    deferred: d.deferred,
    ...(d.maxLoadRatio !== undefined ? { maxLoadRatio: d.maxLoadRatio } : {}),
    ...(d.plainMaxLoadRatio !== undefined ? { plainMaxLoadRatio: d.plainMaxLoadRatio } : {}),
  };
}

function hotShardBody(h: NonNullable<ServingView['hotShards']>['shards'][number]): HotShardBody {
  return { shard: h.shard, load: h.load, owners: h.owners, readers: h.readers, reason: h.reason, explanation: h.explanation };
}

/** One shard's owners, readers and, for a hot shard, the policy's explanation. */
function shardBody(view: ServingView, shard: number): ShardBody {
  const hot = view.hotShards?.shards.find((h) => h.shard === shard);
  const owners = ownersOf(view.map, shard);
  return {
    shard,
    owners,
    version: view.map.version,
    // shardReaders() is at least 1 for the xDS translator and the hot-shard model; the body says how
    // many of `owners` read, so a shard without owners has none.
    readers: Math.min(shardReaders(view.map, shard), owners.length),
    ...(hot ? { hotShard: hotShardBody(hot) } : {}),
  };
}

/** The map part of the body, and a digest of its state (computed once per view, like the body). */
interface CachedBody {
  /** The map part as JSON: serialized once per view (1.4 MB at S = 16384, R = 3, 2000 endpoints). */
  readonly json: string;
  /** A digest of the map part without `updatedAt` and `versionSince`, the fields each process stamps itself. */
  readonly tag: string;
}

function cachedBody(view: ServingView): CachedBody {
  const { updatedAt, versionSince: since, handoff, hotShards, ...head } = shardMapBody(view);
  const a = JSON.stringify(head);
  const b = JSON.stringify({ handoff, hotShards });
  const stamps = JSON.stringify({ updatedAt, versionSince: since });
  // The fields in the order of ShardMapBody: the stamps between warnings and handoff.
  return { json: `${a.slice(0, -1)},${stamps.slice(1, -1)},${b.slice(1)}`, tag: strongEtag(a, b) };
}

/** The source health with the times each process stamps itself left out: what the ETag covers. */
function sourcesState(detail: SourcesDetailBody): string {
  return JSON.stringify({ ...detail, sources: detail.sources.map(({ lastUpdate: _u, staleSince: _s, ...rest }) => rest) });
}

/**
 * The admin plugin for docs/api.md "Shard map". The map part of `/v1/shardmap` is cached per
 * published view, so a poll between changes costs only the source health and an ETag check.
 */
export function shardMapRoutes(state: ServingReader) {
  const bodies = new WeakMap<ServingView, CachedBody>();
  // The last whole answer, as bytes every client is sent: a Buffer is written to a socket without a
  // copy, so many slow readers of a map of megabytes share one, where a string was encoded (and
  // joined with the headers) once per client.
  let last: { readonly cached: CachedBody; readonly sources: string; readonly bytes: Buffer } | undefined;
  /** The view in force, or a 503 sent when keyway has no shard map yet. */
  const viewOr503 = (reply: FastifyReply): ServingView | undefined => {
    const view = state.current();
    if (!view) void reply.code(503).send(errorBody('SOURCE_UNAVAILABLE', 'no shard map yet: no valid topology has been loaded'));
    return view;
  };

  return async function register(app: FastifyInstance): Promise<void> {
    // Conditional GET: a weak ETag over the state the body carries (map part and source health,
    // not the times each process stamps), so a node polling with If-None-Match gets 304 and no body
    // until something in it changes, also through a Service over several replicas (docs/api.md).
    app.get('/v1/shardmap', async (request, reply) => {
      const view = viewOr503(reply);
      if (!view) return reply;
      let cached = bodies.get(view);
      if (!cached) bodies.set(view, (cached = cachedBody(view)));
      // Source health is live, not part of the cached body.
      const detail = sourcesDetail(state);
      const sources = JSON.stringify(detail);
      const etag = weakEtag(cached.tag, sourcesState(detail));
      void reply.header('etag', etag).header('cache-control', 'no-cache');
      if (ifNoneMatchHits(request.headers['if-none-match'], etag)) return reply.code(304).send();
      if (last?.cached !== cached || last.sources !== sources) {
        // The ShardMapBody: the cached map part's fields, then the sources' (no key in both).
        const answer = sources === '{}' ? cached.json : `${cached.json.slice(0, -1)},${sources.slice(1)}`;
        last = { cached, sources, bytes: Buffer.from(answer, 'utf8') };
      }
      return reply.type('application/json; charset=utf-8').send(last.bytes);
    });

    // A string checked by pattern, not `type: integer`: Ajv's coercion would turn " " into 0 and
    // "0x10" into 16.
    app.get<{ Params: { shard: string } }>(
      '/v1/shards/:shard',
      {
        schema: { params: { type: 'object', properties: { shard: { type: 'string', pattern: '^[0-9]+$' } }, required: ['shard'] } },
        attachValidation: true,
      },
      async (request, reply) => {
        if (request.validationError) {
          return reply
            .code(400)
            .send(errorBody('BAD_ARGUMENT', `path parameter "shard" must be a non-negative integer, got ${JSON.stringify(request.params.shard)}`, 'shard'));
        }
        const view = viewOr503(reply);
        if (!view) return reply;
        const shard = Number(request.params.shard);
        const S = view.map.policy.shardCount;
        if (shard >= S) {
          return reply.code(404).send(errorBody('NOT_FOUND', `shard ${request.params.shard} does not exist: shards are 0..${S - 1}`, 'shard'));
        }
        const answer: ShardBody = shardBody(view, shard);
        return answer;
      },
    );

    app.get<{ Querystring: { key: string } }>(
      '/v1/lookup',
      { schema: { querystring: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] } } },
      async (request, reply) => {
        const view = viewOr503(reply);
        if (!view) return reply;
        const { key } = request.query;
        const shard = keyToShard(key, view.map.policy.shardCount);
        const answer: LookupBody = { key, ...shardBody(view, shard) };
        return answer;
      },
    );

    // A query parameter, not a path segment: endpoint ids may contain "/". An empty one names no
    // endpoint (the config refuses an empty id): 400, as `proxy=` is, not a 404 lookup.
    app.get<{ Querystring: { node: string } }>(
      '/v1/handoff',
      { schema: { querystring: { type: 'object', properties: { node: { type: 'string', minLength: 1 } }, required: ['node'] } } },
      async (request, reply) => {
        const view = viewOr503(reply);
        if (!view) return reply;
        const body = nodeHandoffBody(view, request.query.node);
        if (!body) {
          return reply.code(404).send(errorBody('NOT_FOUND', `node ${JSON.stringify(request.query.node)} is not in the shard map`, 'node'));
        }
        return body;
      },
    );

    // Serialized once per history (a new array on each change), sent as shared bytes: with every
    // moved shard listed, 32 changes at S = 131072 reach 100 MB, whose JSON.stringify held the
    // event loop (xDS included) for over a second on every request and copied it per client.
    // `moves=N` bounds each change's list (the web view asks for none: it shows counts and the
    // largest primary hand-overs). A digit string, not `type: integer`, as `names` of /v1/proxies.
    const changes = changesBodies();
    app.get<{ Querystring: { moves?: string } }>(
      '/v1/changes',
      { schema: { querystring: { type: 'object', properties: { moves: { type: 'string', pattern: '^[0-9]+$' } } } }, attachValidation: true },
      async (request, reply) => {
        const repeated = repeatedParameter(request.query, 'moves');
        if (repeated) return reply.code(400).send(errorBody('BAD_ARGUMENT', repeated, 'moves'));
        const { moves } = request.query;
        if (request.validationError || (moves !== undefined && Number(moves) > MAX_CHANGE_MOVES_SHOWN)) {
          const got = JSON.stringify(moves)?.slice(0, 40);
          return reply.code(400).send(errorBody('BAD_ARGUMENT', `query parameter "moves" must be an integer from 0 to ${MAX_CHANGE_MOVES_SHOWN}, got ${got}`, 'moves'));
        }
        const history = state.history();
        const bytes = moves === undefined ? changes.whole(history) : changes.bounded(history, Number(moves));
        return reply.type('application/json; charset=utf-8').send(bytes);
      },
    );
  };
}
