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
import { discoverEndpoints, MAX_LISTED_FIRST_PORTS } from '../../../src/sources/kubernetes/endpoints.js';
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
  await eventually('the slice without the port reported', () => problems().join() === 'no-port cache-node-b', { describe: problems });
});

test('without portName, slices of one Service that start with different ports are reported: some pods would get another port than the rest', async () => {
  // Service ports [grpc, cache], both by target port name. cache-node-0 predates the grpc
  // container port: the controller lists it in a slice of the cache port alone.
  cluster.server!.upsert(sliceObject('cache-node-old', [member(0)], { ports: [{ name: 'cache', port: 8080 }] }));
  cluster.server!.upsert(sliceObject('cache-node-new', [member(1)], { ports: [{ name: 'grpc', port: 9090 }, { name: 'cache', port: 8080 }] }));
  cluster.running = await startSource(cluster.server!, { portName: null });
  // The documented default, each slice's first port: the pods disagree.
  assert.deepEqual(cluster.running!.source.current().map((e) => `${e.id}:${e.port}`), ['cache-node-0:8080', 'cache-node-1:9090']);
  assert.deepEqual(problems(), ['ambiguous-port cache-node-new grpc', 'ambiguous-port cache-node-old cache']);
  const message = cluster.running!.source.status().problems[0]!.message;
  assert.match(message, /portName/);
  assert.match(message, /start with different ports: cache \(1 slice\), grpc \(1 slice\); the pods of this slice get port grpc/);
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

test('an ambiguous-port message lists at most MAX_LISTED_FIRST_PORTS first ports, then counts the rest', () => {
  const n = MAX_LISTED_FIRST_PORTS + 2;
  const pods = Array.from({ length: n }, (_, i) => podObject(`cache-node-${i}`, { node: 'gpu-1', ip: `10.0.1.${i}` }) as unknown as V1Pod);
  const slices = Array.from(
    { length: n },
    (_, i) => sliceObject(`cache-node-s${i}`, [{ pod: `cache-node-${i}`, ip: `10.0.1.${i}`, node: 'gpu-1' }], { ports: [{ name: `p${i}`, port: 9000 + i }] }) as unknown as V1EndpointSlice,
  );
  const r = discoverEndpoints({ slices, pods, nodes: [nodeObject('gpu-1') as unknown as V1Node] }, testConfig({ portName: null }));
  assert.equal(r.endpoints.length, n, 'the endpoints are kept');
  assert.equal(r.problems.length, n);
  assert.ok(r.problems.every((p) => p.reason === 'ambiguous-port'));
  assert.match(r.problems[0]!.message, /start with different ports: p0 \(1 slice\), p1 \(1 slice\), p2 \(1 slice\), p3 \(1 slice\), p4 \(1 slice\) and 2 more;/);
});
