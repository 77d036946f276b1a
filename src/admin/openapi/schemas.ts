/**
 * JSON Schemas (2020-12, as OpenAPI 3.1 uses them) of the REST API's bodies: the public contract
 * documented in docs/api.md. `components.schemas` of `/openapi.json`; the OpenAPI test validates
 * live answers against them.
 */

import { ERROR_CODES } from '../../core/errors.js';
import { DEGRADED_REASON_CODES } from '../../core/health.js';
import { MAX_PORT } from '../../core/limits.js';
import { PRIMARY_HANDOVERS_SHOWN } from '../changes-body.js';

/** Error codes a REST answer may carry (docs/errors.md); defined in src/core/errors.ts. */
export { ERROR_CODES };

type Schema = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description?: string, extra: Schema = {}): Schema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const int = (description?: string, extra: Schema = {}): Schema => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
const bool = (description?: string): Schema => ({ type: 'boolean', ...(description ? { description } : {}) });
const time = (description?: string): Schema => str(description, { format: 'date-time' });
const arr = (items: Schema, description?: string): Schema => ({ type: 'array', items, ...(description ? { description } : {}) });
const obj = (properties: Record<string, Schema>, required: readonly string[], extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  required: [...required],
  ...extra,
});

const version = str('Shard-map version: derived from content only (same topology, same version, in any process).');
const owners = arr(str(), 'Owner endpoint ids, primary first; fewer than `replicas` when fewer endpoints are eligible.');

const readers = int('Hot shard: how many of its first owners share its requests (docs/hot-shards.md).', { minimum: 1 });
const readersOfShard = int(
  'How many of `owners` share the shard\'s requests, weighted by endpoint weight (1: the primary alone; 0 when the shard has no owner).',
  { minimum: 0 },
);

const sourcesDetail = {
  stale: bool('True when the map in force lags its source (the file on disk is invalid, Kubernetes is unreachable) or the latest input could not be applied.'),
  sources: arr(ref('SourceStatus')),
  pipelineError: str('Why the latest input could not become a shard map, or why a hot-shard decision or handoff step failed (until it next succeeds); the map in force stays.'),
};

