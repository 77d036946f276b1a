/**
 * Make-before-break and gRPC's 4 MiB message limit (src/app/grpc-stager.ts, grpc-staged-sets.ts):
 * a staged set holds the clusters and endpoints of both maps, so with a target just under the
 * limit it can pass it, and a stock gRPC client's stream would end on every phase. Such a change
 * is not staged; one that fits still is, and Envoy classes (no such limit) always are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { create } from '@bufbuild/protobuf';
import { pino } from 'pino';
import { ClusterLoadAssignmentSchema, ClusterSchema, ListenerSchema, RouteConfigurationSchema } from '../../src/xds/proto.js';
import { TYPE_URL, type ResourceKind, type ResourceSet, type TranslatedResource } from '../../src/xds/resources.js';
import { ResourceEncoder } from '../../src/xds/cache/index.js';
import { encodeSotwResponse } from '../../src/xds/server/wire.js';
import { grpcCluster } from '../../src/xds/translator/grpc-clusters.js';
import { grpcListener } from '../../src/xds/translator/grpc-listener.js';
import { grpcRouteConfiguration } from '../../src/xds/translator/grpc-routes.js';
import { GRPC_MAX_MESSAGE_BYTES } from '../../src/xds/translator/grpc-size.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { largestStagedResponse, stagedSet, type StagePhase } from '../../src/app/grpc-staged-sets.js';

const r = (schema: TranslatedResource['schema'], name: string, message: unknown): TranslatedResource => ({ name, schema, message }) as TranslatedResource;

/** A gRPC set of clusters `prefix0..prefix{n-1}`, shard i on cluster i, each assignment of `hosts` endpoints. */
function bigSet(prefix: string, n: number, hosts: number): ResourceSet {
  const names = Array.from({ length: n }, (_, i) => `svc/owners/${prefix}${i}`).sort();
  const assignment = (name: string) =>
    create(ClusterLoadAssignmentSchema, {
      clusterName: name,
      endpoints: [
        {
          lbEndpoints: Array.from({ length: hosts }, (_, h) => ({
            hostIdentifier: { case: 'endpoint' as const, value: { address: { address: { case: 'socketAddress' as const, value: { address: `10.${h >> 8}.${h & 255}.${n}`, portSpecifier: { case: 'portValue' as const, value: 7000 } } } } } },
          })),
        },
      ],
    });
  return {
    cluster: names.map((c) => r(ClusterSchema, c, grpcCluster(c))),
    endpoint: names.map((c) => r(ClusterLoadAssignmentSchema, c, assignment(c))),
    listener: [r(ListenerSchema, 'svc', grpcListener('svc', 'svc-routes'))],
    route: [r(RouteConfigurationSchema, 'svc-routes', grpcRouteConfiguration('svc-routes', 'svc', names.map((cluster, shard) => ({ shard, cluster })), undefined))],
  };
}

/** The bytes of the SotW response of `kind` carrying all of `set`'s resources of that kind, as the server writes it. */
function responseBytes(set: ResourceSet, kind: ResourceKind): number {
  const encoder = new ResourceEncoder();
  const resources = (set[kind] ?? []).map((x) => encoder.encode(kind, x));
  return encodeSotwResponse({ versionInfo: 'v'.repeat(64), typeUrl: TYPE_URL[kind], nonce: '123456', controlPlane: 'keyway-0.keyway.default.svc' }, resources).length;
}

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, sink), lines };
}

// About 2.4 MB of assignments each: either map fits, both together do not.
const before = bigSet('a', 20, 6000);
const after = bigSet('b', 20, 6000);

test('the bound is an upper bound of the real response, and close to it', () => {
  for (const [base, target, phase] of [
    [before, after, 'add'],
    [before, after, 'switch'],
    [before, bigSet('a', 3, 10), 'switch'],
    [bigSet('a', 3, 10), bigSet('c', 5, 10), 'add'],
    // A change during another: it starts from the staged set in force, staging routes included.
    [stagedSet(bigSet('a', 3, 10), bigSet('c', 5, 10), 'add'), bigSet('d', 4, 10), 'add'],
  ] as [ResourceSet, ResourceSet, StagePhase][]) {
    const set = stagedSet(base, target, phase);
    const largest = largestStagedResponse(base, target, phase);
    const real = Math.max(...(['cluster', 'endpoint', 'listener', 'route'] as const).map((k) => responseBytes(set, k)));
    assert.ok(largest.bytes >= real, `${phase}: bound ${largest.bytes} below the real ${real}`);
    assert.ok(largest.bytes <= real + 2048, `${phase}: bound ${largest.bytes} far above the real ${real}`);
  }
  for (const set of [before, after]) assert.ok(responseBytes(set, 'endpoint') < GRPC_MAX_MESSAGE_BYTES, 'each map alone fits');
  assert.ok(responseBytes(stagedSet(before, after, 'add'), 'endpoint') > GRPC_MAX_MESSAGE_BYTES, 'the staged union does not');
});

test('a gRPC change whose staged set would pass the message limit goes out at once, warned of', (t) => {
  const { logger, lines } = capture();
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger, synced: () => false, rebuild: () => {} });
  t.after(() => stager.close());
  assert.equal(stager.build('grpc|z|', before), before);
  const served = stager.build('grpc|z|', after);
  assert.equal(served, after, 'the target, not a staged set no client could receive');
  assert.deepEqual(stager.inProgress(), []);
  const warned = lines.find((l) => String(l.msg).includes("gRPC's message limit"));
  assert.ok(warned, 'warned');
  assert.equal(warned.proxyClass, 'grpc|z|');
  assert.equal(warned.kind, 'endpoint');
  assert.ok((warned.bytes as number) > GRPC_MAX_MESSAGE_BYTES);
});

test('a change whose staged set fits is still staged; Envoy classes are staged whatever the size', (t) => {
  const { logger, lines } = capture();
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger, synced: () => false, rebuild: () => {} });
  t.after(() => stager.close());
  const small = bigSet('a', 20, 10);
  stager.build('grpc|z|', small);
  const staged = stager.build('grpc|z|', bigSet('b', 20, 10));
  assert.equal(staged.cluster.length, 40, 'old and new clusters');
  stager.build('envoy|z|', before);
  assert.equal(stager.build('envoy|z|', after).cluster.length, 40);
  assert.deepEqual(stager.inProgress().map((c) => c.phase), ['add', 'add']);
  assert.equal(lines.length, 0);
});
