/**
 * How many requests can a proxy have in flight to keyway's cluster before Envoy refuses them?
 * Real Envoy, one slow stand-in node (every answer after `--delay-ms`), `--requests` sent at once
 * over as many connections. Envoy's default circuit breakers allow 1024 connections, 1024 pending
 * and 1024 active requests per cluster, and the subset shape puts the whole fleet in one cluster;
 * past them Envoy answers 503 (`upstream_rq_pending_overflow`). `--limits envoy` leaves Envoy's
 * defaults; `--limits keyway` (the default) sets the circuit breakers keyway's translator writes
 * (src/xds/translator/envoy-failover.ts).
 *
 *   node --import tsx benchmarks/dataplane-cost/concurrency-check.ts [--requests 3000] [--delay-ms 500] [--limits keyway|envoy]
 *
 * Prints the answers by status and Envoy's overflow counters; exits 1 when any request failed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { toJson } from '@bufbuild/protobuf';
import { startEnvoy } from '../../e2e/support/envoy.js';
import { freePort } from '../../e2e/support/ports.js';
import { CircuitBreakersSchema } from '../../src/xds/proto.js';
import { clusterCircuitBreakers } from '../../src/xds/translator/envoy-failover.js';
import { cacheListener } from '../hitrate/routing.js';

const { values } = parseArgs({ options: { requests: { type: 'string' }, 'delay-ms': { type: 'string' }, limits: { type: 'string' } } });
const requests = Number(values.requests ?? 3000);
const delayMs = Number(values['delay-ms'] ?? 500);
const limits = values.limits ?? 'keyway';
if (limits !== 'keyway' && limits !== 'envoy') throw new Error(`--limits must be keyway or envoy, got ${limits}`);

const node = http.createServer((_req, res) => {
  setTimeout(() => res.writeHead(200, { 'x-served-by': 'slow' }).end('ok'), delayMs);
});
node.keepAliveTimeout = 60_000;
await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
const nodePort = (node.address() as AddressInfo).port;
const port = await freePort();
const envoy = await startEnvoy({
  bootstrap: {
    node: { id: 'concurrency-check', cluster: 'check' },
    static_resources: {
      clusters: [
        {
          name: 'cache',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'cache', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: nodePort } } } }] }] },
          ...(limits === 'keyway' ? { circuit_breakers: toJson(CircuitBreakersSchema, clusterCircuitBreakers()) } : {}),
        },
      ],
      listeners: [cacheListener(port, { route_config: { name: 'cache', virtual_hosts: [{ name: 'cache', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'cache', timeout: '60s' } }] }] } })],
    },
  },
});
const agent = new http.Agent({ keepAlive: true, maxSockets: requests });
const byStatus = new Map<string, number>();
try {
  await Promise.all(
    Array.from(
      { length: requests },
      (_, i) =>
        new Promise<void>((resolve) => {
          const req = http.request({ host: '127.0.0.1', port, path: `/k${i}`, agent }, (res) => {
            res.resume();
            res.on('end', () => {
              byStatus.set(String(res.statusCode), (byStatus.get(String(res.statusCode)) ?? 0) + 1);
              resolve();
            });
          });
          req.on('error', (err) => {
            byStatus.set(err.message, (byStatus.get(err.message) ?? 0) + 1);
            resolve();
          });
          req.end();
        }),
    ),
  );
  const stats: Record<string, number | undefined> = {};
  for (const name of ['upstream_rq_pending_overflow', 'upstream_cx_overflow', 'upstream_rq_total']) stats[name] = await envoy.statValue(`cluster.cache.${name}`);
  process.stdout.write(`${JSON.stringify({ limits, requests, delayMs, answers: Object.fromEntries(byStatus), stats })}\n`);
} finally {
  agent.destroy();
  await envoy.stop();
  node.close();
  node.closeAllConnections();
}
if ((byStatus.get('200') ?? 0) !== requests) process.exit(1);
