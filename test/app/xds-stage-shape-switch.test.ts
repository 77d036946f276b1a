// A reload that switches Envoy's route shape, or renames the service of the subset shape (its one
// cluster is named after it), changes the routes and the clusters they name together. Served in
// one snapshot, Envoy applied the new routes while their clusters still warmed and answered 503
// (no_cluster) for about 0.1 s. Envoy goes through the make-before-break stager in both shapes
// (docs/xds.md "Make-before-break for stock gRPC clients"): the old routes with both shapes'
// clusters, then the new routes, then the new clusters alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary } from '@bufbuild/protobuf';
import { pino } from 'pino';
import type { Endpoint } from '../../src/core/endpoint.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import { stagedSet } from '../../src/app/xds-stage.js';
import { translate, type TranslatorInput } from '../../src/xds/translator/index.js';
import { resourcesOf, type ProxyClass, type ResourceSet } from '../../src/xds/resources.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const node = (i: number): Endpoint => ({ id: `n${i}`, address: `10.0.0.${i + 1}`, port: 8080, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });

function input(nodes: number, routeShape: 'subset' | 'table', service = 'keyway-cache'): TranslatorInput {
  const endpoints = Array.from({ length: nodes }, (_, i) => node(i));
  const shardMap = computeShardMap(endpoints, { shardCount: 16, replicas: 2, spread: 'none' });
  return { shardMap, topology: { endpoints, xds: { ...DEFAULT_XDS_SETTINGS, service, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, routeShape } } } } as unknown as TranslatorInput;
}

const clusters = (set: ResourceSet): string[] => resourcesOf(set, 'cluster').map((r) => r.name).sort();
const routes = (set: ResourceSet) => resourcesOf(set, 'route').map((r) => [r.name, Buffer.from(toBinary(r.schema, r.message)).toString('base64')]);

/** A stager whose class ACKs what it is served once `acked` is set; `serve` runs a phase's rebuild as the xDS stage does. */
function stagedEnvoy() {
  const state = { acked: false, rebuilds: 0 };
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger: pino({ level: 'silent' }), synced: () => state.acked, rebuild: () => void state.rebuilds++ });
  // One translation per input, as the xDS stage: the stager tells a new change from a phase by the set's identity.
  const serve = (set: ResourceSet): ResourceSet => stagedSet(stager, envoy, set);
  /** Every phase of the change to `target`, each as served, once the class ACKs. */
  const phases = async (target: ResourceSet): Promise<ResourceSet[]> => {
    state.acked = false;
    const out = [serve(target)];
    state.acked = true;
    for (let i = 0; i < 20 && stager.inProgress().length > 0; i++) {
      const before = state.rebuilds;
      stager.check();
      await new Promise((r) => setTimeout(r, 2));
      if (state.rebuilds > before) out.push(serve(target));
    }
    assert.deepEqual(stager.inProgress(), [], 'the change completed');
    return out;
  };
  return { stager, serve, phases };
}

test('table -> subset: the table routes stay until Envoy holds the subset cluster, the table clusters until it holds the subset routes', async () => {
  const { stager, serve, phases } = stagedEnvoy();
  const table = translate(input(3, 'table'), envoy);
  const subset = translate(input(3, 'subset'), envoy);
  serve(table);
  const [add, swap, done] = await phases(subset);
  assert.deepEqual(routes(add!), routes(table), 'add: the routes in force');
  assert.deepEqual(clusters(add!), [...clusters(table), ...clusters(subset)].sort(), 'add: both shapes\' clusters');
  assert.deepEqual(routes(swap!), routes(subset), 'switch: the new routes');
  assert.deepEqual(clusters(swap!), clusters(add!), 'switch: the old clusters still held');
  assert.equal(done, subset, 'done: the translated set itself');
  stager.close();
});

test('a rename of the subset shape\'s service keeps the old cluster until Envoy holds the routes to the new one', async () => {
  const { stager, serve, phases } = stagedEnvoy();
  const before = translate(input(3, 'subset'), envoy);
  const renamed = translate(input(3, 'subset', 'svc-b'), envoy);
  serve(before);
  const [add, swap, done] = await phases(renamed);
  assert.deepEqual(routes(add!), routes(before));
  assert.deepEqual(clusters(add!), ['keyway-cache', 'svc-b']);
  assert.deepEqual(routes(swap!), routes(renamed));
  assert.deepEqual(clusters(swap!), ['keyway-cache', 'svc-b']);
  assert.equal(done, renamed);
  stager.close();
});

test('subset -> table after table -> subset: the switch back starts from the subset set served, not the route table of before', async () => {
  const { stager, serve, phases } = stagedEnvoy();
  const three = translate(input(3, 'table'), envoy);
  const subset = translate(input(3, 'subset'), envoy);
  const six = translate(input(6, 'table'), envoy);
  serve(three);
  await phases(subset);
  const [add, , done] = await phases(six);
  assert.deepEqual(routes(add!), routes(subset), 'add: the subset routes in force, not the 3-node route table');
  assert.deepEqual(clusters(add!), [...clusters(subset), ...clusters(six)].sort());
  assert.equal(done, six);
  stager.close();
});

test('a change of the subset shape that keeps its cluster is served as translated, with no phase', () => {
  const { stager, serve } = stagedEnvoy();
  serve(translate(input(3, 'subset'), envoy));
  const next = translate(input(4, 'subset'), envoy);
  assert.equal(serve(next), next);
  assert.deepEqual(stager.inProgress(), []);
  stager.close();
});
