/**
 * The reconnect storm after a restart: every Envoy and proxyless gRPC client of a fresh `keyway
 * serve` opens its ADS stream within a second or two and walks the whole protocol at once (Envoy:
 * CDS and LDS wildcards, then EDS and RDS by name, SotW and delta; stock gRPC: its listener, route
 * configuration, then every owner-tuple cluster and its endpoints by name), ACKing each response.
 * keyway runs as the base manifest runs it (V8 heap capped at 384 MiB, KEYWAY_XDS_MAX_STREAMS=4000).
 * Outcomes only, no timings: every stream gets its whole configuration, none is NACKed, refused or
 * cut at a per-stream limit, keyway stays up, and the kubelet's probes (polled from a process of
 * their own, so the clients' CPU does not delay them) never fail as many times in a row as the
 * manifest's failureThreshold (each failure: no 200 within its timeout): a liveness probe failing
 * in a storm would restart keyway into the next storm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { create, fromBinary } from '@bufbuild/protobuf';
import { parse as parseYaml } from 'yaml';
import { credentials, makeGenericClientConstructor, type ClientDuplexStream, type StatusObject } from '@grpc/grpc-js';
import {
  AggregatedDiscoveryService,
  ClusterSchema,
  DeltaDiscoveryRequestSchema,
  DiscoveryRequestSchema,
  ListenerSchema,
  RouteConfigurationSchema,
  type DeltaDiscoveryResponse,
  type DiscoveryResponse,
} from '../src/xds/proto.js';
import { grpcServiceDefinition } from '../src/xds/server/index.js';
import { connectionManagers, edsServiceName, routeClusters } from '../src/xds/references.js';
import { kindOfTypeUrl, TYPE_URL, type ResourceKind } from '../src/xds/resources.js';
import { startKeyway } from './support/keyway.js';
import { httpGetText } from './support/http.js';
import { eventually } from '../test/support/eventually.js';

const STREAMS = 500;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type Mode = 'envoy-sotw' | 'envoy-delta' | 'grpc-sotw';
const MODES: readonly Mode[] = ['envoy-sotw', 'envoy-delta', 'grpc-sotw'];

/** 32 cache nodes named like StatefulSet pods over two zones and four fabrics, S = 1024 (about 550 owner tuples). */
function topology(): string {
  const lines = ['shards: 1024', 'replicas: 2', 'spread: subzone', 'service: keyway-cache', 'envoy: {listenerPort: 10000, missingHeader: any, upstreamProtocol: http1}', 'endpoints:'];
  for (let i = 0; i < 32; i++) {
    lines.push(
      `  - id: cache-${i}.cache-nodes.cache.svc`,
      `    address: 10.1.0.${i + 1}`,
      '    port: 8080',
      `    locality: {region: us-east-1, zone: us-east-1${'ab'[i % 2]}, subzone: nvl-${(i % 4) + 1}}`,
      `    weight: ${40 + (i % 3) * 20}`,
    );
  }
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'keyway-storm-')), 'topology.yaml');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

interface Probe {
  readonly timeoutSeconds?: number;
  readonly failureThreshold?: number;
}

