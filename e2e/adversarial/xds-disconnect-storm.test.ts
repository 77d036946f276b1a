/**
 * Thousands of xDS streams closing at once (docs/security.md "xDS streams"): each close costs
 * keyway O(1) (its per-node index is kept as streams come and go), so the event loop never stalls
 * and `/healthz` keeps answering through the storm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyway } from '../support/keyway.js';
import { cpuSeconds, watchHealthz } from '../support/stall.js';
import { connect, openStream, sotwRequest, type RawStream } from '../support/xds-raw.js';
import { httpRequest } from '../support/http.js';
import { topologyFile } from './xds-topology.js';

const CONNECTIONS = 100;
const STREAMS_PER_CONNECTION = 50;

test('a disconnect storm of 5000 streams keeps /healthz answering', { timeout: 90_000 }, async (t) => {
  const topo = topologyFile({ shards: 256, endpoints: 4 });
  const keyway = await startKeyway({ configPath: topo.path });
  t.after(() => keyway.stop());

  const sessions = Array.from({ length: CONNECTIONS }, () => connect(keyway.xdsPort));
  t.after(() => sessions.forEach((s) => s.destroy()));
  const streams: RawStream[] = [];
  for (const [c, session] of sessions.entries()) {
    for (let i = 0; i < STREAMS_PER_CONNECTION; i++) {
      streams.push(openStream(session, sotwRequest({ id: `envoy-${c}-${i}` }, 'cluster')));
    }
    await sleep(5);
  }
  const total = CONNECTIONS * STREAMS_PER_CONNECTION;
  // Every stream is open when every one of them has its first response.
  const deadline = Date.now() + 40_000;
  while (streams.some((s) => s.received() === 0) && Date.now() < deadline) await sleep(100);
  const connected = streams.filter((s) => s.received() > 0).length;
  assert.equal(connected, total, `${connected} of ${total} streams got their first response`);

  const health = watchHealthz(keyway.httpUrl);
  await sleep(300);
  const cpuBefore = cpuSeconds(keyway.pid());
  const started = performance.now();
  for (const s of sessions) s.destroy();
  // The storm is over when keyway lists no proxy.
  let rows = -1;
  while (performance.now() - started < 40_000) {
    const body = await httpRequest(`${keyway.httpUrl}/v1/proxies?names=0`, { timeoutMs: 40_000 });
    rows = (JSON.parse(body.body) as { proxies: unknown[] }).proxies.length;
    if (rows === 0) break;
    await sleep(50);
  }
  const storm = performance.now() - started;
  const cpu = cpuSeconds(keyway.pid()) - cpuBefore;
  await sleep(300);
  const gaps = await health.stop();
  t.diagnostic(`${total} streams closed in ${storm.toFixed(0)} ms, ${cpu.toFixed(2)} s of keyway CPU; healthz max gap ${gaps.maxGapMs} ms (${gaps.answers} answers)`);
  assert.equal(rows, 0, 'every closed stream left /v1/proxies');
  // keyway's own CPU for the storm (the poll's answers included) is the robust measure on a loaded
  // machine; the gap bound is loose, for a stall that CPU time would not show.
  assert.ok(cpu < 1.5, `closing ${total} streams cost ${cpu.toFixed(2)} s of keyway CPU`);
  assert.ok(gaps.maxGapMs < 5000, `/healthz stalled ${gaps.maxGapMs} ms during the storm`);
});
