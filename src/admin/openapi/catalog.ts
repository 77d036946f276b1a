/**
 * Every route keyway's admin server answers, described for `/openapi.json` (OpenAPI 3.1) and
 * docs/api.md. Keyed by `METHOD /path` in OpenAPI's path syntax (`{shard}`). The OpenAPI test fails
 * when a registered route has no entry here, so a new route is documented when it is added.
 */
import { MAX_PROXIES_LIMIT } from '../api-types.js';
import { MAX_CHANGE_MOVES_SHOWN, PRIMARY_HANDOVERS_SHOWN } from '../changes-body.js';
import { encodeCursor } from '../proxy-routes.js';
import { MAX_REST_PARAM_LENGTH } from '../request-limits.js';

type Schema = Record<string, unknown>;

export interface ParameterDoc {
  readonly name: string;
  readonly in: 'query' | 'path';
  readonly required: boolean;
  readonly description: string;
  readonly schema: Schema;
  readonly example?: unknown;
}

export interface ResponseDoc {
  readonly description: string;
  /** Media type to body schema; absent for an empty body. */
  readonly content?: Readonly<Record<string, { readonly schema: Schema; readonly example?: unknown }>>;
}

export interface RouteDoc {
  readonly summary: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly parameters?: readonly ParameterDoc[];
  readonly responses: Readonly<Record<string, ResponseDoc>>;
}

const json = (name: string, example?: unknown): ResponseDoc['content'] => ({
  'application/json': { schema: { $ref: `#/components/schemas/${name}` }, ...(example !== undefined ? { example } : {}) },
});
const error = (description: string, example?: unknown): ResponseDoc => ({ description, content: json('Error', example) });
const noMap = error('No shard map yet: no valid topology has been loaded.', {
  error: { code: 'SOURCE_UNAVAILABLE', message: 'no shard map yet: no valid topology has been loaded' },
});
const text = (type: string, description: string): ResponseDoc => ({ description, content: { [type]: { schema: { type: 'string' } } } });

