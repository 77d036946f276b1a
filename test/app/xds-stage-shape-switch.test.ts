// Envoy switched from the route-table shape to the subset shape and back (docs/xds.md
// "Make-before-break"): the subset shape is served unstaged, so what the stager held of the
// table-shape era is stale; it served that era's route table (3 nodes) again after the switch back
// to a fleet of 6, with its clusters and endpoints, until the class ACKed.
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
import { resourcesOf, type ProxyClass } from '../../src/xds/resources.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const node = (i: number): Endpoint => ({ id: `n${i}`, address: `10.0.0.${i + 1}`, port: 8080, locality: { region: 'r', zone: 'z', subzone: 's' }, weight: 1, ready: true });

function input(nodes: number, routeShape: 'subset' | 'table'): TranslatorInput {
  const endpoints = Array.from({ length: nodes }, (_, i) => node(i));
  const shardMap = computeShardMap(endpoints, { shardCount: 16, replicas: 2, spread: 'none' });
  return { shardMap, topology: { endpoints, xds: { ...DEFAULT_XDS_SETTINGS, envoy: { ...DEFAULT_XDS_SETTINGS.envoy, routeShape } } } } as unknown as TranslatorInput;
}

const clusterNames = (set: ReturnType<typeof translate>): string[] => resourcesOf(set, 'cluster').map((r) => r.name).sort();

test('after table -> subset -> table, the first staged phase starts from what was served last, not from the table era before the switch', () => {
  const stager = new GrpcStager({ timeoutMs: 60_000, lingerMs: 0, logger: pino({ level: 'silent' }), synced: () => false, rebuild: () => {} });
  const serve = (i: TranslatorInput) => stagedSet(stager, envoy, translate(i, envoy), i.topology.xds.envoy.routeShape);
  const three = serve(input(3, 'table'));
  assert.ok(clusterNames(three).some((n) => n.includes('n2')), 'the table era: a cluster per node');
  serve(input(3, 'subset'));
  const six = input(6, 'table');
  const back = serve(six);
  // Nothing staged is served any more (the subset set was): the new route table goes out at once,
  // as on a first build, not an 'add' phase that keeps the 3-node era's routes.
  const routes = (set: ReturnType<typeof translate>) => resourcesOf(set, 'route').map((r) => [r.name, Buffer.from(toBinary(r.schema, r.message)).toString('base64')]);
  assert.deepEqual(routes(back), routes(translate(six, envoy)));
  assert.notDeepEqual(routes(back), routes(three));
  stager.close();
});
