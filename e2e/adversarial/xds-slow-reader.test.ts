/**
 * A proxy that never reads its stream (it answers HTTP/2 pings, so keepalive keeps it) while the
 * topology changes again and again (docs/security.md "xDS streams"): keyway must not queue every
 * response for it. Its memory stays bounded (held pushes are rebuilt only once the proxy reads) and
 * the stream is closed once it has read nothing for KEYWAY_XDS_WRITE_STALL_MS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyway } from '../support/keyway.js';
import { rssBytes, watchHealthz } from '../support/stall.js';
import { connect, openStream, sotwRequest } from '../support/xds-raw.js';
import { httpRequest } from '../support/http.js';
import { topologyFile } from './xds-topology.js';

const PUSHES = 12;
const READERS = 64;
const STALL_MS = 6000;

test('a stream that never reads: keyway memory stays bounded over many pushes, and the stream is closed', { timeout: 90_000 }, async (t) => {
  // 32768 shards: one route per shard makes the gRPC route configuration a few MB per push.
  const topo = topologyFile({ shards: 32768, endpoints: 12 });
  const keyway = await startKeyway({ configPath: topo.path, env: { KEYWAY_XDS_WRITE_STALL_MS: String(STALL_MS) } });
  t.after(() => keyway.stop());
  // Several readers, so what keyway would queue for them stands out of the memory a reload churns.
  const slow = Array.from({ length: READERS }, (_, i) => {
    const session = connect(keyway.xdsPort);
    t.after(() => session.destroy());
    const node = { id: `grpc-slow-${i}`, userAgentName: 'gRPC Node Pure JS' };
    return openStream(session, sotwRequest(node, 'route', ['adv-cache']), { read: false });
  });
  await sleep(1500);
  const base = rssBytes(keyway.pid());
  const health = watchHealthz(keyway.httpUrl);

  let shardMap = '';
  for (let i = 1; i <= PUSHES; i++) {
    topo.write(50 + i * 7);
    // Each reload is a new shard map and a new route configuration for the proxy.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const body = JSON.parse((await httpRequest(`${keyway.httpUrl}/readyz`)).body) as { version?: string };
      if (body.version && body.version !== shardMap) {
        shardMap = body.version;
        break;
      }
      if (Date.now() > deadline) break;
      await sleep(50);
    }
    await sleep(150);
  }
  await sleep(500);
  const growth = rssBytes(keyway.pid()) - base;
  const gaps = await health.stop();
  const ends = await Promise.race([Promise.all(slow.map((s) => s.ended)), sleep(STALL_MS + 10_000).then(() => undefined)]);
  t.diagnostic(
    `RSS growth over ${PUSHES} pushes to ${READERS} readers: ${(growth / 2 ** 20).toFixed(1)} MiB; healthz max gap ${gaps.maxGapMs} ms; ` +
      `stream ends ${JSON.stringify(ends?.[0])}`,
  );

  assert.ok(growth < 900 * 2 ** 20, `keyway grew ${(growth / 2 ** 20).toFixed(1)} MiB for ${READERS} proxies that never read`);
  assert.ok(ends !== undefined, 'the streams that never read are closed');
  assert.ok(
    keyway.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('LIMIT_EXCEEDED') && l.stream !== undefined),
    'a log line says why the stream was closed',
  );
});