export const ROUTE_DOCS: Readonly<Record<string, RouteDoc>> = {
  'GET /v1/shardmap': {
    summary: 'The whole shard map',
    description:
      'Every shard with its owners (primary first), every endpoint with the shards it owns and leads, the policy, and the health of the sources. ' +
      'The body is built once per map version. It carries a weak `ETag` over what the body says (all of it but the times a process stamps itself: `updatedAt`, `versionSince`, `sources[].lastUpdate` and `sources[].staleSince`), ' +
      'the same on every replica given the same inputs: send it back in `If-None-Match` and keyway answers 304 with no body while nothing changed, ' +
      'so a poller fetches the map only when it changed (or poll `/readyz` for `version`).',
    tags: ['shard map'],
    responses: {
      '200': { description: 'The map in force, with an `ETag` header.', content: json('ShardMap') },
      '304': { description: '`If-None-Match` names the current `ETag`: the map and source health are unchanged; no body.' },
      '503': noMap,
    },
  },
  'GET /v1/shards/{shard}': {
    summary: 'Owners of one shard',
    description: 'The owners of `shard`, primary first, how many of them serve its requests (`readers`), and for a hot shard why (`hotShard`, docs/hot-shards.md).',
    tags: ['shard map'],
    parameters: [{ name: 'shard', in: 'path', required: true, description: 'A shard number, 0 to S-1.', schema: { type: 'string', pattern: '^[0-9]+$' }, example: '5' }],
    responses: {
      '200': { description: 'The owners.', content: json('ShardOwners', { shard: 5, owners: ['gpu-b2', 'gpu-b4'], version: '5e130db5e3424e53', readers: 1 }) },
      '400': error('`shard` is not a non-negative integer.', { error: { code: 'BAD_ARGUMENT', message: 'path parameter "shard" must be a non-negative integer, got "x"', parameter: 'shard' } }),
      '404': error('`shard` is S or more.', { error: { code: 'NOT_FOUND', message: 'shard 5000 does not exist: shards are 0..1023', parameter: 'shard' } }),
      '414': error(`\`shard\` is longer than ${MAX_REST_PARAM_LENGTH} characters (docs/security.md "REST requests"); the connection is closed.`, {
        error: { code: 'LIMIT_EXCEEDED', message: `path parameter "shard" is longer than ${MAX_REST_PARAM_LENGTH} characters (the REST API's limit, docs/security.md)`, parameter: 'shard' },
      }),
      '503': noMap,
    },
  },
  'GET /v1/lookup': {
    summary: 'Shard and owners of a key',
    description:
      'The shard of `key` by the key-to-shard contract (murmur3_x86_32 of the UTF-8 key, or of its `{tag}` part, mod S; docs/hashing.md) and its owners, primary first.',
    tags: ['shard map'],
    parameters: [{ name: 'key', in: 'query', required: true, description: 'The cache key, URL-encoded.', schema: { type: 'string' }, example: 'user:{42}:emb' }],
    responses: {
      '200': { description: 'The shard and its owners.', content: json('Lookup', { key: 'user:{42}:emb', shard: 54, owners: ['gpu-b2', 'gpu-a1'], version: '5e130db5e3424e53', readers: 1 }) },
      '400': error('`key` is missing, given more than once, or not valid percent-encoding of UTF-8 (write `%` as `%25`).', { error: { code: 'BAD_ARGUMENT', message: 'query parameter "key" is required', parameter: 'key' } }),
      '503': noMap,
    },
  },
  'GET /v1/handoff': {
    summary: 'One node in a handoff',
    description:
      'How many shards are routed to the node, how many it is warming, handing off or draining, and whether it has handed everything off (docs/ownership.md). ' +
      'A departing node\'s preStop hook can poll it until `handedOff` is true.',
    tags: ['shard map'],
    parameters: [{ name: 'node', in: 'query', required: true, description: 'The endpoint id.', schema: { type: 'string', minLength: 1 }, example: 'gpu-a1' }],
    responses: {
      '200': { description: 'The node\'s handoff progress.', content: json('NodeHandoff') },
      '400': error('`node` is missing, empty or given more than once.', { error: { code: 'BAD_ARGUMENT', message: 'query parameter "node" is required', parameter: 'node' } }),
      '404': error('The node is not in the shard map.', { error: { code: 'NOT_FOUND', message: 'node "gpu-x" is not in the shard map', parameter: 'node' } }),
      '503': noMap,
    },
  },
  'GET /v1/changes': {
    summary: 'Recent shard-map changes',
    description:
      'The last 32 changes of the shard map that moved at least one shard, newest first, each with every moved shard (owners before and after). ' +
      `At S = 131072, 32 changes reach 25 MB when a node comes and goes and 200 MB when whole maps move: with \`moves=N\` each change lists its first N moved shards only (\`movedShards\` still counts them all) and names its ${PRIMARY_HANDOVERS_SHOWN} largest primary hand-overs (\`primaries\`).`,
    tags: ['shard map'],
    parameters: [
      {
        name: 'moves',
        in: 'query',
        required: false,
        description: `Moved shards listed per change, an integer from 0 to ${MAX_CHANGE_MOVES_SHOWN} written in digits; adds \`primaries\` to each change. Without it every moved shard is listed.`,
        schema: { type: 'string', pattern: '^[0-9]+$' },
        example: '0',
      },
    ],
    responses: {
      '200': { description: 'The changes (empty before the first move).', content: json('Changes') },
      '400': error(`\`moves\` is not an integer from 0 to ${MAX_CHANGE_MOVES_SHOWN} in digits, or is given more than once.`, {
        error: { code: 'BAD_ARGUMENT', message: `query parameter "moves" must be an integer from 0 to ${MAX_CHANGE_MOVES_SHOWN}, got "1e3"`, parameter: 'moves' },
      }),
    },
  },
  'GET /v1/proxies': {
    summary: 'Connected proxies and their sync state',
    description:
      'One row per connected xDS node id (Envoy, proxyless gRPC, or a cache node\'s ownership agent), sorted by id: identity, flavor, locality, streams, and per resource type the version sent, the version acknowledged and the last NACK. Served when the xDS stage runs. ' +
      `Pages like a Kubernetes list: with \`limit=N\` (1 to ${MAX_PROXIES_LIMIT}) the answer holds the first N rows and, when more rows follow, a \`continue\` token; send it back as \`continue\` for the rows whose id sorts after the last row returned. ` +
      'Pages are read from the live list, not a snapshot: a proxy connected the whole time appears exactly once across the pages; one that connects or disconnects meanwhile appears once or not at all, depending on whether its id sorts after the page being read. ' +
      'Without `limit` every row comes in one answer.',
    tags: ['proxies'],
    parameters: [
      { name: 'names', in: 'query', required: false, description: 'Subscribed names listed per type and row, an integer from 0 to 100000 written in digits (default 100); `count` gives them all.', schema: { type: 'string', pattern: '^[0-9]+$' }, example: '100' },
      { name: 'proxy', in: 'query', required: false, description: 'Only the row of this node id (an empty list when it is not connected).', schema: { type: 'string' }, example: 'envoy-1' },
      {
        name: 'limit',
        in: 'query',
        required: false,
        description: `Most rows in the answer, an integer from 1 to ${MAX_PROXIES_LIMIT} written in digits; \`continue\` in the answer when more follow. Default: every row.`,
        schema: { type: 'string', pattern: '^[0-9]+$' },
        example: '500',
      },
      {
        name: 'continue',
        in: 'query',
        required: false,
        description: 'The `continue` of the previous page, unchanged: the rows whose id sorts after the last row of that page. Ask with the same `outOfSync` as that page; `limit` and `names` may change.',
        schema: { type: 'string' },
        example: encodeCursor({ after: 'envoy-0', outOfSync: true }),
      },
      {
        name: 'outOfSync',
        in: 'query',
        required: false,
        description: '`true`: only the rows with a type not SYNCED (STALE, NACKED, NOT_SENT) or with `conflict`. Every row is judged, so this costs keyway as much as the whole list, but only the rows returned cross the wire.',
        schema: { type: 'string', enum: ['true', 'false'] },
        example: 'true',
      },
    ],
    responses: {
      '200': { description: 'The proxies (empty when none is connected), and `continue` when more rows follow.', content: json('Proxies') },
      '400': error(
        `\`names\` is not an integer from 0 to 100000 in digits, \`limit\` not one from 1 to ${MAX_PROXIES_LIMIT}, \`outOfSync\` neither true nor false, \`continue\` not a token of this list (or one returned for the other \`outOfSync\`), \`proxy\` is empty, or a parameter is given twice.`,
        { error: { code: 'BAD_ARGUMENT', message: `query parameter "limit" must be an integer from 1 to ${MAX_PROXIES_LIMIT}, got "0"`, parameter: 'limit' } },
      ),
    },
  },
  'GET /debug/config_dump': {
    summary: "What keyway last sent one proxy, like Envoy's /config_dump",
    description: 'The resources the proxy holds from keyway, per type, as Envoy admin ConfigDump messages in canonical ProtoJSON. Served when the xDS stage runs.',
    tags: ['proxies', 'debug'],
    parameters: [{ name: 'proxy', in: 'query', required: true, description: 'The proxy\'s node id (see `/v1/proxies`).', schema: { type: 'string' }, example: 'envoy-1' }],
    responses: {
      '200': { description: 'The config dump.', content: json('ConfigDump') },
      '400': error('`proxy` is missing, empty or given more than once.', { error: { code: 'BAD_ARGUMENT', message: 'query parameter "proxy" is required', parameter: 'proxy' } }),
      '404': error('No proxy with that node id is connected.', { error: { code: 'NOT_FOUND', message: 'no connected proxy "envoy-9"', parameter: 'proxy' } }),
    },
  },
  'GET /metrics': {
    summary: 'Prometheus metrics',
    description: 'Metrics in the Prometheus text exposition format (0.0.4), names prefixed `keyway_` (docs/observability.md). Served when telemetry runs.',
    tags: ['observability'],
    responses: {
      '200': text('text/plain', 'The exposition text.'),
      '503': error('Too many requests already wait for the next render (KEYWAY_ADMIN_METRICS_MAX_WAITING); retry after `Retry-After` seconds.', {
        error: { code: 'LIMIT_EXCEEDED', message: 'GET /metrics: 256 requests already wait for the next render, the most that may (KEYWAY_ADMIN_METRICS_MAX_WAITING); retry after 2 s' },
      }),
    },
  },
  'GET /healthz': {
    summary: 'Liveness probe',
    description: 'Answers 200 while the process serves.',
    tags: ['probes'],
    responses: { '200': { description: 'Alive.', content: json('Health', { ok: true }) } },
  },
  'GET /readyz': {
    summary: 'Readiness probe and map summary',
    description:
      'Ready when a shard map with owners is in force. A ready keyway may be degraded (proxies NACK its latest configuration, a source is stale or failing, the latest input could not be applied): it still answers 200, with `status: "degraded"` and the `reasons`, because failing readiness would take every replica out of its Service and cut proxies off. Both answers carry the map version, owned shards, ready endpoints, warnings, staleness and per-source health, so it is also the cheap way to poll for a new map version.',
    tags: ['probes'],
    responses: {
      '200': { description: 'Ready (`status` ready), or serving while degraded (`status` degraded, with `reasons`).', content: json('Readiness') },
      '503': { description: 'Not ready: no topology loaded yet, or every shard is without owners.', content: json('Readiness') },
    },
  },
  'GET /openapi.json': {
    summary: 'This document',
    description: 'The OpenAPI 3.1 description of every route this server answers.',
    tags: ['meta'],
    responses: { '200': { description: 'The OpenAPI document.', content: { 'application/json': { schema: { type: 'object' } } } } },
  },
  'GET /': {
    summary: 'Web view',
    description:
      'A single page: the shard map as a grid of S cells coloured by primary owner and grouped by fabric, ownership against weight per endpoint, proxies and their sync state, recent moves. Updates live by polling the routes above.',
    tags: ['web view'],
    responses: { '200': text('text/html', 'The page.') },
  },
  'GET /web/app.js': {
    summary: 'Web view script',
    description: 'The page\'s ES module.',
    tags: ['web view'],
    responses: { '200': text('text/javascript', 'The script.') },
  },
  'GET /web/style.css': {
    summary: 'Web view style sheet',
    description: 'The page\'s styles.',
    tags: ['web view'],
    responses: { '200': text('text/css', 'The style sheet.') },
  },
};
