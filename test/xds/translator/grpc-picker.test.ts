// Properties of what a gRPC client carrying the shard picker gets (docs/xds.md "The shard picker"):
// classification from node.metadata, one route to one cluster, an owner table that decodes back to
// the shard map's owners, one class whatever the client's locality, O(1) resources changed by an
// ownership change, and acceptance by grpc-js-xds's own cluster validation (round robin fallback).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { toBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { TypedStructSchema, type Cluster, type ClusterLoadAssignment, type RouteConfiguration } from '../../../src/xds/proto.js';
import { classifyProxy, proxyClassKey, TYPE_URL, type ProxyClass, type ResourceSet } from '../../../src/xds/resources.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { decodeOwners, NO_OWNER, parseShardPickerConfig, type ShardPickerConfig } from '../../../src/core/shard-picker.js';
import { computedInput, endpoint, handInput, sixNodes } from './fixtures.js';

const PICKER: ProxyClass = { flavor: 'grpc', zone: '', subzone: '', picker: true };

function pickerConfig(set: ResourceSet): ShardPickerConfig {
  const cluster = set.cluster[0]!.message as Cluster;
  const policy = cluster.loadBalancingPolicy!.policies[0]!.typedExtensionConfig!;
  assert.equal(policy.name, 'keyway.shard_picker');
  const typed = anyUnpack(policy.typedConfig!, TypedStructSchema);
  assert.ok(typed, 'the policy config is a TypedStruct');
  assert.equal(typed.typeUrl, 'type.googleapis.com/keyway.shard_picker');
  return parseShardPickerConfig(typed.value);
}

test('node.metadata keyway.shard_picker=v1 makes a gRPC client a picker class; other values and flavors do not', () => {
  const meta = { 'keyway.shard_picker': 'v1' };
  assert.deepEqual(classifyProxy({ userAgentName: 'gRPC Node Pure JS', metadata: meta }), PICKER);
  assert.equal(proxyClassKey(classifyProxy({ userAgentName: 'gRPC Go', metadata: meta })), 'grpc|||picker');
  assert.equal(classifyProxy({ userAgentName: 'gRPC Go', metadata: { 'keyway.shard_picker': 'v2' } }).picker, undefined);
  assert.equal(classifyProxy({ userAgentName: 'gRPC Go' }).picker, undefined);
  assert.equal(classifyProxy({ userAgentName: 'envoy', metadata: meta }).picker, undefined);
  assert.equal(proxyClassKey({ flavor: 'grpc', zone: 'z', subzone: 's' }), 'grpc|z|s', 'stock keys are unchanged');
});

test('picker clients share one class whatever their locality', () => {
  const input = computedInput(sixNodes(), { shardCount: 16, replicas: 2, spread: 'zone' });
  const a = effectiveProxyClass({ ...PICKER, zone: 'za', subzone: 'nvl-a1' }, input);
  assert.deepEqual(a, PICKER);
  assert.deepEqual(effectiveProxyClass({ ...PICKER, zone: 'zb' }), PICKER);
});

test('one listener, one route (prefix "") to one cluster keyway-shards, its CLA lists every serving endpoint once', () => {
  const input = computedInput(sixNodes(), { shardCount: 64, replicas: 3, spread: 'zone' });
  const set = translate(input, PICKER);
  assert.deepEqual(checkConsistency(set), []);
  assert.deepEqual(set.cluster.map((r) => r.name), ['keyway-shards']);
  assert.deepEqual(set.endpoint.map((r) => r.name), ['keyway-shards']);
  const rc = set.route[0]!.message as RouteConfiguration;
  const routes = rc.virtualHosts.flatMap((v) => v.routes);
  assert.equal(routes.length, 1);
  assert.deepEqual(routes[0]!.match!.pathSpecifier, { case: 'prefix', value: '' });
  assert.deepEqual([rc.virtualHosts[0]!.retryPolicy?.retryOn, rc.virtualHosts[0]!.retryPolicy?.numRetries], ['cancelled,unavailable', 2], 'the failover retry');
  const cla = set.endpoint[0]!.message as ClusterLoadAssignment;
  const listed = cla.endpoints.flatMap((g) => {
    assert.equal(g.priority, 0);
    return g.lbEndpoints.map((l) => (l.hostIdentifier.case === 'endpoint' ? l.hostIdentifier.value.address!.address.case : ''));
  });
  assert.equal(listed.length, 6);
  const fallback = (set.cluster[0]!.message as Cluster).loadBalancingPolicy!.policies[1]!.typedExtensionConfig!;
  assert.equal(fallback.name, 'envoy.load_balancing_policies.round_robin');
});

