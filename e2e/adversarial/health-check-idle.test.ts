/**
 * How often an idle proxy checks the cache nodes (docs/envoy-findings.md 2h): keyway's health check,
 * exactly as the translator writes it, on a cluster that never carries a request. A node not yet
 * healthy (start-up) is checked every 0.5 s, so it takes traffic within about 0.5 s of answering; a
 * healthy node every 2 s, as under traffic, not four times as often; a node that stops is still marked
 * failed within a few seconds.
 *
 * The node is a server in this process that counts its `/healthz` requests and answers 503 (not
 * ready), 200, or stops listening.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { toJson } from '@bufbuild/protobuf';
import { HealthCheckSchema } from '../../src/xds/proto.js';
import { HEALTH_CHECK_TIMING, healthChecks } from '../../src/xds/translator/index.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from '../support/envoy.js';
import { eventually } from '../../test/support/eventually.js';

const skip = envoySkipReason();

describe("an idle proxy's health checks", { skip }, () => {
  let server: http.Server;
  let port: number;
  let envoy: EnvoyProcess;
  let checks = 0;
  let status = 503;

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/healthz') checks++;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'starting');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const healthCheck = toJson(HealthCheckSchema, healthChecks('http1')[0]!);
    envoy = await startEnvoy({
      bootstrap: {
        static_resources: {
          clusters: [
            {
              name: 'keyway',
              type: 'STATIC',
              connect_timeout: '0.25s',
              load_assignment: { cluster_name: 'keyway', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
              health_checks: [healthCheck],
              common_lb_config: { update_merge_window: '0s' },
            },
          ],
        },
      },
    });
  });

  after(async () => {
    await envoy?.stop();
    server?.closeAllConnections();
    server?.close();
  });

  /** The checks the node answers over `ms`. */
  const checksOver = async (ms: number): Promise<number> => {
    const from = checks;
    await sleep(ms);
    return checks - from;
  };

  test('a node not yet healthy every 0.5 s, a healthy one every 2 s, a stopped one found', async () => {
    assert.equal(HEALTH_CHECK_TIMING.noTrafficIntervalMs, 500);
    assert.equal(HEALTH_CHECK_TIMING.noTrafficHealthyIntervalMs, HEALTH_CHECK_TIMING.intervalMs);
    await eventually('the first check', () => checks, { accept: (n) => n > 0, timeoutMs: 10_000 });
    // Not ready (503): every 0.5 s, 6 in 3 s.
    const starting = await checksOver(3_000);
    assert.ok(starting >= 4 && starting <= 8, `a node not yet healthy: ${starting} checks in 3 s, expected about 6 (every 0.5 s)`);

    status = 200;
    const ready = performance.now();
    await eventually('the node healthy', () => envoy.clusters('keyway'), { accept: (hosts) => hosts.length === 1 && hosts[0]!.healthy, timeoutMs: 5_000, intervalMs: 50 });
    const tookMs = performance.now() - ready;
    assert.ok(tookMs < 1_500, `healthy ${Math.round(tookMs)} ms after it first answered 200, expected within about 0.5 s`);

    // Healthy, still no traffic: every 2 s (at the no-traffic 0.5 s it was 12 in 6 s).
    const healthy = await checksOver(6_000);
    assert.ok(healthy >= 2 && healthy <= 4, `a healthy node on an idle cluster: ${healthy} checks in 6 s, expected about 3 (every 2 s)`);

    // Stopped (the port refuses): marked failed after three failed checks.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const stopped = performance.now();
    await eventually('the stopped node marked failed', () => envoy.clusters('keyway'), {
      accept: (hosts) => hosts[0]?.flags.includes('failed_active_health_check') === true,
      timeoutMs: 15_000,
      intervalMs: 50,
    });
    const foundMs = performance.now() - stopped;
    assert.ok(foundMs < 8_000, `a stopped node marked failed after ${Math.round(foundMs)} ms`);
    process.stdout.write(`# idle proxy: ${starting} checks in 3 s before ready, healthy ${Math.round(tookMs)} ms after, ${healthy} checks in 6 s once healthy, a stopped node failed after ${Math.round(foundMs)} ms\n`);
  });
});
