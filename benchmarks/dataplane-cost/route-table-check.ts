/**
 * Does the route-table shape (docs/benchmarks.md "A route table instead of the subset load
 * balancer") keep keyway's failover and a hot shard's spread? Checked with a real Envoy and three
 * stand-in nodes (e2e/support/cache-nodes.ts), no keyway:
 * - one cluster per node (keyway's health check and outlier detection), aggregate clusters over
 *   them in owner order, a matcher tree on `x-cache-shard`: shard 1 -> owners (a, b); shard 2, a hot
 *   shard read by a and b with c behind, -> `weighted_clusters` over (a, b, c) and (b, a, c);
 * - keyway's retry policy on the virtual host (connect-failure,refused-stream,reset; 2 retries;
 *   `previous_priorities`).
 * Steps: all up (shard 1 on a only, shard 2 split between a and b); a stopped, before its health
 * check notices (every request must still answer 200: the retry); a marked failed (no retries
 * needed); a back (shard 1 on a again). Prints what it saw and exits 1 on a failed check.
 *
 *   node --import tsx benchmarks/dataplane-cost/route-table-check.ts
 */
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCacheNodes } from '../../e2e/support/cache-nodes.js';
import { startEnvoy } from '../../e2e/support/envoy.js';
import { freePort } from '../../e2e/support/ports.js';
import { keywayRetryPolicy, shardTableListener } from './shard-table.js';

type Json = Record<string, unknown>;

const nodes = await startCacheNodes(['a', 'b', 'c']);
const port = await freePort();
const nodeCluster = (id: string): Json => ({
  name: `node-${id}`,
  type: 'STATIC',
  connect_timeout: '1s',
  load_assignment: { cluster_name: `node-${id}`, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: nodes.byId(id).port } } } }] }] },
  // keyway's checking (src/xds/translator/envoy-failover.ts), with a shorter interval for the check.
  health_checks: [{ timeout: '1s', interval: '0.5s', unhealthy_threshold: 3, healthy_threshold: 1, http_health_check: { path: '/healthz' } }],
  outlier_detection: { consecutive_5xx: 3, interval: '0.5s', base_ejection_time: '5s', max_ejection_percent: 100 },
  ignore_health_on_host_removal: true,
});
const owners = (ids: string[]): Json => ({
  name: `owners-${ids.join('-')}`,
  connect_timeout: '1s',
  lb_policy: 'CLUSTER_PROVIDED',
  cluster_type: { name: 'envoy.clusters.aggregate', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.clusters.aggregate.v3.ClusterConfig', clusters: ids.map((id) => `node-${id}`) } },
});
const bootstrap = {
  node: { id: 'route-table-check', cluster: 'check' },
  static_resources: {
    clusters: [...['a', 'b', 'c'].map(nodeCluster), owners(['a', 'b']), owners(['a', 'b', 'c']), owners(['b', 'a', 'c'])],
    listeners: [
      shardTableListener(
        port,
        { '1': { cluster: 'owners-a-b' }, '2': { weighted_clusters: { clusters: [{ name: 'owners-a-b-c', weight: 1 }, { name: 'owners-b-a-c', weight: 1 }] } } },
        keywayRetryPolicy(),
      ),
    ],
  },
};

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
/** `n` requests for `shard`; who answered 200, and how many did not. */
async function send(shard: string, n: number): Promise<{ by: Record<string, number>; failed: number }> {
  const by: Record<string, number> = {};
  let failed = 0;
  for (let i = 0; i < n; i++) {
    const who = await new Promise<string | undefined>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: `/k${i}`, agent, headers: { 'x-cache-shard': shard } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-served-by']) : undefined));
      });
      req.on('error', () => resolve(undefined));
      req.end();
    });
    if (who === undefined) failed++;
    else by[who] = (by[who] ?? 0) + 1;
  }
  return { by, failed };
}

const failures: string[] = [];
const check = (what: string, ok: boolean, seen: unknown): void => {
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${JSON.stringify(seen)}\n`);
  if (!ok) failures.push(what);
};

const envoy = await startEnvoy({ bootstrap });
try {
  const healthy = async (id: string, want: boolean): Promise<void> => {
    for (let i = 0; i < 100; i++) {
      const hosts = await envoy.clusters(`node-${id}`);
      if (hosts.length === 1 && hosts[0]!.healthy === want) return;
      await sleep(100);
    }
    throw new Error(`node-${id} did not become ${want ? 'healthy' : 'unhealthy'} in Envoy within 10 s`);
  };
  for (const id of ['a', 'b', 'c']) await healthy(id, true);
  const retries = async (): Promise<number> =>
    ((await envoy.statValue('cluster.owners-a-b.upstream_rq_retry')) ?? 0) + ((await envoy.statValue('cluster.node-a.upstream_rq_retry')) ?? 0);

  let r = await send('1', 100);
  check('all up: shard 1 reaches its primary a only', r.failed === 0 && r.by.a === 100, r);
  r = await send('2', 200);
  check('all up: hot shard 2 is spread over its readers a and b (each 30 to 70 %), never c', r.failed === 0 && (r.by.a ?? 0) >= 60 && (r.by.b ?? 0) >= 60 && !r.by.c, r);

  await nodes.byId('a').stop();
  const retriesBefore = await retries();
  r = await send('1', 100);
  const retried = (await retries()) - retriesBefore;
  check('a stopped, its health check not failed yet: shard 1 answers 200 from b, retried after a refused connection', r.failed === 0 && r.by.b === 100 && retried > 0, { ...r, retries: retried });
  r = await send('2', 100);
  check('a stopped: hot shard 2 answers 200 from b (or c)', r.failed === 0 && !r.by.a, r);

  await healthy('a', false);
  const before = await retries();
  r = await send('1', 100);
  const after = await retries();
  check('a marked failed: shard 1 from b, no retry needed', r.failed === 0 && r.by.b === 100 && after === before, { ...r, retries: after - before });

  await nodes.byId('a').start();
  await healthy('a', true);
  // Outlier detection ejected a for 5 s after the connect failures; wait for it to come back.
  let back = await send('1', 20);
  for (let i = 0; i < 80 && back.by.a !== 20; i++) {
    await sleep(250);
    back = await send('1', 20);
  }
  check('a back: shard 1 on a again', back.failed === 0 && back.by.a === 20, back);
} finally {
  agent.destroy();
  await envoy.stop();
  await nodes.stopAll();
}
if (failures.length > 0) {
  process.stdout.write(`${failures.length} check(s) failed\n`);
  process.exit(1);
}
process.stdout.write('every check passed\n');
