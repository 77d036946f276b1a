/**
 * Validation of the topology file (public contract: docs/configuration.md). Collects every problem
 * with its location instead of stopping at the first, and fills every default, so later stages see
 * complete values.
 */
import { BlockList } from 'node:net';
import { ENDPOINT_ID_PATTERN, type Endpoint, isIpLiteral, type Locality } from '../core/endpoint.js';
import { SPREAD_POLICIES, type ShardingPolicy, type SpreadPolicy } from '../core/policy.js';
import {
  DEFAULT_XDS_SETTINGS,
  type MissingHeaderPolicy,
  type RouteShape,
  type UpstreamProtocol,
  type XdsSettings,
} from '../core/settings.js';
import { DEFAULT_HANDOFF_SETTINGS, type HandoffSettings } from '../core/handoff.js';
import type { HotShardSettings } from '../core/load.js';
import { hotShardSettings } from './hot-shard-settings.js';
import { MAX_PORT, MAX_REPLICAS, MAX_SHARD_COUNT, workBudgetViolation } from '../core/limits.js';
import type { KeywayError } from '../core/errors.js';
import { Fields, isPlainMapping, MAX_REPORTED_PROBLEMS, TOPOLOGY_STYLE } from './fields.js';
import type { Locate } from './locator.js';
import type { ConfigPathSegment } from './section.js';

/** Deprecated `xds.holdOffMs` / `xds.maxDelayMs`: still validated, no longer used (docs/configuration.md). */
export interface XdsTiming {
  /** Quiet time after the last change before a push. */
  readonly holdOffMs: number;
  /** Longest delay from the first change of a burst to its push. */
  readonly maxDelayMs: number;
}

export const DEFAULT_SHARD_COUNT = 1024;
export const DEFAULT_REPLICAS = 2;
export const DEFAULT_SPREAD: SpreadPolicy = 'none';
/** The bounds on S and R (src/core/limits.ts), re-exported for the config module's users. */
export { MAX_SHARD_COUNT, MAX_REPLICAS };
export const DEFAULT_XDS_TIMING: XdsTiming = { holdOffMs: 100, maxDelayMs: 1000 };
/** Longest push delay accepted: beyond a minute proxies would lag too far behind the map. */
export const MAX_XDS_DELAY_MS = 60_000;

export const TOP_LEVEL_KEYS = [
  'shards',
  'replicas',
  'spread',
  'service',
  'envoy',
  'routing',
  'xds',
  'handoff',
  'hotShards',
  'endpoints',
  'kubernetes',
] as const;
const ENVOY_KEYS = ['listenerPort', 'missingHeader', 'upstreamProtocol', 'routeShape', 'dynamicStats', 'generateRequestId', 'envoyHeaders', 'perTryTimeoutMs'] as const;
/** Longest per-try timeout accepted: an hour, like the longest drain (docs/configuration.md `envoy.perTryTimeoutMs`). */
export const MAX_PER_TRY_TIMEOUT_MS = 3_600_000;
const XDS_KEYS = ['holdOffMs', 'maxDelayMs'] as const;
const ROUTING_KEYS = ['keyHeader'] as const;
const HANDOFF_KEYS = ['enabled', 'warmTimeoutMs', 'drainMs', 'flipIntervalMs', 'agentWaitMs'] as const;
/** Longest warm-up, drain, flip tick and agent wait accepted: ten minutes, an hour, a minute, a minute (docs/configuration.md). */
export const MAX_WARM_TIMEOUT_MS = 600_000;
export const MAX_DRAIN_MS = 3_600_000;
const MAX_FLIP_INTERVAL_MS = 60_000;
const MAX_AGENT_WAIT_MS = 60_000;
/** An HTTP header name (RFC 9110 token), lowercase as HTTP/2 requires: what Envoy's header maps hold. */
const HEADER_NAME_PATTERN = /^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
/** The header the key header must not be: the shard header keyway's filters read. */
const SHARD_HEADER_NAME = 'x-cache-shard';
/** Connection-specific headers (RFC 9110 7.6.1, RFC 9113 8.2.2): Envoy strips them before its filters run. */
const HOP_BY_HOP_HEADERS: readonly string[] = ['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade'];
const ENDPOINT_KEYS = ['id', 'address', 'port', 'locality', 'weight', 'ready', 'draining'] as const;
const LOCALITY_KEYS = ['region', 'zone', 'subzone'] as const;
/**
 * Addresses no proxy reaches a node at, though they are IP literals: a proxy that connects to the
 * unspecified address (0.0.0.0/8, ::) reaches its own host, and no TCP connection reaches a
 * broadcast or multicast one. IPv4-mapped spellings (::ffff:0.0.0.0) match the IPv4 rules.
 */
