/**
 * The client commands as a user runs them: `keyway status|shardmap|lookup|diff` (the compiled CLI)
 * spawned against a real keyway admin server started in-process, and `diff` on example files.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { freePort } from '../../../e2e/support/ports.js';
import { startServer, type RunningServer, type ServeStage } from '../../../src/app/index.js';
import { diffShardMaps, keyToShard } from '../../../src/sharding/index.js';
import type { ProxyFlavor } from '../../../src/core/proxy.js';
import type { ProxyRegistry } from '../../../src/xds/server/proxy-state.js';
import { connectProxy, proxyRegistry } from './proxy-fixture.js';
import { tempTopology, topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';
import { startKeywayInProcess } from '../../support/keyway-in-process.js';
import { type CliRun, runCli } from '../support.js';
import { runClientCommand } from '../../../src/cli/commands/index.js';
import { captureIo } from './fake-server.js';


/** The CLI without a KEYWAY_SERVER from the environment of whoever runs the tests. */
const run = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> => runCli(args, { KEYWAY_SERVER: '', ...env });

const proxiesStage = (registry: ProxyRegistry): ServeStage => ({
  name: 'proxies',
  async start() {
    return {
      close: async () => {},
      readers: { proxies: { proxies: () => registry.proxies(), proxy: (id: string) => registry.proxy(id), configDump: () => undefined, nodeIds: (f: ProxyFlavor) => registry.nodeIds(f) } },
    };
  },
});