export const SCHEMAS: Readonly<Record<string, Schema>> = {
  Error: obj(
    {
      error: obj(
        {
          code: {
            type: 'string',
            enum: [...ERROR_CODES],
            description:
              'Stable error code (docs/errors.md), by status: 400 BAD_ARGUMENT, 401 UNAUTHENTICATED, 403 BAD_ARGUMENT (a Host that is not a loopback name while the API listens on loopback), 404 NOT_FOUND, 408/413/414/431 LIMIT_EXCEEDED, 500 INTERNAL, 503 SOURCE_UNAVAILABLE.',
          },
          message: str('What is wrong, for a person.'),
          parameter: str('The query or path parameter at fault, when one is.'),
        },
        ['code', 'message'],
        { additionalProperties: false },
      ),
    },
    ['error'],
    { additionalProperties: false, description: 'The body of every 4xx and 5xx answer, including those refused before any route runs (408, 431, a malformed request or one without Host, an undecodable URL, a path parameter too long).' },
  ),
  Locality: obj({ region: str(), zone: str(), subzone: str('The NVLink fabric.') }, ['region', 'zone', 'subzone'], {
    additionalProperties: false,
  }),
  SourceStatus: obj(
    {
      kind: str('`file` or `kubernetes`.'),
      healthy: bool(),
      stale: bool(),
      lastError: str(),
      lastUpdate: time(),
      staleSince: time('Kubernetes: since when the endpoints in force may lag the cluster (the first API error of this outage).'),
      problems: arr(
        ref('SourceProblem'),
        'Kubernetes: what is wrong in cluster objects and was worked around, sorted (docs/kubernetes-discovery.md "Problems"); the first 100.',
      ),
      problemsTotal: int('Kubernetes: how many problems there are, when more than the 100 listed were found.', { minimum: 0 }),
    },
    ['kind', 'healthy', 'stale'],
    { additionalProperties: false },
  ),
  SourceProblem: obj(
    {
      reason: str('Why, e.g. `bad-weight-annotation`, `pod-not-found` (docs/kubernetes-discovery.md "Problems").'),
      kind: { type: 'string', enum: ['Pod', 'Node', 'EndpointSlice', 'Service'], description: 'The kind of the object at fault; `Service` for a problem of a Service\'s slices taken together (`no-port`, `ambiguous-port`).' },
      namespace: str(),
      name: str(),
      field: str('The field at fault, e.g. `metadata.annotations["keyway.io/weight"]`.'),
      value: str('The offending value as found.'),
      message: str(),
    },
    ['reason', 'kind', 'name', 'message'],
    { additionalProperties: false },
  ),
  Endpoint: obj(
    {
      id: str('Identity that survives restarts.'),
      address: str(),
      port: int(undefined, { minimum: 1, maximum: MAX_PORT }),
      locality: ref('Locality'),
      weight: { type: 'number', minimum: 0, description: 'Relative capacity.' },
      ready: bool('A not-ready endpoint owns nothing.'),
      draining: bool('A planned departure: not ready, still serving while its shards are handed off (docs/ownership.md).'),
      shardsOwned: int('Shards it owns in any position.', { minimum: 0 }),
      shardsPrimary: int('Shards it owns as primary.', { minimum: 0 }),
    },
    ['id', 'address', 'port', 'locality', 'weight', 'ready', 'draining', 'shardsOwned', 'shardsPrimary'],
    { additionalProperties: false },
  ),
  ShardMap: obj(
    {
      version,
      shardCount: int('S: shards are 0..S-1.', { minimum: 1 }),
      replicas: int('R: owners per shard.', { minimum: 1 }),
      spread: { type: 'string', enum: ['none', 'zone', 'subzone'] },
      shards: arr(
        obj({ shard: int(undefined, { minimum: 0 }), owners, readers }, ['shard', 'owners'], { additionalProperties: false }),
        'One entry per shard, in order; `readers` only on hot shards read by more than one owner.',
      ),
      endpoints: arr(ref('Endpoint'), 'Every known endpoint, ready or not, sorted by id.'),
      warnings: arr(str()),
      updatedAt: time('When this process last published the map: at every publish, also one that changed nothing in it.'),
      versionSince: time(
        'When `version` came into force in this process: unchanged while the same version is republished, moved by a new version (also one in force before). Clients order the maps of replicas at different versions by it.',
      ),
      handoff: ref('Handoff'),
      hotShards: ref('HotShards'),
      ...sourcesDetail,
    },
    ['version', 'shardCount', 'replicas', 'spread', 'shards', 'endpoints', 'warnings', 'updatedAt', 'versionSince', 'handoff', 'hotShards', 'stale', 'sources'],
    { additionalProperties: false },
  ),
  Handoff: obj(
    {
      enabled: bool('False when the topology says handoff.enabled: false (every move flips at once).'),
      targetVersion: str('Version of the map the sharding stage computed; equals `version` when no shard is in transition.'),
      transitions: arr(
        obj(
          {
            shard: int(undefined, { minimum: 0 }),
            from: arr(str(), 'Owners requests go to now, primary first.'),
            to: arr(str(), 'Owners of the target map, primary first.'),
            warming: str('The new primary, warming the shard.'),
            startedAt: time(),
            deadline: time('The route flips then even without a warm report (while the warming node has no ownership stream, the end of handoff.agentWaitMs).'),
          },
          ['shard', 'from', 'to', 'warming', 'startedAt', 'deadline'],
          { additionalProperties: false },
        ),
        'Shards whose new primary is warming, sorted by shard (docs/ownership.md).',
      ),
      drains: arr(
        obj({ shard: int(undefined, { minimum: 0 }), node: str(), until: time() }, ['shard', 'node', 'until'], { additionalProperties: false }),
        'Previous primaries still serving shards they lost.',
      ),
    },
    ['enabled', 'targetVersion', 'transitions', 'drains'],
    { additionalProperties: false },
  ),
  NodeHandoff: obj(
    {
      node: str(),
      ready: bool(),
      draining: bool(),
      routedShards: int('Shards routed to the node, in any position.', { minimum: 0 }),
      routedPrimary: int('Shards routed to the node as primary.', { minimum: 0 }),
      warming: int('Shards it is warming as their new primary.', { minimum: 0 }),
      handingOff: int('Shards it still serves as primary while their new primary warms.', { minimum: 0 }),
      drainingShards: int('Shards it lost and should serve until their drain ends.', { minimum: 0 }),
      handedOff: bool('No shard is routed to it: a departing node may stop.'),
      version,
    },
    ['node', 'ready', 'draining', 'routedShards', 'routedPrimary', 'warming', 'handingOff', 'drainingShards', 'handedOff', 'version'],
    { additionalProperties: false },
  ),
  HotShard: obj(
    {
      shard: int(undefined, { minimum: 0 }),
      load: { type: 'number', minimum: 0, description: "Requests per second the policy judged: the history's mean, or the last two windows' mean when that is higher beyond chance (docs/hot-shards.md)." },
      owners: arr(str(), 'Owners after the policy, primary first; the first `readers` share its requests.'),
      readers: int(undefined, { minimum: 1 }),
      reason: { type: 'string', enum: ['spread', 'bounded-load'], description: '`spread`: read by several owners; `bounded-load`: its primary moved off a node above its bound.' },
      explanation: str('One sentence: the numbers behind the decision.'),
    },
    ['shard', 'load', 'owners', 'readers', 'reason', 'explanation'],
    { additionalProperties: false },
  ),
  HotShards: obj(
    {
      window: time('Start of the newest load window used; absent without load (plain rendezvous ownership).'),
      shards: arr(ref('HotShard'), 'Shards the policy changed, sorted by shard (docs/hot-shards.md).'),
      moves: int('Moves the last step of the policy made (at most hotShards.maxMovesPerWindow).', { minimum: 0 }),
      deferred: int('Moves the churn budget held back in the last step.', { minimum: 0 }),
      maxLoadRatio: { type: 'number', minimum: 0, description: 'Modelled busiest node: load over weight share, with the policy.' },
      plainMaxLoadRatio: { type: 'number', minimum: 0, description: 'The same under plain rendezvous ownership.' },
    },
    ['shards', 'moves', 'deferred'],
    { additionalProperties: false },
  ),
  ShardOwners: obj(
    { shard: int(undefined, { minimum: 0 }), owners, version, readers: readersOfShard, hotShard: ref('HotShard') },
    ['shard', 'owners', 'version', 'readers'],
    { additionalProperties: false },
  ),
  Lookup: obj(
    {
      key: str('The key as given.'),
      shard: int('murmur3_x86_32 of the key (or of its {tag}) mod S.', { minimum: 0 }),
      owners,
      version,
      readers: readersOfShard,
      hotShard: ref('HotShard'),
    },
    ['key', 'shard', 'owners', 'version', 'readers'],
    { additionalProperties: false },
  ),
  Changes: obj(
    {
      changes: arr(
        obj(
          {
            fromVersion: str(),
            toVersion: str(),
            at: time(),
            movedShards: int('How many shards moved, also when `moves` lists only the first N (`?moves=N`).', { minimum: 1 }),
            moves: arr(
              obj(
                { shard: int(undefined, { minimum: 0 }), from: owners, to: owners, fromReaders: readers, toReaders: readers },
                ['shard', 'from', 'to'],
                { additionalProperties: false },
              ),
              'Every moved shard, sorted by shard; with `?moves=N`, the first N.',
            ),
            primaries: {
              ...arr(
                obj(
                  {
                    from: str('The primary before; absent when the shard had no owner.'),
                    to: str('The primary after; absent when the shard has no owner.'),
                    shards: int('Moved shards whose primary went from `from` to `to`.', { minimum: 1 }),
                  },
                  ['shards'],
                  { additionalProperties: false },
                ),
                `With \`?moves=N\` only: the largest primary hand-overs of the change (moved shards whose primary changed, counted per from and to), largest first, at most ${PRIMARY_HANDOVERS_SHOWN}.`,
              ),
              maxItems: PRIMARY_HANDOVERS_SHOWN,
            },
          },
          ['fromVersion', 'toVersion', 'at', 'movedShards', 'moves'],
          { additionalProperties: false },
        ),
        'The last 32 changes that moved at least one shard, newest first.',
      ),
    },
    ['changes'],
    { additionalProperties: false },
  ),
  Health: obj({ ok: { const: true } }, ['ok'], { additionalProperties: false }),
  Readiness: obj(
    {
      ready: bool('True while keyway serves a map with owners, degraded or not.'),
      status: {
        type: 'string',
        enum: ['ready', 'degraded', 'not-ready'],
        description: 'ready; degraded: serving (still 200) but proxies NACK or a source lags, see `reasons`; not-ready: the 503 answer.',
      },
      reasons: arr(ref('DegradedReason'), 'Why keyway is degraded; empty when it is not.'),
      reason: str('Why not ready (absent when ready).'),
      version,
      shardCount: int(undefined, { minimum: 1 }),
      ownedShards: int('Shards with at least one owner.', { minimum: 0 }),
      endpoints: int(undefined, { minimum: 0 }),
      readyEndpoints: int('Ready endpoints with weight > 0.', { minimum: 0 }),
      warnings: arr(str()),
      ...sourcesDetail,
    },
    ['ready', 'status', 'reasons', 'stale', 'sources'],
    { additionalProperties: false },
  ),
  DegradedReason: obj(
    {
      code: {
        type: 'string',
        enum: [...DEGRADED_REASON_CODES],
        description: 'proxy_nack: a connected proxy NACKed its latest response of a type; snapshot_rejected: keyway refused the latest snapshot of a proxy class a connected proxy is served (its proxies keep the one before); source_stale: a source serves its last known state; source_error: a source failed its last attempt; pipeline_error: the latest input could not become a shard map, or a hot-shard decision or handoff step failed.',
      },
      message: str('In words, naming up to a few proxies or the source, with their error text.'),
      source: str('The source, for source_stale and source_error.'),
      proxies: int('How many proxies NACK, for proxy_nack.', { minimum: 1 }),
    },
    ['code', 'message'],
    { additionalProperties: false },
  ),
  TypeStatus: obj(
    {
      status: {
        type: 'string',
        enum: ['SYNCED', 'STALE', 'NACKED', 'NOT_SENT'],
        description: 'SYNCED: the latest response was acknowledged; STALE: sent, not answered yet; NACKED: the latest response was rejected; NOT_SENT: nothing sent yet.',
      },
      subscribed: obj(
        {
          wildcard: bool(),
          names: arr(str(), 'The first names subscribed (sorted), at most `names` of the request (default 100).'),
          count: int('Names subscribed.', { minimum: 0 }),
        },
        ['wildcard', 'names', 'count'],
      ),
      versionSent: str(),
      sentAt: time(),
      versionAcked: str(),
      ackedAt: time(),
      nonce: str(),
      lastNack: obj({ version: str('The version rejected.'), message: str('error_detail.message as the proxy wrote it.'), at: time() }, ['version', 'message', 'at']),
      resources: int('Resources of this type the proxy holds from keyway.', { minimum: 0 }),
      streamId: str(),
    },
    ['status'],
  ),
  Proxy: obj(
    {
      id: str('node.id'),
      cluster: str('node.cluster'),
      userAgent: str('node.user_agent_name: "envoy", "gRPC Node Pure JS", ...'),
      userAgentVersion: str(),
      flavor: { type: 'string', enum: ['envoy', 'grpc', 'agent'], description: '`agent`: a cache node\'s ownership agent (docs/ownership.md).' },
      locality: obj({ region: str(), zone: str(), subzone: str() }, [], { description: "The node's locality (`subzone` is the node's `locality.sub_zone`, the NVLink fabric)." }),
      proxyClass: str('Proxies of one class share one snapshot: `flavor|zone|subzone`, then `|<node id>` for an agent or `|picker` for a gRPC client carrying the shard picker (docs/xds.md).'),
      connectedSince: time('Start of its oldest open stream.'),
      protocol: { type: 'string', enum: ['sotw', 'delta', 'mixed'] },
      service: { type: 'string', enum: ['ads', 'per-type', 'mixed'] },
      conflict: bool('Present (true) when its streams come from more than one peer host: node id reuse.'),
      streams: arr(obj({ id: str(), protocol: str(), service: str(), connectedSince: time(), peer: str('host:port of the client connection.') }, ['id'])),
      types: {
        type: 'object',
        description: 'The kinds the flavor is served: `cluster`, `endpoint`, `listener` and `route` for Envoy and gRPC; `assignment` (keyway.v1.ShardAssignment) for an agent.',
        anyOf: [
          obj(
            { cluster: ref('TypeStatus'), endpoint: ref('TypeStatus'), listener: ref('TypeStatus'), route: ref('TypeStatus') },
            ['cluster', 'endpoint', 'listener', 'route'],
          ),
          obj({ assignment: ref('TypeStatus') }, ['assignment']),
        ],
      },
    },
    ['id', 'flavor', 'connectedSince', 'types'],
  ),
  Proxies: obj(
    {
      proxies: arr(ref('Proxy'), 'One row per connected node id, sorted by id (with `limit`, one page of them).'),
      continue: str('Present when more rows follow this page: send it back as the `continue` parameter for the next one.'),
    },
    ['proxies'],
  ),
  ConfigDump: obj(
    {
      configs: arr(
        obj({ '@type': str('type.googleapis.com/envoy.admin.v3.ClustersConfigDump and so on.') }, ['@type']),
        'Envoy admin ConfigDump messages in canonical ProtoJSON, one per resource type; for an agent, the keyway.v1.ShardAssignment resources it holds.',
      ),
    },
    ['configs'],
    { description: 'What keyway last sent the proxy, shaped like Envoy\'s /config_dump.' },
  ),
};
