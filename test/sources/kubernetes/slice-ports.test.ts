/**
 * Slice ports as the EndpointSlice controller writes them (docs/kubernetes-discovery.md "How one
 * endpoint is built"): the placeholder slice it keeps for a Service that selects no pod with an
 * address (no ports, no endpoints, one per family), and a Service of several ports whose pods do
 * not all carry every named target port (a rollout that adds one), so the controller groups them
 * into slices whose port lists differ, each in the Service's order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { discoverEndpoints, MAX_LISTED_FIRST_PORTS, MAX_LISTED_SLICES_PER_PORT } from '../../../src/sources/kubernetes/endpoints.js';
import { MAX_LISTED_PROBLEMS } from '../../../src/sources/kubernetes/index.js';
import { eventually } from '../../support/eventually.js';
import { NS, nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { startSource, testConfig, twoPodsEachTest } from './harness.js';

const cluster = twoPodsEachTest();

const member = (i: number): SliceEndpoint => ({ pod: `cache-node-${i}`, ip: `10.0.0.${10 + i}`, node: 'gpu-1' });
const problems = (): string[] => cluster.running!.source.status().problems.map((p) => `${p.reason} ${p.name}${p.value !== undefined ? ` ${p.value}` : ''}`);
/** What the controller writes for a Service that selects no pod with an address: no ports, no endpoints. */
const placeholder = (name: string, addressType: 'IPv4' | 'IPv6') => ({ ...sliceObject(name, [], { addressType }), ports: [] });

test('the controller\'s placeholder slices (a Service with no pod yet, both families) are no problem; a slice that lists pods without the port still is', async () => {
  cluster.server!.upsert(placeholder('cache-node-ph4', 'IPv4'));
  cluster.server!.upsert(placeholder('cache-node-ph6', 'IPv6'));
  cluster.running = await startSource(cluster.server!);
  assert.deepEqual(cluster.running!.source.current(), []);
  assert.deepEqual(problems(), [], 'no port is missing: there is nothing to send to');
  // The first pod gets its address: the controller replaces the placeholder.
  cluster.server!.remove('EndpointSlice', NS, 'cache-node-ph4');
  cluster.server!.upsert(sliceObject('cache-node-a', [member(0)]));
  cluster.server!.upsert(sliceObject('cache-node-b', [member(1)], { ports: [{ name: 'http', port: 80 }] }));
  await eventually('pod 0 listed', () => cluster.running!.source.current().length === 1);
  await eventually('the slice without the port reported', () => problems().join() === 'no-port cache-node', { describe: problems });
  // On the Service, naming the slice.
  assert.equal(
    cluster.running!.source.status().problems[0]!.message,
    'kubernetes.portName is cache, and 1 of the 2 slices of Service cache-node has no usable port: no port named cache (1 slice: cache-node-b); its 1 endpoint is left out',
  );
});

test('without portName, slices of one Service that start with different ports are reported: some pods would get another port than the rest', async () => {
  // Service ports [grpc, cache], both by target port name. cache-node-0 predates the grpc
  // container port: the controller lists it in a slice of the cache port alone.
  cluster.server!.upsert(sliceObject('cache-node-old', [member(0)], { ports: [{ name: 'cache', port: 8080 }] }));
  cluster.server!.upsert(sliceObject('cache-node-new', [member(1)], { ports: [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }] }));
  cluster.running = await startSource(cluster.server!, { portName: null });
  // The documented default, each slice's first port: the pods disagree.
  assert.deepEqual(cluster.running!.source.current().map((e) => `${e.id}:${e.port}`), ['cache-node-0:8080', 'cache-node-1:9090']);
  // One problem for the Service, naming its slices by first port.
  assert.deepEqual(problems(), ['ambiguous-port cache-node cache,grpc']);
  const message = cluster.running!.source.status().problems[0]!.message;
  assert.match(message, /portName/);
  assert.match(message, /the 2 slices of Service cache-node start with 2 different ports: cache \(1 slice: cache-node-old\); grpc \(1 slice: cache-node-new\);/);
  // One name on another number (a named target port moved in the new pod template) is each pod's own port.
  cluster.server!.upsert(sliceObject('cache-node-new', [member(1)], { ports: [{ name: 'cache', port: 8081 }] }));
  await eventually('same name, own number', () => problems().length === 0, { describe: problems });
  assert.deepEqual(cluster.running!.source.current().map((e) => `${e.id}:${e.port}`), ['cache-node-0:8080', 'cache-node-1:8081']);
  // The rollout ends: one port set again, nothing to report.
  cluster.server!.remove('EndpointSlice', NS, 'cache-node-old');
  cluster.server!.upsert(sliceObject('cache-node-new', [member(0), member(1)], { ports: [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }] }));
  await eventually('no longer ambiguous', () => problems().length === 0, { describe: problems });
  // With portName the port is the same for every pod, and nothing is ambiguous.
  await cluster.running!.source.stop();
  cluster.server!.upsert(sliceObject('cache-node-old', [member(0)], { ports: [{ name: 'cache', port: 8080 }] }));
  cluster.server!.upsert(sliceObject('cache-node-new', [member(1)], { ports: [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }] }));
  cluster.running = await startSource(cluster.server!);
  assert.deepEqual(cluster.running!.source.current().map((e) => `${e.id}:${e.port}`), ['cache-node-0:8080', 'cache-node-1:8080']);
  assert.deepEqual(problems(), []);
});

