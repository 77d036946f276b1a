/**
 * Random topology files for the translator's Envoy fuzz test (envoy-fuzz.test.ts): every field
 * the topology schema accepts (docs/configuration.md), pushed to its bounds and to odd but allowed
 * values (addresses in every IP spelling, ports and weights at the bounds, free-form locality
 * strings, 253-character names), plus what the runner puts on top of the plain map: a hot-shard
 * decision from random load, and a handoff step from an earlier variant of the fleet.
 */
import { stringify } from 'yaml';
import type { Rng } from '../../support/seeded-random.js';

/** Characters of an endpoint id after the first (ENDPOINT_ID_PATTERN). */
const ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/-';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
/** Characters of `service` after the first. */
const SERVICE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-';
/** Characters of `routing.keyHeader` (a lowercase RFC 9110 token). */
const HEADER_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+.^_`|~-";

/** Locality parts: any string is allowed, so the odd ones too. */
const ODD_LOCALITIES = [
  '',
  'us-east-1a',
  'nvl-1',
  ' padded ',
  'ünïcödé',
  '日本-東京',
  '🚀fabric',
  'a/b:c;d',
  '"quoted"',
  "it's",
  '#hash',
  'back\\slash',
  'tab\there',
  'line\nbreak',
  'nul\u0000char',
  'ctl\u0001\u007f',
  'bom\ufeff',
  'sep\u2028',
  '%s%n%d',
  '{tag}',
  'null',
  'true',
  '123',
  '*',
  'x'.repeat(300),
];

function text(rng: Rng, first: string, rest: string, maxLen: number): string {
  const len = rng.chance(0.1) ? maxLen : 1 + rng.int(rng.chance(0.5) ? 12 : maxLen);
  let s = first[rng.int(first.length)]!;
  for (let i = 1; i < len; i++) s += rest[rng.int(rest.length)]!;
  return s;
}

function hex(rng: Rng, upper: boolean): string {
  const h = rng.int(0x10000).toString(16);
  return upper ? h.toUpperCase() : h;
}

function ipv4(rng: Rng): string {
  // Unicast only: validation refuses 0.0.0.0/8, multicast and broadcast (no node is reached there).
  if (rng.chance(0.2)) return rng.pick(['1.0.0.0', '223.255.255.255', '127.0.0.1', '240.0.0.1', '169.254.0.1', '10.0.0.1']);
  return [1 + rng.int(223), rng.int(256), rng.int(256), rng.int(256)].join('.');
}

function ipv6(rng: Rng): string {
  const upper = rng.chance(0.3);
  switch (rng.int(8)) {
    case 0:
      return rng.pick(['::1', 'fec0::1', 'fd00::', '2001:db8::', '::2', 'feff::1']); // not fe80::/10: refused (link-local)
    case 1:
      return `${rng.pick(['::ffff:', '::FFFF:', '0:0:0:0:0:ffff:'])}${ipv4(rng)}`;
    case 2:
      return `::ffff:${hex(rng, upper)}:${hex(rng, upper)}`;
    case 3:
      return `${rng.pick(['::', '64:ff9b::', '1:2:3:4:5:6:'])}${ipv4(rng)}`;
    case 4: {
      const groups = Array.from({ length: 8 }, () => (rng.chance(0.5) ? hex(rng, upper).padStart(4, '0') : hex(rng, upper)));
      return groups.join(':');
    }
    default: {
      // Compressed: some groups, "::", some more (at most 7 in all).
      const left = rng.int(4);
      const right = Math.max(left === 0 ? 1 : 0, rng.int(7 - left)); // not "::", the unspecified address
      const g = (n: number): string[] => Array.from({ length: n }, () => hex(rng, upper));
      return `${g(left).join(':')}::${g(right).join(':')}`;
    }
  }
}

function weight(rng: Rng): number {
  switch (rng.int(10)) {
    case 0:
      return 0;
    case 1:
      return rng.pick([1e-290, 1e290, 8589.93, 8589.94, 0.001, 0.005, 0.004999, 42949.67, 1e6]);
    default:
      return rng.chance(0.5) ? 1 + rng.int(100) : Math.round(rng.next() * 10000) / 100;
  }
}

/** One random, meant-to-be-valid topology file as a plain object (stringified by {@link topologyYaml}). */
export function randomTopology(rng: Rng): Record<string, unknown> {
  const doc: Record<string, unknown> = {};
  const big = rng.chance(0.02);
  const shards = big ? rng.pick([4096, 16384]) : rng.pick([1, 2, 3, 7, 8, 10, 13, 16, 64, 100, 256, 1000, 1024]);
  if (rng.chance(0.9)) doc.shards = shards;
  const nodes = big ? 1 + rng.int(6) : rng.pick([0, 1, 1, 2, 3, 4, 5, 6, 8, 12, 20]);
  const replicas = rng.chance(0.05) ? rng.pick([16, 255].filter((r) => r * shards <= 131_072)) ?? 3 : 1 + rng.int(4);
  if (rng.chance(0.9) && replicas * (doc.shards === undefined ? 1024 : shards) <= 131_072) doc.replicas = replicas;
  if (rng.chance(0.8)) doc.spread = rng.pick(['none', 'zone', 'subzone']);
  if (rng.chance(0.7)) doc.service = text(rng, ALNUM, SERVICE_CHARS, 253);
  if (rng.chance(0.8)) {
    const envoy: Record<string, unknown> = {};
    if (rng.chance(0.5)) envoy.listenerPort = rng.pick([1, 65535, 10000, 1 + rng.int(65535)]);
    if (rng.chance(0.7)) envoy.missingHeader = rng.pick(['any', 'reject']);
    if (rng.chance(0.7)) envoy.upstreamProtocol = rng.pick(['http1', 'http2']);
    if (rng.chance(0.8)) envoy.routeShape = rng.pick(['subset', 'table']);
    for (const k of ['dynamicStats', 'generateRequestId', 'envoyHeaders']) if (rng.chance(0.4)) envoy[k] = rng.chance(0.5);
    if (rng.chance(0.4)) envoy.perTryTimeoutMs = rng.pick([0, 1, 5000, 3_600_000]);
    doc.envoy = envoy;
  }
  if (rng.chance(0.6)) {
    let keyHeader = text(rng, HEADER_CHARS, HEADER_CHARS, 128);
    // The names validation refuses: the shard header, and hop-by-hop headers proxies drop.
    if (['x-cache-shard', 'connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade'].includes(keyHeader)) keyHeader = 'x-cache-key';
    doc.routing = { keyHeader };
  }
  if (rng.chance(0.3)) doc.xds = { holdOffMs: 0, maxDelayMs: rng.pick([0, 60000]) };
  if (rng.chance(0.5)) {
    doc.handoff = {
      enabled: rng.chance(0.8),
      warmTimeoutMs: rng.pick([0, 600000, 30000]),
      drainMs: rng.pick([0, 3600000, 30000]),
      flipIntervalMs: rng.pick([0, 60000, 1000]),
      agentWaitMs: rng.pick([0, 60000, 5000]),
    };
  }
  if (rng.chance(0.6)) {
    doc.hotShards = {
      enabled: rng.chance(0.9),
      maxReaders: 1 + rng.int(16),
      spreadThreshold: rng.pick([0.01, 0.1, 0.5, 10]),
      epsilon: rng.pick([0, 0.1, 10]),
      margin: rng.pick([0, 0.05, 1]),
      maxMovesPerWindow: rng.pick([0, 1, 32, 4096]),
      minWindowRequests: rng.pick([0, 100]),
      replayWindows: rng.pick([0, 1, 24]),
    };
  }
  const endpoints: Record<string, unknown>[] = [];
  const ids = new Set<string>();
  const addresses: string[] = [];
  for (let i = 0; i < nodes; i++) {
    let id = text(rng, ALNUM, ID_CHARS, 253);
    while (ids.has(id)) id += 'x';
    ids.add(id);
    // Two endpoints on one socket (however spelled) is allowed: the translator keeps one.
    const address = addresses.length > 0 && rng.chance(0.08) ? rng.pick(addresses) : rng.chance(0.5) ? ipv4(rng) : ipv6(rng);
    addresses.push(address);
    const e: Record<string, unknown> = { id, address, port: rng.chance(0.2) ? rng.pick([1, 65535]) : 1024 + rng.int(60000) };
    if (rng.chance(0.1)) e.port = 8080;
    if (rng.chance(0.8)) {
      const loc: Record<string, string> = {};
      for (const k of ['region', 'zone', 'subzone']) {
        if (rng.chance(0.8)) loc[k] = rng.chance(0.5) ? rng.pick(ODD_LOCALITIES) : rng.pick(['r1', 'z1', 'z2', 'nvl-1', 'nvl-2']);
      }
      e.locality = loc;
    }
    if (rng.chance(0.7)) e.weight = weight(rng);
    const r = rng.int(10);
    if (r === 0) e.ready = false;
    else if (r === 1) e.draining = true;
    else if (r === 2) Object.assign(e, { ready: false, draining: true });
    else if (rng.chance(0.3)) e.ready = true;
    endpoints.push(e);
  }
  // A lone surrogate (YAML's \u escapes write one; UTF-8, so protobuf, has none) now and then: keyway must refuse it.
  if (endpoints.length > 0 && rng.chance(0.03)) rng.pick(endpoints).locality = { zone: rng.pick(['\ud800', 'x\udfff']) };
  // Every endpoint not ready now and then: nothing serves.
  if (rng.chance(0.05)) for (const e of endpoints) Object.assign(e, { ready: false, draining: false });
  doc.endpoints = endpoints;
  return doc;
}

/** The topology as YAML text, for parseConfig. */
export function topologyYaml(doc: Record<string, unknown>): string {
  return stringify(doc, { lineWidth: 0 });
}