test('the owner table decodes back to the shard map owners, primary first, 0xFFFF past a short tuple', () => {
  const eps = [endpoint('a', '10.0.0.3'), endpoint('b', '10.0.0.1'), endpoint('c', '10.0.0.2', { port: 9000 }), endpoint('v6', 'fd00::1')];
  const owners = [['a', 'b'], ['c', 'v6'], ['b'], [], ['v6', 'a']];
  const set = translate(handInput(eps, owners), PICKER);
  const config = pickerConfig(set);
  assert.deepEqual(config.endpoints, ['10.0.0.1:8080', '10.0.0.2:9000', '10.0.0.3:8080', '[fd00::1]:8080']);
  assert.equal(config.shardCount, 5);
  const { replicas, table } = decodeOwners(config);
  assert.equal(replicas, 2);
  const addressOf = new Map(eps.map((e) => [e.id, e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`]));
  owners.forEach((ids, s) => {
    for (let k = 0; k < replicas; k++) {
      const v: number = table[s * replicas + k]!;
      if (k >= ids.length) assert.equal(v, NO_OWNER, `shard ${s} rank ${k}`);
      else assert.equal(config.endpoints[v], addressOf.get(ids[k]!), `shard ${s} rank ${k}`);
    }
  });
});

test('config carries the key header and the missing-header policy', () => {
  const reject = pickerConfig(translate(computedInput(sixNodes(), { shardCount: 8, replicas: 2, spread: 'none' }, { missingHeader: 'reject' }), PICKER));
  assert.equal(reject.missingHeader, 'reject');
  assert.equal(reject.keyHeader, 'x-cache-key');
  assert.equal(reject.shardHeader, 'x-cache-shard');
});

test('an ownership change changes one resource (the cluster); a stock client gets many', () => {
  const eps = sixNodes();
  const policy = { shardCount: 1024, replicas: 2, spread: 'zone' as const };
  const before = computedInput(eps, policy);
  const after = computedInput(eps.map((e, i) => (i === 0 ? { ...e, weight: e.weight * 3 } : e)), policy);
  const changed = (cls: ProxyClass): number => {
    const a = translate(before, cls);
    const b = translate(after, cls);
    let n = 0;
    for (const kind of ['cluster', 'endpoint', 'listener', 'route'] as const) {
      const old = new Map(a[kind].map((r) => [r.name, toBinary(r.schema, r.message)]));
      for (const r of b[kind]) if (!Buffer.from(toBinary(r.schema, r.message)).equals(Buffer.from(old.get(r.name) ?? []))) n++;
    }
    return n;
  };
  const picker = changed(PICKER);
  // The CLA carries weights too, so a reweight changes at most the cluster and the CLA.
  assert.ok(picker >= 1 && picker <= 2, `picker: ${picker} resources changed`);
  assert.ok(changed({ flavor: 'grpc', zone: '', subzone: '' }) > 2, 'stock clients get per-tuple resources');
});

// grpc-js-xds's cluster validator: without keyway.shard_picker registered it must take round robin.
const require = createRequire(import.meta.url);
(require('@grpc/grpc-js-xds') as { register(): void }).register();
const { ClusterResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type.js');

test('grpc-js-xds accepts the picker cluster and falls back to round robin without the policy', () => {
  const set = translate(computedInput(sixNodes(), { shardCount: 32, replicas: 3, spread: 'zone' }), PICKER);
  const r = set.cluster[0]!;
  const decoded = ClusterResourceType.get().decode(
    { bootstrap: { certificateProviders: {} } },
    { type_url: TYPE_URL.cluster, value: Buffer.from(toBinary(r.schema, r.message)) },
  ) as { error?: string; value?: { lbPolicyConfig: object[] } };
  assert.equal(decoded.error, undefined);
  assert.deepEqual(decoded.value!.lbPolicyConfig, [{ round_robin: {} }]);
});
