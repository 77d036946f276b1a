/**
 * A primary that hangs with its port open (it accepts connections and never answers: a stopped
 * process behind a live socket, a wedged event loop), end to end: real Envoy over ADS from a real
 * `keyway serve`, in both route shapes. Before its health check fails it (about 6 s: three checks
 * 2 s apart, each timing out after 1 s), requests for its shards reach it. Envoy's retry policy
 * only retries a failed connection or a reset, so without a per-try timeout each such request
 * waited for Envoy's 15 s route timeout and failed 504; with keyway's per-try timeout
 * (PER_TRY_TIMEOUT_MS, envoy-failover.ts) it goes to the next priority as well and another owner
 * answers (docs/envoy-findings.md 2i). Checked in order:
 * (a) a hung primary's requests are answered by another owner within the per-try timeout and a bit;
 * (b) nodes that are only slow (every answer 6 s late, past the per-try timeout) still answer:
 *     the try is hedged, not cancelled (a cancelled try made each request 504 after 15 s);
 * (c) reloaded with `envoy.perTryTimeoutMs: 0`, slow nodes' requests reach one node each (no hedge).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { adsBootstrap } from './support/bootstrap.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { envoySkipReason, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { httpGetText, httpRequest } from './support/http.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePort } from './support/ports.js';
import { stopStack } from './support/teardown.js';
import { eventually } from '../test/support/eventually.js';
import type { ShardMapBody } from '../test/support/rest-bodies.js';
import { PER_TRY_TIMEOUT_MS } from '../src/xds/translator/envoy-failover.js';

const skip = envoySkipReason();
const SHARDS = 8;
const SERVICE = 'keyway-cache';
const NODE_IDS = ['node-0', 'node-1', 'node-2'];

interface Answer {
  readonly status: number;
  readonly servedBy: string | undefined;
  readonly ms: number;
}

async function send(listener: string, shard: number): Promise<Answer> {
  const t0 = Date.now();
  const res = await httpRequest(`${listener}/cache/k`, { headers: { 'x-cache-shard': String(shard) }, timeoutMs: 25_000 });
  const by = res.headers['x-served-by'];
  return { status: res.status, servedBy: Array.isArray(by) ? by[0] : by, ms: Date.now() - t0 };
}

for (const shape of ['subset', 'table'] as const) {
  describe(`a hung primary, routeShape ${shape}`, { skip }, () => {
    let nodes: CacheNodes;
    let keyway: KeywayProcess;
    let envoy: EnvoyProcess;
    let dir: string;
    let listener: string;
    let hung: net.Server | undefined;
    const held: net.Socket[] = [];
    let topologyPath: string;
    /** Writes the topology file, `envoy` holding `extra` besides the listener port and the shape. */
    let writeTopology: (extra?: string) => void;

    before(async () => {
      nodes = await startCacheNodes(NODE_IDS);
      dir = mkdtempSync(path.join(tmpdir(), 'keyway-hung-e2e-'));
      topologyPath = path.join(dir, 'topology.yaml');
      const listenerPort = await freePort();
      listener = `http://127.0.0.1:${listenerPort}`;
      writeTopology = (extra = '') => {
        const lines = [
          `shards: ${SHARDS}`,
          'replicas: 2',
          `service: ${SERVICE}`,
          `envoy: {listenerPort: ${listenerPort}, routeShape: ${shape}${extra}}`,
          'endpoints:',
          ...NODE_IDS.map((id) => `  - {id: ${id}, address: 127.0.0.1, port: ${nodes.byId(id).port}}`),
        ];
        writeFileSync(topologyPath, `${lines.join('\n')}\n`);
      };
      writeTopology();
      keyway = await startKeyway({ configPath: topologyPath, readyTimeoutMs: 45_000 });
      envoy = await startEnvoy({ bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: `envoy-hung-${shape}` }) });
    });

    after(async () => {
      for (const s of held) s.destroy();
      hung?.close();
      await stopStack({ envoy, keyway, nodes, dir });
    });

    let map: ShardMapBody;
    let hungId: string;

    test('(a) requests for its shards are answered by another owner, not failed 504 after the route timeout', async () => {
      map = JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as ShardMapBody;
      const shard = 0;
      const [primary, replica] = map.shards[shard]!.owners as [string, string];
      await eventually(`shard ${shard} on its primary ${primary}`, () => send(listener, shard), {
        accept: (a) => a.status === 200 && a.servedBy === primary,
        timeoutMs: 20_000,
      }).catch((err: Error) => assert.fail(`${err.message}\n--- envoy log ---\n${envoy.logTail(30)}`));

      hungId = primary;
      // The primary's process goes; something keeps its port open and never answers.
      const port = nodes.byId(primary).port;
      await nodes.byId(primary).stop();
      hung = net.createServer((s) => {
        held.push(s);
        s.on('error', () => {});
      });
      await new Promise<void>((resolve, reject) => hung!.once('error', reject).listen(port, '127.0.0.1', resolve));

      // Sent before the health check can fail the primary (its first failed check ends 1 s after it starts).
      const answers = await Promise.all([send(listener, shard), send(listener, shard)]);
      for (const a of answers) {
        assert.equal(a.status, 200, `answered ${a.status} after ${a.ms} ms`);
        assert.notEqual(a.servedBy, primary);
        // The subset shape retries on the shard's own replica; the table shape on the primary's backups (its shards' other owners).
        if (shape === 'subset') assert.equal(a.servedBy, replica);
        assert.ok(a.ms < PER_TRY_TIMEOUT_MS + 3_000, `answered after ${a.ms} ms`);
      }
    });

    test('(b) nodes that are only slow, past the per-try timeout, still answer', async () => {
      const shard = map.shards.findIndex((s) => !s.owners.includes(hungId));
      assert.ok(shard >= 0, `a shard that ${hungId} does not own`);
      const live = NODE_IDS.filter((id) => id !== hungId);
      for (const id of live) nodes.byId(id).setDelay(PER_TRY_TIMEOUT_MS + 1_000);
      try {
        const answers = await Promise.all([send(listener, shard), send(listener, shard)]);
        for (const a of answers) {
          assert.equal(a.status, 200, `answered ${a.status} after ${a.ms} ms`);
          assert.ok(map.shards[shard]!.owners.includes(a.servedBy!), `served by ${a.servedBy}`);
          assert.ok(a.ms < PER_TRY_TIMEOUT_MS + 4_000, `answered after ${a.ms} ms`);
        }
      } finally {
        for (const id of live) nodes.byId(id).setDelay(0);
      }
    });

    test('(c) with envoy.perTryTimeoutMs: 0 (a reload), slow nodes answer and each request reaches one node', async () => {
      writeTopology(', perTryTimeoutMs: 0');
      // The reload reached Envoy: its route configuration has neither the per-try timeout nor the hedge.
      await eventually('the route configuration without per_try_timeout', () => envoy.admin('/config_dump?resource=dynamic_route_configs'), {
        accept: (dump) => dump.includes('retry_priority') && !dump.includes('per_try_timeout') && !dump.includes('hedge_policy'),
        timeoutMs: 20_000,
      }).catch((err: Error) => assert.fail(`${err.message.slice(0, 300)}\n--- keyway log ---\n${keyway.logTail(10)}`));
      const shard = map.shards.findIndex((s) => !s.owners.includes(hungId));
      const live = NODE_IDS.filter((id) => id !== hungId);
      const reached = (): number => live.reduce((n, id) => n + nodes.byId(id).requests(), 0);
      for (const id of live) nodes.byId(id).setDelay(PER_TRY_TIMEOUT_MS + 1_000);
      try {
        const before = reached();
        const answers = await Promise.all([send(listener, shard), send(listener, shard)]);
        for (const a of answers) {
          assert.equal(a.status, 200, `answered ${a.status} after ${a.ms} ms`);
          assert.ok(a.ms >= PER_TRY_TIMEOUT_MS + 1_000 - 100, `answered after ${a.ms} ms`);
        }
        // Hedged (5 s), each would have reached two nodes: 4.
        assert.equal(reached() - before, 2, 'node requests for 2 requests');
      } finally {
        for (const id of live) nodes.byId(id).setDelay(0);
      }
    });
  });
}