/** The manifest's settings for keyway that bound what a storm may cost it, and its probes' timeout. */
function manifest(): { env: Record<string, string>; probeTimeoutMs: number; failureThreshold: { '/healthz': number; '/readyz': number } } {
  const doc = parseYaml(readFileSync(path.join(REPO, 'manifests/base/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[]; livenessProbe: Probe; readinessProbe: Probe }[] } } };
  };
  const c = doc.spec.template.spec.containers[0]!;
  const value = (name: string): string => {
    const v = c.env?.find((e) => e.name === name)?.value;
    assert.ok(v, `the manifest sets ${name}`);
    return v;
  };
  const seconds = Math.min(c.livenessProbe.timeoutSeconds ?? 1, c.readinessProbe.timeoutSeconds ?? 1);
  return {
    env: { NODE_OPTIONS: value('NODE_OPTIONS'), KEYWAY_XDS_MAX_STREAMS: value('KEYWAY_XDS_MAX_STREAMS') },
    probeTimeoutMs: seconds * 1000,
    // Kubernetes' default threshold is 3.
    failureThreshold: { '/healthz': c.livenessProbe.failureThreshold ?? 3, '/readyz': c.readinessProbe.failureThreshold ?? 3 },
  };
}

const Ads = makeGenericClientConstructor(grpcServiceDefinition(AggregatedDiscoveryService), 'ADS');
/** What a response makes a client ask next, per mode, kind, version and class: every client of a class is sent the same, so decoded once. */
const learned = new Map<string, readonly [ResourceKind, string[]] | undefined>();

interface StormClient {
  readonly id: string;
  readonly mode: Mode;
  synced: boolean;
  ended?: StatusObject;
  close(): void;
}

/**
 * One proxy on a connection of its own: it asks what its kind of client asks, ACKs every response
 * and follows the names each one gives (clusters to endpoints, listeners to route configurations,
 * a gRPC client's routes to clusters). Synced once it ACKed every kind its configuration has.
 */
function stormClient(port: number, i: number, mode: Mode): StormClient {
  const zone = `us-east-1${'ab'[i % 2]}`;
  const subZone = `nvl-${(i % 4) + 1}`;
  const id = mode === 'grpc-sotw' ? `checkout-${i.toString(36)}-7d9f8.shop.svc` : `sidecar~10.2.${(i >> 8) & 255}.${i & 255}~frontend-${i.toString(36)}-7d9f8.web~web.svc.cluster.local`;
  const client = new Ads(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const delta = mode === 'envoy-delta';
  const rpc = client as unknown as Record<'StreamAggregatedResources' | 'DeltaAggregatedResources', () => ClientDuplexStream<unknown, DiscoveryResponse | DeltaDiscoveryResponse>>;
  const call = delta ? rpc.DeltaAggregatedResources() : rpc.StreamAggregatedResources();
  const me: StormClient = { id, mode, synced: false, close: () => (call.cancel(), client.close()) };
  let node: object | undefined = { id, cluster: 'storm', userAgentName: mode === 'grpc-sotw' ? 'gRPC Node Pure JS' : 'envoy', locality: { region: 'us-east-1', zone, subZone } };
  const names = new Map<ResourceKind, string[]>();
  const nonces = new Map<ResourceKind, [nonce: string, version: string]>();
  const needed = new Set<ResourceKind>(['cluster', 'endpoint', 'listener', 'route']);
  const acked = new Set<ResourceKind>();
  const ask = (kind: ResourceKind, list: string[], subscribe: string[] = list): void => {
    names.set(kind, list);
    const [nonce, version] = nonces.get(kind) ?? ['', ''];
    const first = node;
    node = undefined;
    if (delta) call.write(create(DeltaDiscoveryRequestSchema, { node: first, typeUrl: TYPE_URL[kind], resourceNamesSubscribe: subscribe, responseNonce: nonce }));
    else call.write(create(DiscoveryRequestSchema, { node: first, typeUrl: TYPE_URL[kind], resourceNames: list, responseNonce: nonce, versionInfo: version }));
  };
  const follow = (kind: ResourceKind, wanted: string[]): void => {
    const list = [...new Set(wanted)].sort();
    if (list.length === 0) return void needed.delete(kind);
    const before = names.get(kind) ?? [];
    if (before.join('\n') === list.join('\n')) return;
    ask(kind, list, list.filter((n) => !before.includes(n)));
  };
  call.on('data', (msg: DiscoveryResponse | DeltaDiscoveryResponse) => {
    const kind = kindOfTypeUrl(msg.typeUrl);
    if (!kind) return;
    const any = 'systemVersionInfo' in msg ? msg.resources.flatMap((r) => (r.resource ? [r.resource] : [])) : msg.resources;
    const version = 'systemVersionInfo' in msg ? msg.systemVersionInfo : msg.versionInfo;
    nonces.set(kind, [msg.nonce, version]);
    // The ACK: the same names (delta: nothing new), the nonce and version just received.
    if (delta) ask(kind, names.get(kind) ?? [], []);
    else ask(kind, names.get(kind) ?? []);
    acked.add(kind);
    const key = `${mode}|${kind}|${version}|${zone}|${subZone}|${any.length}`;
    if (!learned.has(key)) {
      if (kind === 'cluster') learned.set(key, ['endpoint', any.flatMap((a) => edsServiceName(fromBinary(ClusterSchema, a.value)) ?? [])]);
      else if (kind === 'listener') {
        const rds = any.flatMap((a) => connectionManagers(fromBinary(ListenerSchema, a.value)).flatMap((h) => (h.routeSpecifier.case === 'rds' ? [h.routeSpecifier.value.routeConfigName] : [])));
        learned.set(key, ['route', rds]);
      } else if (kind === 'route' && mode === 'grpc-sotw') learned.set(key, ['cluster', any.flatMap((a) => routeClusters(fromBinary(RouteConfigurationSchema, a.value)))]);
      else learned.set(key, undefined);
    }
    const next = learned.get(key);
    if (next) follow(next[0], next[1]);
    if ([...needed].every((k) => acked.has(k))) me.synced = true;
  });
  call.on('status', (s: StatusObject) => (me.ended = s));
  call.on('error', () => {});
  if (mode === 'grpc-sotw') ask('listener', ['keyway-cache']);
  else {
    ask('cluster', []);
    ask('listener', []);
  }
  return me;
}

/** Polls /healthz and /readyz every 250 ms from a process of its own; each answer: path, status (0: failed or timed out), ms. */
function probes(httpUrl: string, timeoutMs: number): { stop(): Promise<{ path: string; status: number; ms: number }[]> } {
  const script = `
    const poll = async (p) => { const t0 = performance.now(); let status = 0;
      try { const r = await fetch(${JSON.stringify(httpUrl)} + p, { signal: AbortSignal.timeout(${timeoutMs}) }); await r.text(); status = r.status; } catch {}
      process.stdout.write(JSON.stringify({ path: p, status, ms: Math.round(performance.now() - t0) }) + '\\n'); };
    (async () => { for (;;) { await Promise.all([poll('/healthz'), poll('/readyz')]); await new Promise((r) => setTimeout(r, 250)); } })();`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  return {
    async stop() {
      child.kill();
      await new Promise((r) => child.once('exit', r));
      return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { path: string; status: number; ms: number });
    },
  };
}

test(`a reconnect storm of ${STREAMS} ADS streams: every one synced, none refused or NACKed, probes answered throughout`, { timeout: 60_000 }, async (t) => {
  const { env, probeTimeoutMs, failureThreshold } = manifest();
  const keyway = await startKeyway({ configPath: topology(), env });
  t.after(() => keyway.stop());
  await eventually('keyway ready', async () => (await fetch(`${keyway.httpUrl}/readyz`)).status === 200, { intervalMs: 100 });

  const watch = probes(keyway.httpUrl, probeTimeoutMs);
  const clients: StormClient[] = [];
  t.after(() => clients.forEach((c) => c.close()));
  // All at once, as after a restart: in 20 steps, as fast as this process can open them.
  for (let step = 0; step < 20; step++) {
    for (let i = (step * STREAMS) / 20; i < ((step + 1) * STREAMS) / 20; i++) clients.push(stormClient(keyway.xdsPort, i, MODES[i % MODES.length]!));
    await sleep(10);
  }
  await eventually('every stream synced or ended', () => clients.every((c) => c.synced || c.ended), { timeoutMs: 40_000, intervalMs: 100 });
  await sleep(500); // a last probe after the storm
  const answers = await watch.stop();

  const ended = clients.filter((c) => c.ended);
  assert.deepEqual(ended.slice(0, 5).map((c) => [c.id, c.ended?.code, c.ended?.details]), [], `${ended.length} streams ended`);
  assert.equal(clients.filter((c) => c.synced).length, STREAMS);
  assert.ok(keyway.running(), 'keyway is up');
  const metrics = await httpGetText(`${keyway.httpUrl}/metrics`);
  const counted = (name: string): number => metrics.split('\n').filter((l) => l.startsWith(`${name}{`)).reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  assert.equal(counted('keyway_xds_nacks_total'), 0, 'nothing NACKed');
  assert.equal(counted('keyway_xds_streams_refused_total'), 0, 'no stream refused');
  assert.equal(counted('keyway_xds_streams_over_limit_total'), 0, 'no stream cut at a per-stream limit');
  assert.ok(answers.length >= 4, `probes answered during the storm: ${answers.length}`);
  // The kubelet acts on failureThreshold failures in a row (liveness: a restart; readiness: out of
  // the Service); one slow answer on a shared machine is not that. Polled every 250 ms here, far
  // more often than the kubelet's period, so a run of them is a stricter bound than the kubelet's.
  for (const probe of ['/healthz', '/readyz'] as const) {
    let run = 0;
    let longest: { path: string; status: number; ms: number }[] = [];
    const current: { path: string; status: number; ms: number }[] = [];
    for (const a of answers.filter((x) => x.path === probe)) {
      if (a.status === 200) current.length = 0;
      else current.push(a);
      if (current.length > run) [run, longest] = [current.length, [...current]];
    }
    assert.ok(run < failureThreshold[probe], `${probe} failed ${run} times in a row (0: no answer within the manifest's ${probeTimeoutMs} ms): ${JSON.stringify(longest)}`);
  }
});