const NOT_A_NODE = new BlockList();
NOT_A_NODE.addSubnet('0.0.0.0', 8, 'ipv4');
NOT_A_NODE.addSubnet('224.0.0.0', 4, 'ipv4');
NOT_A_NODE.addAddress('255.255.255.255', 'ipv4');
NOT_A_NODE.addAddress('::', 'ipv6');
NOT_A_NODE.addSubnet('ff00::', 8, 'ipv6');
/**
 * IPv6 link-local addresses (fe80::/10): the kernel connects to one only with its zone index
 * (`%eth0`), which proxies do not take (isIpLiteral), so every connection fails with EINVAL. An
 * IPv4 link-local address (169.254.0.0/16) needs no zone and stays allowed.
 */
const LINK_LOCAL_V6 = new BlockList();
LINK_LOCAL_V6.addSubnet('fe80::', 10, 'ipv6');
/** A UTF-16 surrogate not part of a pair (YAML's `\\ud800` escape makes one): no UTF-8 encodes it. */
const LONE_SURROGATE = /\p{Cs}/u;
const MISSING_HEADER: readonly MissingHeaderPolicy[] = ['any', 'reject'];
const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ['http1', 'http2'];
const ROUTE_SHAPES: readonly RouteShape[] = ['subset', 'table'];
/**
 * A `service` name (docs/configuration.md): the listener, virtual host and route configuration
 * carry it (gRPC clients dial `xds:///<service>`), so a former route name matches it too.
 */
export const SERVICE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;

/** What the file says, validated, with defaults filled. */
export interface ValidatedConfig {
  readonly policy: ShardingPolicy;
  readonly xds: XdsSettings;
  readonly xdsTiming: XdsTiming;
  readonly handoff: HandoffSettings;
  readonly hotShards: HotShardSettings;
  readonly endpoints: readonly Endpoint[];
  /** Present when the file has a `kubernetes:` key (then `endpoints` is empty). */
  readonly kubernetes?: { readonly value: unknown };
}

type Path = readonly ConfigPathSegment[];

/**
 * Checks the parsed file `raw` against the topology-file contract. Returns the values with
 * defaults filled, or the problems found (each a located KeywayError: CONFIG_INVALID,
 * DUPLICATE_ENDPOINT or BUDGET_EXCEEDED): the first MAX_REPORTED_PROBLEMS, and how many more
 * were found (`omitted`).
 */
