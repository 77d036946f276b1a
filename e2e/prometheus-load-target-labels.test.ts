// The prometheus load snapshot source against a real Prometheus scraping replicas the way a
// Kubernetes scrape config does (docs/load-reports.md "source: prometheus"): each target carries
// `node` (the Kubernetes node of the pod), `pod` and `instance` labels, and one replica is scraped
// by a second job too. Prometheus renames the `node` label keyway exports to `exported_node`; the
// read must still give every cache node its own load (not one figure per Kubernetes node), once,
// at fleet scale (2000 nodes, S = 131072).
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusLoadSource } from '../src/sources/load/index.js';
import { windowStart } from '../src/core/load.js';
import { prometheusSkipReason, startRawPrometheus, type RawPrometheus } from './support/prometheus.js';
import { eventually } from '../test/support/eventually.js';

const skip = prometheusSkipReason();
const W = 2_000;
const LAG = 2_500;
const NODES = 2_000;
const S = 131_072;

/** The same figures every window, so the test does not depend on where scrapes fall in it. */
const nodeLoad = (n: number): number => (n % 900) + 1;
const hotShard = (i: number): number => (i * 509 + 17) % S;
const shardLoad = (i: number): number => 999 - i;

/** What one keyway replica exports on /metrics for the last closed window. */
function exposition(now: number): string {
  const lines = [
    '# TYPE keyway_load_window_start_seconds gauge',
    `keyway_load_window_start_seconds ${(windowStart(now, W) - W) / 1000}`,
    '# TYPE keyway_shardmap_shards gauge',
    `keyway_shardmap_shards ${S}`,
    '# TYPE keyway_load_node_requests_per_second gauge',
  ];
  for (let n = 0; n < NODES; n++) lines.push(`keyway_load_node_requests_per_second{node="gpu-${n}"} ${nodeLoad(n)}`);
  lines.push('# TYPE keyway_load_shard_requests_per_second gauge');
  for (let i = 0; i < 256; i++) lines.push(`keyway_load_shard_requests_per_second{shard="${hotShard(i)}"} ${shardLoad(i)}`);
  return `${lines.join('\n')}\n`;
}

/** How many series match `selector` now. */
async function prometheusCount(url: string, selector: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: `count(${selector})` })}`);
  const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
  return Number(body.data.result[0]?.value[1] ?? 0);
}

describe('load snapshots from a Prometheus whose targets carry a node label', { skip }, () => {
  let prometheus: RawPrometheus | undefined;
  const replicas: Server[] = [];

  before(async () => {
    for (let r = 0; r < 2; r++) {
      const server = createServer((_req, res) => res.end(exposition(Date.now())));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      replicas.push(server);
    }
    const [a, b] = replicas.map((s) => `127.0.0.1:${(s.address() as AddressInfo).port}`);
    prometheus = await startRawPrometheus({
      config: [
        'global: {scrape_interval: 1s, scrape_timeout: 800ms}',
        'scrape_configs:',
        '  - job_name: keyway',
        '    static_configs:',
        `      - {targets: ['${a}'], labels: {node: k8s-worker-a, pod: keyway-0}}`,
        `      - {targets: ['${b}'], labels: {node: k8s-worker-b, pod: keyway-1}}`,
        '  - job_name: keyway-again',
        '    static_configs:',
        `      - {targets: ['${a}']}`,
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await prometheus?.stop();
    for (const s of replicas) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  test('every cache node and hot shard is read under its own id, once', async () => {
    // Prometheus applies its targets a few seconds after it starts: wait for all three scrapes,
    // then for a whole window scraped and lagMs.
    await eventually('every target scraped', () => prometheusCount(prometheus!.url, 'keyway_load_window_start_seconds'), { accept: (n) => n === 3, timeoutMs: 20_000, intervalMs: 250 });
    await new Promise((r) => setTimeout(r, 2 * W + LAG + 200));
    const errors: string[] = [];
    const source = new PrometheusLoadSource({ url: prometheus!.url, lagMs: LAG, windowMs: () => W, shardCount: () => S, onError: (e) => errors.push(e.message) });
    after(() => source.close());
    const started = performance.now();
    const snaps = await source.latest(2);
    const ms = performance.now() - started;
    assert.deepEqual(errors, []);
    assert.ok(snaps.length >= 1, `read ${snaps.length} windows`);
    const expectedNodes = Array.from({ length: NODES }, (_, n) => ({ nodeId: `gpu-${n}`, requests: nodeLoad(n) })).sort((x, y) => (x.nodeId < y.nodeId ? -1 : 1));
    const expectedShards = Array.from({ length: 256 }, (_, i) => ({ shard: hotShard(i), requests: shardLoad(i) }));
    for (const snap of snaps) {
      const strange = snap.nodes.filter((n) => !n.nodeId.startsWith('gpu-')).map((n) => n.nodeId);
      assert.deepEqual(strange, [], 'no node named after a Kubernetes node');
      assert.deepEqual(snap.nodes, expectedNodes);
      assert.deepEqual(snap.shards, expectedShards);
    }
    console.log(`# read ${snaps.length} window(s) of ${NODES} nodes in ${ms.toFixed(0)} ms`);
  });
});