describe('against a running keyway', () => {
  let topo: Awaited<ReturnType<typeof tempTopology>>;
  let plain: RunningServer;
  let withProxies: RunningServer;
  let url: string;

  before(async () => {
    topo = await tempTopology(topologyText({ shards: 256, ready: [true, true, true, false], weights: [10, 20, 30, 5] }));
    plain = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1' });
    withProxies = await startServer({ configFile: topo.file, httpPort: 0, host: '127.0.0.1', stages: [proxiesStage(proxyRegistry())] });
    url = `http://127.0.0.1:${plain.httpPort}`;
  });
  after(async () => {
    await plain?.close();
    await withProxies?.close();
    await topo?.cleanup();
  });

  test('status: readiness and version; no /v1/proxies is reported, not an error', async () => {
    const version = plain.state.current()!.map.version;
    const r = await run(['status', '--server', url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`keyway ${url}/: ready\n`));
    assert.doesNotMatch(r.stdout, /degraded/i);
    assert.match(r.stdout, new RegExp(`shard map ${version}: 256/256 shards owned, 3/4 endpoints ready`));
    assert.match(r.stdout, /source file: healthy/);
    assert.match(r.stdout, /proxies: not available \(GET \/v1\/proxies answered 404/);
    const j = await run(['status', '-o', 'json'], { KEYWAY_SERVER: url });
    assert.equal(j.code, 0, j.stderr);
    const body = JSON.parse(j.stdout);
    assert.equal(body.readyz.version, version);
    assert.equal(body.readyz.ready, true);
    assert.equal(body.proxies, null);
  });

  test('status: one row per proxy with CDS/EDS/LDS/RDS states, and the NACK text', async () => {
    const r = await run(['status', '--server', `127.0.0.1:${withProxies.httpPort}`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    // grpc-7 runs on an older route configuration: keyway serves, degraded, and says why.
    assert.match(r.stdout, /: DEGRADED \(serving\)\n {2}degraded: proxy_nack: 1 proxy rejects its latest configuration .*: grpc-7 route: route config rejected: unknown cluster "c9"\n/);
    const header = lines.find((l) => l.startsWith('PROXY'))!;
    assert.match(header, /^PROXY\s+FLAVOR\s+CLUSTER\s+LOCALITY\s+CDS\s+EDS\s+LDS\s+RDS\s+EDS VERSION\s+AGE$/);
    const envoy = lines.find((l) => l.startsWith('envoy-1'))!;
    assert.match(envoy, /^envoy-1\s+envoy\s+gateways\s+r\/z0\/f0\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED\s+v-endpoint-1\s+2m\d+s$/);
    const grpc = lines.find((l) => l.startsWith('grpc-7'))!;
    assert.match(grpc, /^grpc-7\s+grpc\s+gateways\s+r\/z0\/f1\s+SYNCED\s+SYNCED\s+SYNCED\s+NACKED\s/);
    assert.match(r.stdout, /2 proxies; per type: 7 SYNCED, 1 NACKED/);
    assert.match(r.stdout, /grpc-7 RDS rejected version v-route-1 at \S+: route config rejected: unknown cluster "c9"/);
    const j = JSON.parse((await run(['status', '-o', 'json', '--server', `127.0.0.1:${withProxies.httpPort}`])).stdout);
    assert.deepEqual(j.proxies.map((p: { id: string }) => p.id), ['envoy-1', 'grpc-7']);
    assert.equal(j.proxies[1].types.route.status, 'NACKED');
    assert.equal(j.readyz.status, 'degraded');
    assert.deepEqual(j.readyz.reasons.map((x: { code: string }) => x.code), ['proxy_nack']);
  });

  test('shardmap: per-endpoint table matches the served map; filters by zone and subzone; --shards', async () => {
    const map = plain.state.current()!.map;
    const owned = (id: string) => map.owners.filter((o) => o.includes(id)).length;
    const primary = (id: string) => map.owners.filter((o) => o[0] === id).length;
    const r = await run(['shardmap', '--server', url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^shard map ${map.version}: 256 shards, 2 replicas, spread zone`));
    for (const id of ['e0', 'e1', 'e2']) {
      const row = r.stdout.split('\n').find((l) => l.startsWith(`${id} `))!;
      const cells = row.split(/\s+/);
      // ENDPOINT ZONE SUBZONE WEIGHT READY OWNED PRIMARY WEIGHT% PRIMARY% OWNED% PRIMARY/WEIGHT
      assert.equal(cells[4], 'yes');
      assert.equal(Number(cells[5]), owned(id));
      assert.equal(Number(cells[6]), primary(id));
      assert.equal(cells[8], `${((100 * primary(id)) / 256).toFixed(1)}%`);
    }
    // e3 is not ready: listed, owns nothing, weight share 0.
    assert.match(r.stdout, /\ne3\s+z1\s+f3\s+5\s+no\s+0\s+0\s+0\.0%/);
    // Weight shares are over the eligible endpoints: 10/60, 20/60, 30/60.
    assert.match(r.stdout, /\ne2\s+z0\s+f2\s+30\s+yes\s+\d+\s+\d+\s+50\.0%/);

    const z = JSON.parse((await run(['shardmap', '--zone', 'z0', '--shards', '-o', 'json', '--server', url])).stdout);
    assert.deepEqual(z.endpoints.map((e: { id: string }) => e.id), ['e0', 'e2']);
    assert.deepEqual(z.subzones.map((s: { subzone: string }) => s.subzone), ['f0', 'f2']);
    const expectShards = map.owners.flatMap((o, shard) => (o.some((id) => id === 'e0' || id === 'e2') ? [shard] : []));
    assert.deepEqual(z.shards.map((s: { shard: number }) => s.shard), expectShards);
    assert.equal(z.endpoints[1].weightShare, 0.5);

    const f = JSON.parse((await run(['shardmap', '--subzone', 'f1', '--endpoint', 'e1', '-o', 'json', '--server', url])).stdout);
    assert.deepEqual(f.endpoints.map((e: { id: string }) => e.id), ['e1']);
    assert.equal(f.endpoints[0].shardsOwned, owned('e1'));
    assert.equal(f.shards, undefined);
  });

  test('shardmap: a filter naming nothing known exits 1 and lists what exists', async () => {
    const r = await run(['shardmap', '--endpoint', 'e9', '--server', url]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /keyway shardmap: no endpoint "e9" in shard map \S+; known: "e0", "e1", "e2", "e3"/);
    assert.equal(r.stdout, '');
  });

  test('lookup: shard by the key-to-shard contract (with the {tag} rule) and its owners', async () => {
    const map = plain.state.current()!.map;
    const key = 'user:{42}:emb';
    const shard = keyToShard(key, 256);
    assert.equal(shard, keyToShard('42', 256));
    const r = await run(['lookup', key, '--server', url]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^shard\\s+${shard}$`, 'm'));
    assert.match(r.stdout, /^hash tag\s+"42"/m);
    assert.match(r.stdout, new RegExp(`^primary\\s+${map.owners[shard]![0]}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^replicas\\s+${map.owners[shard]![1]}$`, 'm'));
    const j = JSON.parse((await run(['lookup', '-o', 'json', '--server', url, '--', '-odd key&x=1'])).stdout);
    assert.deepEqual(j, { key: '-odd key&x=1', shard: keyToShard('-odd key&x=1', 256), owners: map.owners[j.shard], version: map.version, readers: 1 });
  });

  test('lookup: a key past the request size limit gets the 431 without the whole URL echoed', async () => {
    const io = captureIo();
    const key = 'k'.repeat(100_000);
    const code = await runClientCommand('lookup', [key, '--server', url], {}, io);
    assert.equal(code, 1);
    assert.match(io.stderr, new RegExp(`^keyway lookup: GET /v1/lookup\\?key=k+\\.\\.\\. \\(${'/v1/lookup?key='.length + key.length} characters\\) failed with 431: LIMIT_EXCEEDED: `));
    assert.ok(io.stderr.length < 1_000, `${io.stderr.length} characters`);
  });
});

test('status against keyway serve with its real xDS stage: one proxy in sync, one that rejected the routes', async (t) => {
  const { server, clients } = await startKeywayInProcess(t, topologyText({ shards: 64 }));
  const xdsPort = server.listening.xdsPort!;
  clients.push(await connectProxy(xdsPort, 'envoy-1', { subZone: 'f0' }));
  clients.push(await connectProxy(xdsPort, 'envoy-2', { subZone: 'f1', nackRoutes: 'unknown cluster "c9"' }));
  const url = `http://127.0.0.1:${server.httpPort}`;
  await eventually('both proxies settled', async () => {
    const rows = ((await (await fetch(`${url}/v1/proxies`)).json()) as { proxies: { types: Record<string, { status: string }> }[] }).proxies;
    return rows.length === 2 && rows.every((p) => Object.values(p.types).every((x) => x.status === 'SYNCED' || x.status === 'NACKED'));
  });
  const r = await run(['status', '--server', url]);
  assert.equal(r.code, 0, r.stderr);
  const edsAcked = ((await (await fetch(`${url}/v1/proxies`)).json()) as { proxies: { types: { endpoint: { versionAcked: string } } }[] }).proxies[0]!.types.endpoint.versionAcked;
  assert.match(r.stdout, new RegExp(`\\nenvoy-1\\s+envoy\\s+gateways\\s+r/z0/f0\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+${edsAcked}\\s+\\d+s\\n`));
  assert.match(r.stdout, /\nenvoy-2\s+envoy\s+gateways\s+r\/z0\/f1\s+SYNCED\s+SYNCED\s+SYNCED\s+NACKED\s/);
  assert.match(r.stdout, /envoy-2 RDS rejected version \S+ at \S+: unknown cluster "c9"/);
});

test('an unreachable server: clear message on stderr, exit 1', async () => {
  // From below the ephemeral range: a test running beside this one that listens on port 0 can
  // never be handed it (one bound and released by the kernel was, and answered these commands).
  const port = await freePort();
  const commands = [['status'], ['shardmap'], ['lookup', 'k']];
  // Independent processes: spawned side by side, checked in order.
  const runs = await Promise.all(commands.map((args) => run([...args, '--server', `http://127.0.0.1:${port}`])));
  for (const [i, args] of commands.entries()) {
    const r = runs[i]!;
    assert.equal(r.code, 1, `${args[0]}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`keyway ${args[0]}: cannot reach keyway at http://127.0.0.1:${port}/ \\(ECONNREFUSED\\)`));
  }
});

test('usage errors exit 2 with the command usage; --help exits 0', async () => {
  // Independent processes: spawned side by side, checked in order.
  const [bad, noKey, badUrl, help, top, statusHelp] = await Promise.all([
    run(['status', '-o', 'yaml']),
    run(['lookup']),
    run(['shardmap', '--server', 'ftp://x']),
    run(['diff', '--help']),
    run(['--help']),
    run(['status', '--help']),
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-o\/--output must be one of table \| json, got "yaml"/);
  assert.match(bad.stderr, /Usage: keyway status/);
  assert.equal(noKey.code, 2);
  assert.match(noKey.stderr, /KEY is required/);
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.stderr, /--server must be an http:\/\/ or https:\/\/ URL/);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: keyway diff OLD.yaml NEW.yaml/);
  // diff is offline: its help offers no --server or --token (it would refuse them); status's does.
  assert.doesNotMatch(help.stdout, /--server|--token/);
  assert.match(help.stdout, /-o, --output FORMAT/);
  assert.match(statusHelp.stdout, /--server URL[^\n]*\n\s+--token TOKEN[^\n]*\n\s+-o, --output FORMAT/);
  const refused = await run(['diff', 'a.yaml', 'b.yaml', '--server', 'x']);
  assert.equal(refused.code, 2);
  assert.match(top.stdout, /keyway shardmap \[--endpoint ID\]/);
});

describe('diff (offline)', () => {
  let dir: Awaited<ReturnType<typeof tempTopology>>;
  let fewer: string;
  before(async () => {
    // The example topology without gpu-b1 (the heaviest node).
    const example = await readFile('examples/topology.yaml', 'utf8');
    const i = example.indexOf('  - id: gpu-b1');
    const j = example.indexOf('  - id: gpu-b2');
    dir = await tempTopology(example.slice(0, i) + example.slice(j));
    fewer = dir.file;
  });
  after(() => dir?.cleanup());

  test('removing a node: only its shards move; JSON agrees with diffShardMaps; the table names the moves', async () => {
    const j = await run(['diff', 'examples/topology.yaml', fewer, '--shards', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout);
    const { shardMapOfFile } = await import('../../../src/cli/commands/diff.js');
    const expected = diffShardMaps(await shardMapOfFile('examples/topology.yaml'), await shardMapOfFile(fewer));
    assert.deepEqual(r.moves, expected.moves);
    assert.equal(r.movedShards, expected.moves.length);
    assert.ok(r.moves.every((m: { from: string[] }) => m.from.includes('gpu-b1')), 'only shards gpu-b1 owned move');
    const b1 = r.endpoints.find((e: { id: string }) => e.id === 'gpu-b1');
    assert.equal(b1.change, 'removed');
    assert.equal(b1.lost, b1.owned.before);
    assert.ok(r.primaryMoves.every((p: { from: string }) => p.from === 'gpu-b1'));
    assert.equal(r.cold.counts.copiesCold, b1.owned.before);
    assert.ok(r.cold.primary > 0 && r.cold.primary < r.cold.primaryChanged);

    const t = await run(['diff', 'examples/topology.yaml', fewer]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /endpoints: -gpu-b1/);
    assert.match(t.stdout, new RegExp(`moved shards\\s+${r.movedShards} of 1024`));
    assert.match(t.stdout, new RegExp(`keys cold at their primary\\s+${(100 * r.cold.primary).toFixed(1)}%`));
    assert.match(t.stdout, new RegExp(`cached copies to refill\\s+${(100 * r.cold.copies).toFixed(1)}%\\s+${b1.owned.before} of 2048 owner slots`));
    const top = r.primaryMoves[0];
    assert.match(t.stdout, new RegExp(`\\ngpu-b1\\s+${top.to}\\s+${top.shards}\\s`));
    assert.match(t.stdout, /\ngpu-b1\s+nvl-3\s+removed\s+\d+ -> 0/);
  });

  test('a large answer reaches a slow reader whole: keyway exits only once the pipe has taken it', async () => {
    // Past the pipe's 64 KiB Node writes stdout asynchronously; a reader that is not reading yet
    // (`| jq` still starting) once got the first 64 KiB of this 74 KB JSON and nothing more.
    const child = spawn('sh', ['-c', `"${process.execPath}" bin/keyway.js diff examples/topology.yaml "${fewer}" --shards -o json | (sleep 0.5; cat)`], {
      env: { ...process.env, KEYWAY_SERVER: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.ok(stdout.length > 65_536, `the answer is larger than a pipe's buffer (${stdout.length} bytes)`);
    const r = JSON.parse(stdout);
    assert.ok(r.moves.length > 0);
  });

  test('--load: each file under the hot-shard policy: the hot shards, their readers and why', async () => {
    // Zipf 1.0 over 100k keys at 10k requests per second, one 10 s window.
    const { zipfShardLoads, snapshotOf } = await import('../../sharding/hot-shards-fixtures.js');
    const load = `${dir.dir}/load.json`;
    await writeFile(load, JSON.stringify([snapshotOf(zipfShardLoads(100_000, 1.0, 1024, 10_000), 0)]));
    const j = await run(['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '--load', load, '--shards', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout);
    const hottest = keyToShard('item:0', 1024);
    const hot = r.hotShards.to.shards.find((h: { shard: number }) => h.shard === hottest);
    assert.equal(hot?.reason, 'spread');
    assert.ok(hot.readers > 1);
    assert.ok(r.hotShards.to.maxLoadRatio < r.hotShards.to.plainMaxLoadRatio);
    const t = await run(['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '--load', load, '--shards']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /hot shards \(to\): \d+ changed; busiest node/);
    // LOAD in whole requests per second, as docs/cli.md shows it.
    assert.ok(hot.load >= 10, `the premise: ${hot.load} is shown whole`);
    assert.match(t.stdout, new RegExp(`\\n\\s+${hottest}\\s+${Math.round(hot.load)}\\s+spread\\s+${hot.readers}\\s+${hot.owners.join(',')}\\s+alone`));
    const bad = await run(['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '--load', 'examples/topology.yaml']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /cannot read load snapshots/);
  });

  test('the README example, as written: the two shipped files; the new nodes take shards only from the others, none move between old nodes', async () => {
    const j = await run(['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '-o', 'json']);
    assert.equal(j.code, 0, j.stderr);
    const r = JSON.parse(j.stdout);
    const added = r.endpoints.filter((e: { change: string }) => e.change === 'added').map((e: { id: string }) => e.id);
    assert.deepEqual(added, ['gpu-c1', 'gpu-c2']);
    assert.ok(r.endpoints.every((e: { id: string; change: string; gained: number }) => e.change === 'added' || (e.change === 'unchanged' && e.gained === 0)));
    assert.ok(r.copyMoves.every((m: { to: string }) => added.includes(m.to)), 'every copy handed over goes to a new node');
    assert.ok(r.movedShards > 0 && r.movedShards < 1024);
    const t = await run(['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /endpoints: \+gpu-c1 \+gpu-c2/);
    for (const doc of ['README.md', 'docs/cli.md']) {
      assert.match(await readFile(doc, 'utf8'), /keyway diff examples\/topology\.yaml examples\/topology-scale-out\.yaml/, `${doc} shows the runnable command`);
    }
  });

  test('an invalid file: located errors on stderr, exit 2; a Kubernetes file is refused', async () => {
    const bad = await tempTopology('shards: 8\nendpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n    weight: -1\n');
    const k8s = await tempTopology('shards: 8\nkubernetes: {namespace: x}\n');
    try {
      const r = await run(['diff', 'examples/topology.yaml', bad.file]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, new RegExp(`keyway diff: ${bad.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:5: endpoints\\[0\\]\\.weight: must be a number >= 0, got -1`));
      const missing = await run(['diff', 'examples/topology.yaml', '/nonexistent/topo.yaml']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /\/nonexistent\/topo.yaml: cannot read the topology file: ENOENT/);
      const k = await run(['diff', k8s.file, 'examples/topology.yaml']);
      assert.equal(k.code, 2);
      assert.match(k.stderr, /endpoints come from Kubernetes/);
    } finally {
      await bad.cleanup();
      await k8s.cleanup();
    }
  });
});
