/**
 * A picker config the policy refuses must leave a real grpc-js-xds client on its last good config:
 * grpc-js-xds validates the cluster's policy with the policy's own reader, NACKs the cluster when
 * it throws, and keeps the cluster it had. keyway's xDS server (in process) serves a hand-made
 * picker cluster; the client, in a process of its own, is the integration tests' picker probe.
 * Each refused config moves shard 0 elsewhere, so a reader that took it would route the call there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { computeShardMap } from '../../src/sharding/index.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import type { Endpoint } from '../../src/core/endpoint.js';
import type { ShardingPolicy } from '../../src/core/policy.js';
import { encodeOwners, SHARD_PICKER_TYPE_URL } from '../../src/core/shard-picker.js';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../src/xds/translator/index.js';
import { TypedStructSchema, type Cluster } from '../../src/xds/proto.js';
import type { ResourceSet } from '../../src/xds/resources.js';
import { withShardPicker } from '../../src/grpc/index.js';
import { startWhoServer } from '../support/grpc-who.js';
import { eventually } from '../support/eventually.js';
import { startProbeProcess } from '../integration/support/probe-process.js';

const policy: ShardingPolicy = { shardCount: 2, replicas: 1, spread: 'none' };

test('grpc-js-xds NACKs a picker config the policy refuses and keeps routing by the last good one', async (t) => {
  const a = await startWhoServer('a');
  const b = await startWhoServer('b');
  t.after(() => [a, b].forEach((s) => s.server.forceShutdown()));
  const endpoints: Endpoint[] = [a, b].map((s, i) => ({
    id: `node-${i}`,
    address: '127.0.0.1',
    port: s.port,
    locality: { region: 'r', zone: 'z', subzone: `nvl-${i}` },
    weight: 1,
    ready: true,
  }));
  const input = { topology: { policy, endpoints, xds: DEFAULT_XDS_SETTINGS }, shardMap: computeShardMap(endpoints, policy) };
  const addresses = [a, b].map((s) => `127.0.0.1:${s.port}`);
  const aAt = addresses.slice().sort().indexOf(addresses[0]!);
  const sorted = addresses.slice().sort();
  const good = (shard0: number, shard1: number): Record<string, unknown> => ({
    shardCount: 2,
    shardHeader: 'x-cache-shard',
    keyHeader: '',
    missingHeader: 'reject',
    endpoints: sorted,
    owners: encodeOwners([[shard0], [shard1]], 1),
  });
  // Shard 0 on a, shard 1 on b; each refused config below sends shard 0 to b.
  let value = good(aAt, 1 - aAt);
  const build = (cls: Parameters<typeof translate>[1]): ResourceSet => {
    const set = translate(input, cls);
    if (cls.flavor !== 'grpc') return set;
    const cluster = set.cluster.map((r) => ({ ...r, message: withPolicyValue(r.message as Cluster, value) }));
    return { ...set, cluster };
  };
  const cache = new SnapshotCache({ build, checkConsistency, servedClass: effectiveProxyClass });
  const server = await startXdsServer({ cache, port: 0, host: '127.0.0.1' });
  t.after(() => server.close());

  const xdsServers = [{ server_uri: `127.0.0.1:${server.port}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }];
  const probe = startProbeProcess(new URL('../integration/support/grpc-picker-probe.ts', import.meta.url), 'xds:///keyway-cache', withShardPicker({ xds_servers: xdsServers, node: { id: 'picker-last-good' } }));
  t.after(() => probe.close());
  const who = (shard: number): Promise<string> => probe.ask({ shard: String(shard) }).catch((e: Error) => e.message);

  await eventually('shard 0 on a', () => who(0), { accept: (v) => v === 'a', timeoutMs: 20_000, intervalMs: 50 });
  assert.equal(await who(1), 'b');

  const refused: [string, Record<string, unknown>, RegExp][] = [
    ['version 2', { ...good(1 - aAt, aAt), version: 2 }, /version/],
    ['shardCount past the limit', { ...good(1 - aAt, aAt), shardCount: 2 ** 20 + 1, owners: '' }, /shardCount/],
    ['one socket listed twice', { ...good(2, 1), endpoints: [sorted[1 - aAt]!, sorted[aAt]!, sorted[1 - aAt]!] }, /endpoints\[2\]/],
    ['owners not standard base64', { ...good(1 - aAt, aAt), owners: encodeOwners([[1 - aAt], [aAt]], 1).replace(/=+$/, '') }, /owners/],
  ];
  for (const [name, bad, field] of refused) {
    value = bad;
    cache.rebuild(build);
    await eventually(`${name}: NACKed`, () => server.proxy('picker-last-good')?.types.cluster?.lastNack?.message ?? '', { accept: (m) => field.test(m), timeoutMs: 10_000 });
    for (let i = 0; i < 3; i++) assert.equal(await who(0), 'a', `${name}: shard 0 stays on a`);
  }

  // A good config after the refused ones is taken: the client still follows keyway.
  value = good(1 - aAt, aAt);
  cache.rebuild(build);
  await eventually('shard 0 on b', () => who(0), { accept: (v) => v === 'b', timeoutMs: 10_000, intervalMs: 50 });
  assert.equal(await who(1), 'a');
});

/** `cluster` with its first policy's TypedStruct value replaced by `value`. */
function withPolicyValue(cluster: Cluster, value: Record<string, unknown>): Cluster {
  const policies = cluster.loadBalancingPolicy!.policies;
  const first = policies[0]!;
  const typedConfig = anyPack(TypedStructSchema, create(TypedStructSchema, { typeUrl: SHARD_PICKER_TYPE_URL, value: value as never }));
  return { ...cluster, loadBalancingPolicy: { ...cluster.loadBalancingPolicy!, policies: [{ ...first, typedExtensionConfig: { ...first.typedExtensionConfig!, typedConfig } }, ...policies.slice(1)] } };
}