export function validateConfig(
  raw: unknown,
  locate: Locate,
): { ok: true; config: ValidatedConfig } | { ok: false; errors: KeywayError[]; omitted: number } {
  const p = new Fields(locate, TOPOLOGY_STYLE, MAX_REPORTED_PROBLEMS);
  if (!isPlainMapping(raw)) {
    p.add([], `the topology file must be a mapping of settings (shards, replicas, spread, endpoints, ...), got ${p.describe(raw)}`);
    return { ok: false, errors: p.problems, omitted: p.omitted };
  }
  unknownKeys(p, raw, [], TOP_LEVEL_KEYS);

  const shardCount = p.integerIn(raw, ['shards'], 1, MAX_SHARD_COUNT, DEFAULT_SHARD_COUNT);
  const replicas = p.integerIn(raw, ['replicas'], 1, MAX_REPLICAS, DEFAULT_REPLICAS);
  const spread = p.oneOf(raw, ['spread'], SPREAD_POLICIES, DEFAULT_SPREAD);
  const service = p.patterned(raw, ['service'], SERVICE_PATTERN, DEFAULT_XDS_SETTINGS.service, '1 to 253 letters, digits, ".", "_", ":" or "-", starting with a letter or digit (gRPC clients dial xds:///<service>)');
  const xds: XdsSettings = { service, envoy: envoySettings(p, raw), routing: routingSettings(p, raw) };
  const xdsTiming = timing(p, raw);
  const handoff = handoffSettings(p, raw);
  const hotShards = hotShardSettings(p, raw, unknownKeys);

  const hasKubernetes = 'kubernetes' in raw;
  let endpoints: Endpoint[] = [];
  if (hasKubernetes) {
    if ('endpoints' in raw) {
      p.add(['endpoints'], 'must be absent when `kubernetes` is given (endpoints then come from Kubernetes); keep one of the two');
    }
  } else if (!('endpoints' in raw)) {
    p.add([], 'neither `endpoints` nor `kubernetes` is given: list the cache nodes under `endpoints` (an empty list `[]` is allowed) or configure `kubernetes`');
  } else {
    endpoints = endpointList(p, raw.endpoints);
  }
  if (p.found === 0) workBudget(p, raw, shardCount, replicas, endpoints.length);

  if (p.found > 0) return { ok: false, errors: p.problems, omitted: p.omitted };
  return {
    ok: true,
    config: {
      policy: { shardCount, replicas, spread },
      xds,
      xdsTiming,
      handoff,
      hotShards,
      endpoints,
      ...(hasKubernetes ? { kubernetes: { value: raw.kubernetes } } : {}),
    },
  };
}

/**
 * The work budget (src/core/limits.ts, docs/security.md "Work budget"), located at `endpoints` when
 * there are too many of them, else at `shards` (or `replicas` when only that is written). A
 * `kubernetes:` topology is checked for shards x replicas here and for its endpoints when they arrive.
 */
function workBudget(p: Fields, raw: Record<string, unknown>, shards: number, replicas: number, endpoints: number): void {
  const v = workBudgetViolation(shards, replicas, endpoints);
  if (!v) return;
  const at: Path = v.field === 'endpoints' ? ['endpoints'] : 'shards' in raw || !('replicas' in raw) ? ['shards'] : ['replicas'];
  p.add(at, v.message, 'BUDGET_EXCEEDED');
}

function envoySettings(p: Fields, raw: Record<string, unknown>): XdsSettings['envoy'] {
  const d = DEFAULT_XDS_SETTINGS.envoy;
  const envoy = p.optionalMapping(raw, ['envoy']);
  if (!envoy) return d;
  unknownKeys(p, envoy, ['envoy'], ENVOY_KEYS);
  return {
    listenerPort: p.integerIn(envoy, ['envoy', 'listenerPort'], 1, MAX_PORT, d.listenerPort),
    missingHeader: p.oneOf(envoy, ['envoy', 'missingHeader'], MISSING_HEADER, d.missingHeader),
    upstreamProtocol: p.oneOf(envoy, ['envoy', 'upstreamProtocol'], UPSTREAM_PROTOCOLS, d.upstreamProtocol),
    routeShape: p.oneOf(envoy, ['envoy', 'routeShape'], ROUTE_SHAPES, d.routeShape),
    dynamicStats: p.boolean(envoy, ['envoy', 'dynamicStats'], d.dynamicStats),
    generateRequestId: p.boolean(envoy, ['envoy', 'generateRequestId'], d.generateRequestId),
    envoyHeaders: p.boolean(envoy, ['envoy', 'envoyHeaders'], d.envoyHeaders),
    perTryTimeoutMs: p.integerIn(envoy, ['envoy', 'perTryTimeoutMs'], 0, MAX_PER_TRY_TIMEOUT_MS, d.perTryTimeoutMs, 'milliseconds'),
  };
}

