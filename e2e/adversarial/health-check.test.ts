/**
 * Envoy's active health check must not mark a healthy but busy cache node failed (docs/envoy-findings.md 2f):
 * a node that starts under load, warms shards or collects garbage may leave its event loop busy for a
 * second or two, and answers its `/healthz` late. Marking it failed moves its shards to their replicas for
 * nothing.
 *
 * One real Envoy holds two STATIC clusters over the same node: `former`, with the timing keyway wrote
 * before (timeout 0.25 s, two failures), and `keyway`, with exactly what the translator writes now
 * (`healthChecks()`). The node, a child process, blocks its event loop for 2 s once: that is what a busy node
 * looks like from Envoy. The former timing marks it failed (a misfire: it never stopped), the current one
 * does not. A node that really stops is still found (the connection is refused at once): the failover tests
 * in e2e/envoy-xds.test.ts cover that with the same settings.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { toJson } from '@bufbuild/protobuf';
import { HealthCheckSchema } from '../../src/xds/proto.js';
import { healthChecks } from '../../src/xds/translator/index.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { terminate, track } from '../support/processes.js';
import { eventually } from '../../test/support/eventually.js';

const skip = envoySkipReason();
const STALL_MS = 2000;

/** The health check keyway's translator wrote before this finding. */
const FORMER = {
  timeout: '0.25s',
  interval: '0.5s',
  no_traffic_interval: '0.5s',
  unhealthy_threshold: 2,
  healthy_threshold: 1,
  http_health_check: { path: '/healthz' },
};

/** A node answering `/healthz`; `POST /stall?ms=N` answers, then blocks its event loop for N ms. */
const NODE = `
  const http = require('node:http');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://node');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    if (url.pathname === '/stall') {
      const ms = Number(url.searchParams.get('ms'));
      setTimeout(() => { const end = Date.now() + ms; while (Date.now() < end) {} }, 10);
    }
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;

function cluster(name: string, port: number, healthCheck: unknown): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '0.25s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    health_checks: [healthCheck],
    common_lb_config: { update_merge_window: '0s' },
  };
}

describe('a busy node answers its health check late', { skip }, () => {
  let node: ChildProcess;
  let port: number;
  let envoy: EnvoyProcess;

  before(async () => {
    node = spawn(process.execPath, ['-e', NODE], { stdio: ['ignore', 'pipe', 'inherit'] });
    track(node);
    const [line] = (await once(node.stdout!, 'data')) as [Buffer];
    port = Number(line.toString().trim());
    const current = toJson(HealthCheckSchema, healthChecks('http1')[0]!);
    envoy = await startEnvoy({ bootstrap: { static_resources: { clusters: [cluster('former', port, FORMER), cluster('keyway', port, current)] } } });
  });

  after(async () => {
    await envoy?.stop();
    if (node) await terminate(node);
  });

  test(`a ${STALL_MS} ms stall: the former timing marks the node failed, keyway's does not`, async () => {
    await eventually('the node healthy in both clusters', () => envoy.clusters(), { accept: (hosts) => hosts.length === 2 && hosts.every((h) => h.healthy), timeoutMs: 15_000 });
    const res = await fetch(`http://127.0.0.1:${port}/stall?ms=${STALL_MS}`, { method: 'POST' });
    assert.equal(res.status, 200);
    const failedIn = new Set<string>();
    const start = performance.now();
    // The stall, then the time the former timing needs to see the node healthy again.
    while (performance.now() - start < STALL_MS + 2500) {
      for (const h of await envoy.clusters()) if (h.flags.includes('failed_active_health_check')) failedIn.add(h.cluster);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(failedIn.has('former'), 'the former 0.25 s / 2 failures timing marks a busy node failed (the misfire this test guards against)');
    assert.ok(!failedIn.has('keyway'), `keyway's health check marked a node failed that only stalled ${STALL_MS} ms`);
    // It was a misfire: the node never stopped, and the former cluster takes it back.
    await eventually('the node healthy again in both clusters', () => envoy.clusters(), { accept: (hosts) => hosts.every((h) => h.healthy), timeoutMs: 10_000 });
  });
});
