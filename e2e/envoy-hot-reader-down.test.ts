/**
 * A hot shard's reader down, on real Envoy, with keyway's own ClusterLoadAssignment (the subset
 * shape's EDS, from `envoyLoadAssignment`, written to a file Envoy watches): shard 0 is read by A
 * and B at priority 0, and C owns it at priority 1 without reading it. With B down, every request
 * for shard 0 must stay on A, as the gRPC pickers and keyway/client keep them on the healthy
 * readers. With Envoy's default overprovisioning factor (140) the level kept only 1.4 x its healthy
 * half: 30 % of the shard's requests went to C, a cold cache. The same file, without keyway's
 * factor, shows that spill, so the test shows what the factor is for.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema } from '../src/xds/proto.js';
import { envoyLoadAssignment } from '../src/xds/translator/envoy-endpoints.js';
import type { EnvoyHost } from '../src/xds/translator/envoy-placement.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { freePort } from './support/ports.js';
import { staticShardBootstrap, writeEdsFile } from './support/shard-config.js';
import { servedBy } from './support/traffic.js';
import { eventually } from '../test/support/eventually.js';

const skip = envoySkipReason();
const ALIAS = '::ffff:127.0.0.1';

let nodes: CacheNodes;
let envoy: EnvoyProcess;
let dir: string;
let edsFile: string;
let listener: string;

/** Shard 0: readers A and B at priority 0, C at priority 1. Shard 1: C at priority 0, A and B at priority 1 (their aliases). */
function hosts(): EnvoyHost[] {
  const host = (id: string, priority: 0 | 1, shards: number[]): EnvoyHost => ({
    endpoint: { id, address: '127.0.0.1', port: nodes.byId(id).port, weight: 1, ready: true, locality: { region: '', zone: '', subzone: '' } },
    priority,
    address: priority === 0 ? '127.0.0.1' : ALIAS,
    ipv4Compat: priority === 1,
    shards,
    healthChecked: priority === 0,
  });
  return [host('A', 0, [0]), host('B', 0, [0]), host('C', 0, [1]), host('A', 1, [1]), host('B', 1, [1]), host('C', 1, [0])];
}

/** keyway's assignment as Envoy reads it from a file (proto field names), with or without its policy. */
function assignment(withPolicy: boolean): Record<string, unknown> {
  const json = toJson(ClusterLoadAssignmentSchema, envoyLoadAssignment('cache', hosts()), { useProtoFieldName: true }) as Record<string, unknown>;
  if (!withPolicy) delete json.policy;
  return { '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', ...json };
}

before(async () => {
  if (skip) return;
  nodes = await startCacheNodes(['A', 'B', 'C']);
  dir = mkdtempSync(path.join(tmpdir(), 'keyway-eds-'));
  edsFile = path.join(dir, 'cache.json');
  writeEdsFile(edsFile, 'v0', assignment(true));
  const port = await freePort();
  listener = `http://127.0.0.1:${port}`;
  envoy = await startEnvoy({ bootstrap: staticShardBootstrap({ listenerPort: port, endpoints: { edsFile } }) });
  await eventually('six healthy hosts in cluster cache', () => envoy.clusters('cache'), { accept: (h) => h.length === 6 && h.every((x) => x.healthy), timeoutMs: 20_000 });
});

after(async () => {
  await envoy?.stop();
  await nodes?.stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a hot shard whose reader is down stays on its other reader, not its non-reading owner', { skip, timeout: 90_000 }, async () => {
  const up = await servedBy(listener, 0, 200);
  assert.ok((up.get('A') ?? 0) > 0 && (up.get('B') ?? 0) > 0, `both readers serve shard 0: ${JSON.stringify([...up])}`);
  assert.equal(up.get('C') ?? 0, 0, 'C owns shard 0 without reading it');

  await nodes.byId('B').stop();
  await eventually('B failed its health check', () => envoy.clusters('cache'), { accept: (h) => h.some((x) => !x.healthy), timeoutMs: 20_000 });
  const down = await servedBy(listener, 0, 300);
  assert.deepEqual([...down], [['A', 300]], 'every request for shard 0 on its healthy reader');

  // Envoy's default factor, for contrast: part of the shard goes to C.
  const stat = 'cluster.cache.update_success';
  const before = (await envoy.statValue(stat)) ?? 0;
  writeEdsFile(edsFile, 'v1', assignment(false));
  await envoy.waitForStat(stat, (v) => (v ?? 0) > before, { timeoutMs: 10_000 });
  const spilled = await servedBy(listener, 0, 300);
  assert.ok((spilled.get('C') ?? 0) > 0, `without keyway's factor Envoy sends part of shard 0 to C: ${JSON.stringify([...spilled])}`);
});