function routingSettings(p: Fields, raw: Record<string, unknown>): XdsSettings['routing'] {
  const d = DEFAULT_XDS_SETTINGS.routing;
  const routing = p.optionalMapping(raw, ['routing']);
  if (!routing) return d;
  unknownKeys(p, routing, ['routing'], ROUTING_KEYS);
  const keyHeader = p.patterned(routing, ['routing', 'keyHeader'], HEADER_NAME_PATTERN, d.keyHeader, 'a lowercase HTTP header name (1-128 letters, digits and !#$%&\'*+.^_`|~-)');
  if (keyHeader === SHARD_HEADER_NAME) {
    p.add(['routing', 'keyHeader'], `must not be ${SHARD_HEADER_NAME} (that header carries the shard number)`);
    return d;
  }
  if (HOP_BY_HOP_HEADERS.includes(keyHeader)) {
    p.add(['routing', 'keyHeader'], `must not be ${keyHeader}, a connection-specific (hop-by-hop) header: proxies drop it and HTTP/2 forbids it, so no key would ever arrive in it; choose another name, such as x-cache-key`);
    return d;
  }
  return { keyHeader };
}

function handoffSettings(p: Fields, raw: Record<string, unknown>): HandoffSettings {
  const d = DEFAULT_HANDOFF_SETTINGS;
  const h = p.optionalMapping(raw, ['handoff']);
  if (!h) return d;
  unknownKeys(p, h, ['handoff'], HANDOFF_KEYS);
  return {
    enabled: p.boolean(h, ['handoff', 'enabled'], d.enabled),
    warmTimeoutMs: p.integerIn(h, ['handoff', 'warmTimeoutMs'], 0, MAX_WARM_TIMEOUT_MS, d.warmTimeoutMs),
    drainMs: p.integerIn(h, ['handoff', 'drainMs'], 0, MAX_DRAIN_MS, d.drainMs),
    flipIntervalMs: p.integerIn(h, ['handoff', 'flipIntervalMs'], 0, MAX_FLIP_INTERVAL_MS, d.flipIntervalMs),
    agentWaitMs: p.integerIn(h, ['handoff', 'agentWaitMs'], 0, MAX_AGENT_WAIT_MS, d.agentWaitMs),
  };
}

function timing(p: Fields, raw: Record<string, unknown>): XdsTiming {
  const d = DEFAULT_XDS_TIMING;
  const x = p.optionalMapping(raw, ['xds']);
  if (!x) return d;
  unknownKeys(p, x, ['xds'], XDS_KEYS);
  const maxDelayMs = p.integerIn(x, ['xds', 'maxDelayMs'], 0, MAX_XDS_DELAY_MS, d.maxDelayMs);
  // Without an explicit hold-off, keep the default but never above the chosen maximum.
  const holdOffMs = p.integerIn(x, ['xds', 'holdOffMs'], 0, MAX_XDS_DELAY_MS, Math.min(d.holdOffMs, maxDelayMs));
  if (holdOffMs > maxDelayMs) {
    p.add(['xds', 'holdOffMs'], `must be <= xds.maxDelayMs (${maxDelayMs}), got ${holdOffMs}`);
  }
  return { holdOffMs, maxDelayMs };
}

