/**
 * A proxy's connection cut under keyway's feet: reset (RST), or silent (the peer vanished: no FIN,
 * no RST, as when a node loses power or a NAT drops the flow). The proxy gauges come back to 0:
 * at once for the reset, after the keepalive (here shortened) for the silent cut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { SnapshotCache } from '../../src/xds/cache/index.js';
import { startXdsServer } from '../../src/xds/server/xds-server.js';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { eventually } from '../support/eventually.js';
import { miniSet } from '../support/xds-client/resources.js';
import { parseExposition } from './support/exposition.js';

/** A TCP relay to `port`: `cut('reset')` resets keyway's side, `cut('silent')` stops forwarding and closes nothing. */
async function relay(t: { after(fn: () => unknown): void }, port: number): Promise<{ port: number; cut(how: 'reset' | 'silent'): void }> {
  const pairs: [Socket, Socket][] = [];
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => {});
    upstream.on('error', () => {});
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    cut(how) {
      for (const [client, upstream] of pairs) {
        if (how === 'reset') {
          upstream.resetAndDestroy();
          client.resetAndDestroy();
          continue;
        }
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
  };
}

for (const how of ['reset', 'silent'] as const) {
  test(`a connection cut (${how}) leaves no proxy counted`, { timeout: 20_000 }, async (t) => {
    const cache = new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001] } }), checkConsistency: () => [] });
    const s = await startXdsServer({ cache, port: 0, host: '127.0.0.1', grpcOptions: { 'grpc.keepalive_time_ms': 300, 'grpc.keepalive_timeout_ms': 300 } });
    const metrics = createKeywayMetrics();
    metrics.observeProxies(() => s.statuses());
    const r = await relay(t, s.port);
    const clients = Array.from({ length: 5 }, (_, i) => new XdsTestClient({ port: r.port, node: { id: `cut-${i}` } }));
    t.after(async () => {
      clients.forEach((c) => c.close());
      await s.close();
      await metrics.shutdown();
    });
    for (const c of clients) c.request('cluster');
    for (const c of clients) {
      await c.expect('cluster');
      c.ack('cluster');
    }
    await eventually('5 proxies counted', async () => parseExposition(await metrics.render()).value(N.proxiesConnected, { flavor: 'envoy' }) === 5);
    r.cut(how);
    const exp = await eventually('the cut proxies gone', async () => {
      const e = parseExposition(await metrics.render());
      return e.value(N.proxiesConnected, { flavor: 'envoy' }) === 0 ? e : undefined;
    }, { timeoutMs: 10_000 });
    for (const sample of exp.find(N.proxySyncStatus)) assert.equal(sample.value, 0, JSON.stringify(sample.labels));
  });
}