test('an ambiguous-port message lists at most MAX_LISTED_FIRST_PORTS first ports and MAX_LISTED_SLICES_PER_PORT slices of each, then counts the rest', () => {
  const ports = MAX_LISTED_FIRST_PORTS + 2;
  const perPort = MAX_LISTED_SLICES_PER_PORT + 4;
  const n = ports * perPort;
  const pods = Array.from({ length: n }, (_, i) => podObject(`cache-node-${i}`, { node: 'gpu-1', ip: `10.0.1.${i}` }) as unknown as V1Pod);
  const slices = Array.from({ length: n }, (_, i) => {
    const port = i % ports;
    return sliceObject(`cache-node-s${String(i).padStart(2, '0')}`, [{ pod: `cache-node-${i}`, ip: `10.0.1.${i}`, node: 'gpu-1' }], { ports: [{ name: `p${port}`, port: 9000 + port }] }) as unknown as V1EndpointSlice;
  });
  const r = discoverEndpoints({ slices, pods, nodes: [nodeObject('gpu-1') as unknown as V1Node] }, testConfig({ portName: null }));
  assert.equal(r.endpoints.length, n, 'the endpoints are kept');
  assert.deepEqual(r.problems.map((p) => [p.reason, p.kind, p.name, p.field, p.value]), [['ambiguous-port', 'Service', 'cache-node', 'ports', 'p0,p1,p2,p3,p4,p5,p6']]);
  const message = r.problems[0]!.message;
  assert.match(message, /the 49 slices of Service cache-node start with 7 different ports: p0 \(7 slices: cache-node-s00, cache-node-s07, cache-node-s14 and 4 more\); p1 \(7 slices: cache-node-s01, /);
  assert.match(message, /; p4 \(7 slices: cache-node-s04, cache-node-s11, cache-node-s18 and 4 more\); and 2 more ports;/);
  assert.doesNotMatch(message, /p5|cache-node-s21/, 'the ports and slices past the bounds are counted, not named');
});

test('a rollout over hundreds of slices is one ambiguous-port problem: the pod and node problems stay listed', async () => {
  // 300 slices of one Service during a rollout that adds a port ahead of the cache's: the old
  // pods' slices start with cache, the new pods' with grpc. Two pods have a bad weight
  // annotation and sit on a node keyway does not know.
  const slices = 300;
  const name = (i: number): string => `cache-node-${String(i).padStart(3, '0')}`;
  for (let i = 0; i < slices; i++) {
    const bad = i < 2;
    const ip = `10.1.${i >> 8}.${i & 255}`;
    cluster.server!.upsert(podObject(name(i), { node: bad ? 'gpu-gone' : 'gpu-1', ip, ...(bad ? { annotations: { 'keyway.io/weight': 'lots' } } : {}) }));
    const ports = i % 2 === 0 ? [{ name: 'cache', port: 8080 }] : [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }];
    cluster.server!.upsert(sliceObject(`${name(i)}-slice`, [{ pod: name(i), ip, node: bad ? 'gpu-gone' : 'gpu-1' }], { ports }));
  }
  cluster.running = await startSource(cluster.server!, { portName: null });
  assert.equal(cluster.running!.source.current().length, slices, 'the endpoints are kept');
  const status = cluster.running!.source.status();
  assert.deepEqual(problems(), [
    'ambiguous-port cache-node cache,grpc',
    'node-not-found gpu-gone',
    'bad-weight-annotation cache-node-000 lots',
    'bad-weight-annotation cache-node-001 lots',
  ]);
  assert.ok(status.problems.length < MAX_LISTED_PROBLEMS);
  assert.equal(status.problemsTotal, undefined, 'every problem is listed');
  const ambiguous = status.problems[0]!;
  assert.match(ambiguous.message, /the 300 slices of Service cache-node start with 2 different ports: cache \(150 slices: cache-node-000-slice, cache-node-002-slice, cache-node-004-slice and 147 more\); grpc \(150 slices: cache-node-001-slice, cache-node-003-slice, cache-node-005-slice and 147 more\);.*set portName/);
  assert.ok(ambiguous.message.length < 1000, `${ambiguous.message.length} characters`);
  // Logged once, not once per slice, naming the Service as a Service.
  const logged = cluster.running!.logs.filter((l) => (l.problem as { reason?: string } | undefined)?.reason === 'ambiguous-port');
  assert.deepEqual(logged.map((l) => String(l.msg).split(':')[0]), [`Service ${NS}/cache-node`]);
  assert.deepEqual([ambiguous.kind, ambiguous.namespace, ambiguous.name], ['Service', NS, 'cache-node']);
  // The rollout moves pods to grpc-first slices: the same problem (its key holds), its counts updated, not logged again.
  for (let i = 0; i < 100; i += 2) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    cluster.server!.upsert(sliceObject(`${name(i)}-slice`, [{ pod: name(i), ip, node: i < 2 ? 'gpu-gone' : 'gpu-1' }], { ports: [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }] }));
  }
  await eventually('the counts follow the rollout', () => /cache \(100 slices: .*grpc \(200 slices/.test(cluster.running!.source.status().problems[0]!.message), {
    describe: () => cluster.running!.source.status().problems[0]!.message,
  });
  assert.equal(cluster.running!.logs.filter((l) => (l.problem as { reason?: string } | undefined)?.reason === 'ambiguous-port').length, 1);
});