function endpointList(p: Fields, value: unknown): Endpoint[] {
  if (value === null) return []; // `endpoints:` with every entry commented out
  if (!Array.isArray(value)) {
    p.add(['endpoints'], `must be a list of endpoints, got ${p.describe(value)}`);
    return [];
  }
  const out: Endpoint[] = [];
  const firstIndexOf = new Map<string, number>();
  value.forEach((item: unknown, i) => {
    const at: Path = ['endpoints', i];
    if (!isPlainMapping(item)) {
      p.add(at, `must be a mapping with id, address and port, got ${p.describe(item)}`);
      return;
    }
    unknownKeys(p, item, at, ENDPOINT_KEYS);
    const id = p.requiredString(item, [...at, 'id']);
    if (id !== undefined && !ENDPOINT_ID_PATTERN.test(id)) {
      p.add([...at, 'id'], `must be 1-253 characters of letters, digits, ".", "_", ":", "/" or "-", starting with a letter or digit, got ${p.describe(id)}`);
    }
    const address = p.requiredString(item, [...at, 'address']);
    if (address !== undefined && !isIpLiteral(address)) {
      p.add([...at, 'address'], `must be an IPv4 or IPv6 address (Envoy and gRPC clients reject a host name in EDS, so keyway does not pass one on), got ${p.describe(address)}`);
    } else if (address !== undefined && NOT_A_NODE.check(address, address.includes(':') ? 'ipv6' : 'ipv4')) {
      p.add([...at, 'address'], `must be an address a node can be reached at, got ${p.describe(address)}: an unspecified (0.0.0.0, ::), broadcast or multicast address sends a proxy's connections to its own host or nowhere; write the node's own IP address`);
    } else if (address !== undefined && address.includes(':') && LINK_LOCAL_V6.check(address, 'ipv6')) {
      p.add([...at, 'address'], `must be an address a node can be reached at, got ${p.describe(address)}: an IPv6 link-local address (fe80::/10) is reached only through a zone index such as %eth0, which proxies do not accept, so every connection to it fails; write the node's global or unique-local (fd00::/8) address`);
    }
    const port = 'port' in item ? p.integerIn(item, [...at, 'port'], 1, MAX_PORT, 0) : p.missing([...at, 'port']);
    const locality = localityOf(p, item, at);
    const weight = p.weight(item, [...at, 'weight'], 1);
    const draining = p.boolean(item, [...at, 'draining'], false);
    // A draining endpoint is a planned departure: it serves but owns nothing, so it is not ready.
    const ready = p.boolean(item, [...at, 'ready'], !draining);
    if (draining && ready) {
      p.add([...at, 'ready'], 'must be false (or absent) when draining is true: a draining endpoint hands its shards off and owns none');
    }
    if (id !== undefined && ENDPOINT_ID_PATTERN.test(id)) {
      const first = firstIndexOf.get(id);
      if (first !== undefined) {
        const firstLine = p.locate(['endpoints', first]).line;
        p.add([...at, 'id'], `duplicate endpoint id ${JSON.stringify(id)}, first used by endpoints[${first}]${firstLine !== undefined ? ` (line ${firstLine})` : ''}; ids must be unique`, 'DUPLICATE_ENDPOINT');
      } else {
        firstIndexOf.set(id, i);
      }
    }
    if (id !== undefined && address !== undefined && port !== undefined) {
      out.push({ id, address, port, locality, weight, ready, ...(draining && !ready ? { draining: true } : {}) });
    }
  });
  return out;
}

function localityOf(p: Fields, item: Record<string, unknown>, at: Path): Locality {
  const loc = p.optionalMapping(item, [...at, 'locality']);
  if (!loc) return { region: '', zone: '', subzone: '' };
  unknownKeys(p, loc, [...at, 'locality'], LOCALITY_KEYS);
  const part = (k: (typeof LOCALITY_KEYS)[number]): string => {
    const v = loc[k];
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') {
      p.add([...at, 'locality', k], `must be a string, got ${p.describe(v)}`);
      return '';
    }
    const lone = LONE_SURROGATE.exec(v);
    if (lone) {
      // Proxies get UTF-8 (protobuf strings), where it turns into U+FFFD: two such localities would
      // reach them as one, which gRPC clients reject as a duplicate locality (a NACK).
      const code = lone[0].charCodeAt(0).toString(16);
      p.add([...at, 'locality', k], `must be valid Unicode text: a lone surrogate (\\u${code}) at character ${lone.index + 1} has no UTF-8 form, so proxies would receive U+FFFD instead; write the character itself, or both halves of its surrogate pair`);
      return '';
    }
    return v;
  };
  return { region: part('region'), zone: part('zone'), subzone: part('subzone') };
}

/** Reports keys not in `known`, with a "did you mean" hint for a near miss. */
function unknownKeys(p: Fields, obj: Record<string, unknown>, at: Path, known: readonly string[]): void {
  p.unknownKeys(obj, at, known, (key) => {
    const guess = closest(key, known);
    return `unknown key${guess ? ` (did you mean "${guess}"?)` : ''}; expected one of ${known.join(', ')}`;
  });
}

/** The known name within edit distance 2 of `word`, for "did you mean" hints on typos. */
function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
