// `keyway serve` with the Kubernetes source, end to end through the real CLI: pod and node events
// on the in-process API server (real list/watch protocol) change what GET /v1/shardmap serves, and
// an API server outage keeps the last endpoints while flagging them stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from '../sources/kubernetes/harness.js';
import { NS, SERVICE } from '../sources/kubernetes/fixtures.js';
import { tempTopology } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import type { ShardMapBody } from '../support/rest-bodies.js';
import { CLI } from '../cli/support.js';


test('pod and node events reach /v1/shardmap; an API outage keeps the map and marks it stale', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('n1', { region: 'r', zone: 'za', clique: 'nvl-1' });
  cluster.node('n2', { region: 'r', zone: 'zb', clique: 'nvl-2' });
  cluster.addPod('cache-0', { node: 'n1', ip: '10.0.0.10', annotations: { 'keyway.io/weight': '40' } });
  cluster.addPod('cache-1', { node: 'n2', ip: '10.0.0.11', annotations: { 'keyway.io/weight': '40' } });

  const dir = await tempTopology(
    [
      'shards: 256',
      'replicas: 2',
      'spread: subzone',
      'kubernetes:',
      `  namespace: ${NS}`,
      `  services: [${SERVICE}]`,
      '  portName: cache',
      '  holdOffMs: 30',
      '  maxDelayMs: 300',
      '',
    ].join('\n'),
  );
  t.after(() => dir.cleanup());
  const kubeconfig = join(dir.dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: test, cluster: {server: "${cluster.server.url}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: anonymous, user: {}}]',
      'contexts: [{name: test, context: {cluster: test, user: anonymous}}]',
      'current-context: test',
      '',
    ].join('\n'),
  );

  const child = spawn(
    process.execPath,
    [...CLI, 'serve', '--config', dir.file, '--http-port', '0', '--xds-port', '0', '--host', '127.0.0.1'],
    { env: { ...process.env, KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`keyway did not listen within 60 s; stderr: ${stderr}`)), 60_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; httpPort?: number };
      if (rec.msg === 'listening') {
        clearTimeout(timer);
        resolve(rec.httpPort!);
      }
    });
    child.on('exit', (code) => reject(new Error(`keyway exited with ${code}; stderr: ${stderr}`)));
  });
  const shardMap = async (): Promise<ShardMapBody> =>
    (await (await fetch(`http://127.0.0.1:${port}/v1/shardmap`)).json()) as ShardMapBody;
  const ids = (m: ShardMapBody): string[] => m.endpoints.map((e) => e.id);

  const first = await shardMap();
  assert.deepEqual(ids(first), ['cache-0', 'cache-1']);
  assert.deepEqual(first.endpoints.map((e) => e.weight), [40, 40]);
  assert.ok(first.shards.every((s) => s.owners.length === 2), 'two pods in two fabrics own every shard twice');

  // Scale up: a third pod appears and takes shards.
  cluster.node('n3', { region: 'r', zone: 'za', clique: 'nvl-3' });
  cluster.addPod('cache-2', { node: 'n3', ip: '10.0.0.12', annotations: { 'keyway.io/weight': '80' } });
  const scaled = await eventually('cache-2 in the shard map', async () => {
    const m = await shardMap();
    return ids(m).includes('cache-2') ? m : undefined;
  }, { timeoutMs: 20_000 });
  assert.notEqual(scaled.version, first.version);
  assert.ok(scaled.endpoints.find((e) => e.id === 'cache-2')!.shardsOwned > 0);

  // A node moved into another NVLink fabric changes its pod's subzone.
  cluster.node('n2', { region: 'r', zone: 'zb', clique: 'nvl-9' });
  await eventually('cache-1 in fabric nvl-9', async () => {
    const m = await shardMap();
    return m.endpoints.find((e) => e.id === 'cache-1')?.locality.subzone === 'nvl-9';
  }, { timeoutMs: 20_000 });

  // The API server goes away: the last endpoints stay in force, flagged stale; back again: fresh.
  const before = await shardMap();
  cluster.server.goDown('refuse');
  const during = await eventually('stale flag while the API server is down', async () => {
    const m = await shardMap();
    return m.stale ? m : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(during.version, before.version, 'the map in force does not change during an outage');
  assert.deepEqual(ids(during), ['cache-0', 'cache-1', 'cache-2']);
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  const readyBody = (await ready.json()) as { stale?: boolean };
  assert.equal(readyBody.stale, true, "/readyz shows staleness");
  const k8s = during.sources.find((s) => s.kind === 'kubernetes');
  assert.ok(k8s?.staleSince, 'the shard map says since when the Kubernetes source is stale');
  cluster.server.comeUp();
  await eventually('fresh again after the API server is back', async () => !(await shardMap()).stale, { timeoutMs: 30_000 });
});
