// A change that adds a cluster no route names (Envoy's route table with `missingHeader: reject`:
// the cluster of a node routed no shard) has nothing to stage: Envoy warms the cluster and no call
// needs it. Staged, its `add` set was the target itself and the `done` step changed nothing, so
// Envoy never ACKed again: its ACKs, held back as mid-change, kept the change from converging and
// it ended as `xDS change timeout` (docs/xds.md "Make-before-break for stock gRPC clients").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { stagedSet, xdsStage } from '../../src/app/xds-stage.js';
import { translate, type TranslatorInput } from '../../src/xds/translator/index.js';
import type { ProxyClass } from '../../src/xds/resources.js';
import { serveForReloads } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
/** S = 4, R = 1: the fourth node, weight 1 beside 100s, owns no shard. */
const WEIGHTS = [100, 100, 100, 1];
const node = (i: number): Endpoint => ({ id: `e${i}`, address: `10.0.0.${i + 1}`, port: 8080, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: WEIGHTS[i]!, ready: true });

function input(nodes: number): TranslatorInput {
  const endpoints = Array.from({ length: nodes }, (_, i) => node(i));
  const shardMap = computeShardMap(endpoints, { shardCount: 4, replicas: 1, spread: 'none' });
  const envoySettings = { ...DEFAULT_XDS_SETTINGS.envoy, routeShape: 'table' as const, missingHeader: 'reject' as const };
  return { shardMap, topology: { endpoints, xds: { ...DEFAULT_XDS_SETTINGS, envoy: envoySettings } } } as unknown as TranslatorInput;
}

test('a new route-table cluster that no route names goes out at once, with no phase', () => {
  const four = input(4);
  assert.ok(four.shardMap.owners.every((o) => !o.includes('e3')), 'precondition: e3 owns no shard');
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger: pino({ level: 'silent' }), synced: () => false, rebuild: () => {} });
  stagedSet(stager, envoy, translate(input(3), envoy));
  const target = translate(four, envoy);
  assert.ok(target.cluster.some((c) => c.name === 'keyway-cache/node/e3'), 'precondition: the target defines e3\'s cluster');
  assert.equal(stagedSet(stager, envoy, target), target, 'the translated set itself');
  assert.deepEqual(stager.inProgress(), [], 'no change left waiting for an ACK that cannot come');
  stager.close();
});

const topology = (nodes: number): string =>
  [
    'shards: 4',
    'replicas: 1',
    'spread: none',
    'envoy: {routeShape: table, missingHeader: reject}',
    'endpoints:',
    ...WEIGHTS.slice(0, nodes).flatMap((w, i) => [`  - id: e${i}`, `    address: 127.0.0.${i + 1}`, '    port: 7100', '    locality: {region: r, zone: z, subzone: s}', `    weight: ${w}`]),
  ].join('\n') + '\n';

test('keyway serve: the change that adds such a node converges once Envoy ACKs it', async (t) => {
  const { server, topo, records } = await serveForReloads(t, topology(3), { xdsPort: 0, stages: [xdsStage({ changeTimeoutMs: 3_000 })] });
  const c = new XdsTestClient({ port: server.listening.xdsPort!, node: { id: 'envoy-1', userAgentName: 'envoy' }, protocol: 'delta' });
  // An Envoy-like client: wildcard CDS and LDS, EDS for each cluster it gets, RDS for the listener's routes; ACKs everything.
  let stop = false;
  const loop = (async () => {
    for (let i = 0; i < 100 && !stop; i++) {
      const r = await c.next(10_000).catch(() => undefined);
      if (!r) return;
      c.ack(r.kind);
      if (r.kind === 'cluster' && r.resources.length > 0) c.delta('endpoint', { subscribe: r.resources.map((x) => x.name) });
      if (r.kind === 'listener') c.delta('route', { subscribe: ['keyway-cache'] });
    }
  })();
  t.after(async () => {
    stop = true;
    c.close();
    await loop;
  });
  c.delta('cluster');
  c.delta('listener');
  await eventually('Envoy holds the route table', () => c.last('route'));

  await topo.write(topology(4));
  await server.reload();
  await eventually('Envoy gets e3\'s cluster', () => c.history.some((h) => h.kind === 'cluster' && h.resources.some((r) => r.name === 'keyway-cache/node/e3')));
  const ended = await eventually('the change to end', () => records.filter((r) => /^xDS change /.test(r.msg)), { accept: (l) => l.length > 0, timeoutMs: 10_000 });
  assert.deepEqual(
    ended.map((r) => [r.msg, r.pending]),
    [['xDS change converged', 0]],
    'converged on Envoy\'s ACKs, not timed out with its ACKs held back',
  );
});