test('a Service of hundreds of slices without the port is one no-port problem, on the Service: the pod and node problems stay listed', async () => {
  // 300 slices list pods without the cache port (a Service that lost it, a portName typo), 2
  // slices have it; two of their pods have a bad weight annotation and sit on a node keyway does not know.
  const name = (i: number): string => `cache-node-${String(i).padStart(3, '0')}`;
  for (let i = 0; i < 302; i++) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    const good = i < 2;
    cluster.server!.upsert(podObject(name(i), { node: good ? 'gpu-gone' : 'gpu-1', ip, ...(good ? { annotations: { 'keyway.io/weight': 'lots' } } : {}) }));
    const ports = good ? [{ name: 'cache', port: 8080 }] : i === 2 ? [{ name: 'cache' }] : [{ name: 'http', port: 80 }];
    cluster.server!.upsert(sliceObject(`${name(i)}-slice`, [{ pod: name(i), ip, node: good ? 'gpu-gone' : 'gpu-1' }], { ports }));
  }
  cluster.running = await startSource(cluster.server!);
  assert.deepEqual(cluster.running!.source.current().map((e) => e.id), [name(0), name(1)], 'the endpoints of the slices without the port are left out');
  const status = cluster.running!.source.status();
  assert.deepEqual(problems(), [
    'no-port cache-node',
    'node-not-found gpu-gone',
    'bad-weight-annotation cache-node-000 lots',
    'bad-weight-annotation cache-node-001 lots',
  ]);
  assert.equal(status.problemsTotal, undefined, 'every problem is listed');
  const noPort = status.problems[0]!;
  assert.deepEqual([noPort.kind, noPort.namespace, noPort.name, noPort.field], ['Service', NS, 'cache-node', 'ports']);
  assert.equal(
    noPort.message,
    'kubernetes.portName is cache, and 300 of the 302 slices of Service cache-node have no usable port: no port named cache (299 slices: cache-node-003-slice, cache-node-004-slice, cache-node-005-slice and 296 more); ' +
      'port cache has no number (1 slice: cache-node-002-slice); their 300 endpoints are left out',
  );
  // Logged once, naming the Service as a Service.
  const logged = cluster.running!.logs.filter((l) => (l.problem as { reason?: string } | undefined)?.reason === 'no-port');
  assert.deepEqual(logged.map((l) => String(l.msg).split(':')[0]), [`Service ${NS}/cache-node`]);
  // Slices get the port one by one: the same problem (its key holds), its counts updated, not logged again.
  for (let i = 3; i < 103; i++) {
    const ip = `10.1.${i >> 8}.${i & 255}`;
    cluster.server!.upsert(sliceObject(`${name(i)}-slice`, [{ pod: name(i), ip, node: 'gpu-1' }]));
  }
  await eventually('the counts follow', () => /200 of the 302 slices/.test(cluster.running!.source.status().problems[0]!.message), {
    describe: () => cluster.running!.source.status().problems[0]!.message,
  });
  assert.equal(cluster.running!.source.current().length, 102);
  assert.equal(cluster.running!.logs.filter((l) => (l.problem as { reason?: string } | undefined)?.reason === 'no-port').length, 1);
});

test('without portName, a slice that lists pods but has no ports is reported on its Service, with its count', () => {
  const pods = [0, 1].map((i) => podObject(`cache-node-${i}`, { node: 'gpu-1', ip: `10.0.0.${10 + i}` }) as unknown as V1Pod);
  const slices = [
    sliceObject('cache-node-a', [member(0)], { ports: [] }),
    sliceObject('cache-node-b', [member(1)]),
  ] as unknown as V1EndpointSlice[];
  const r = discoverEndpoints({ slices, pods, nodes: [nodeObject('gpu-1') as unknown as V1Node] }, testConfig({ portName: null }));
  assert.deepEqual(r.endpoints.map((e) => e.id), ['cache-node-1']);
  assert.deepEqual(r.problems.map((p) => [p.reason, p.kind, p.name, p.message]), [
    ['no-port', 'Service', 'cache-node', 'kubernetes.portName is not set, so each slice\'s first port is used, and 1 of the 2 slices of Service cache-node has no usable port: no ports (1 slice: cache-node-a); its 1 endpoint is left out'],
  ]);
});
