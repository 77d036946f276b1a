// What a reload of `hotShards:` changes in the load signal (docs/load-reports.md, docs/hot-shards.md):
// the reports this replica received are runtime state a reload must keep, and the windows the
// policy reads follow the reloaded settings at once.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, type RunningServer } from '../../src/app/index.js';
import { windowStart, type LoadReport, type LoadReportIntake } from '../../src/core/load.js';
import { shardReaders } from '../../src/core/shard-map.js';
import type { ServeStage } from '../../src/core/stage.js';
import { eventually } from '../support/eventually.js';
import { listenForTest } from '../support/loopback-server.js';
import { tempTopology, topologyText } from '../serve/support.js';

/** Long windows, so a test rarely straddles a window's end (it waits when one is near). */
const WINDOW_MS = 600_000;

/** Waits out the end of the window under way when it is less than 5 s away: the tests name windows relative to it. */
async function awayFromWindowEnd(): Promise<void> {
  const left = windowStart(Date.now(), WINDOW_MS) + WINDOW_MS - Date.now();
  if (left < 5_000) await sleep(left + 100);
}

/** A stage that only hands the test the runner's load-report sink (as the xDS server gets it). */
function loadTap(): { stage: ServeStage; sink: () => LoadReportIntake } {
  let load: LoadReportIntake | undefined;
  const stage: ServeStage = {
    name: 'load-tap',
    start: (ctx) => {
      load = ctx.load;
      return Promise.resolve({ close: () => Promise.resolve() });
    },
  };
  return { stage, sink: () => load! };
}

/** Node e0's report for the window `back` windows before the one under way: shard 5 takes 60 % of 1000 rps. */
function hotReport(back: number): LoadReport {
  const shards = Array.from({ length: 64 }, (_, s) => ({ shard: s, requests: s === 5 ? 6000 : 60 }));
  return { nodeId: 'e0', windowStartMs: windowStart(Date.now(), WINDOW_MS) - back * WINDOW_MS, windowMs: WINDOW_MS, totalRequests: 6000 + 63 * 60, shards };
}

function topology(hotShards: string): string {
  return topologyText({ ready: [true, true, true, true], extra: `hotShards: {windowMs: ${WINDOW_MS}, ${hotShards}}` });
}

async function serve(t: TestContext, text: string): Promise<{ server: RunningServer; sink: () => LoadReportIntake; write: (text: string) => Promise<void> }> {
  const topo = await tempTopology(text);
  const tap = loadTap();
  const server = await startServer({
    configFile: topo.file,
    httpPort: 0,
    host: '127.0.0.1',
    stages: [tap.stage],
    fileWatch: { pollIntervalMs: 0, debounce: { holdOffMs: 60_000, maxDelayMs: 60_000 } },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  return {
    server,
    sink: tap.sink,
    write: async (next) => {
      await topo.write(next);
      await server.reload();
    },
  };
}

const spread = (server: RunningServer): boolean => shardReaders(server.state.current()!.map, 5) > 1;

test('a reload that changes hotShards.snapshot keeps the load reports this replica received', async (t) => {
  // Prometheus at a port nobody listens on: its reads fail, the reports still reach this replica.
  const prometheus = 'snapshot: {source: prometheus, url: "http://127.0.0.1:9"}';
  await awayFromWindowEnd();
  const { server, sink, write } = await serve(t, topology(prometheus));
  sink().reportLoad(hotReport(1));
  sink().reportLoad(hotReport(2));
  assert.equal(spread(server), false, 'the Prometheus source read nothing yet');

  // Back to the local source: it reads the reports this replica already holds.
  await write(topology('snapshot: {source: local}'));
  await eventually('shard 5 spread from the reports received before the reload', () => spread(server), { timeoutMs: 3000 });
});

test('a reload that lengthens hotShards.historyWindows reads the longer history at once', async (t) => {
  await awayFromWindowEnd();
  const { server, sink, write } = await serve(t, topology('historyWindows: 1, replayWindows: 0'));
  // Load two windows back: outside a history of one window, inside one of three.
  sink().reportLoad(hotReport(2));
  await sleep(200); // a late report is announced after 50 ms
  assert.equal(spread(server), false, 'a history of one window holds no report');

  await write(topology('historyWindows: 3, replayWindows: 0'));
  await eventually('shard 5 spread from the window the longer history reads', () => spread(server), { timeoutMs: 3000 });
});

test('a reload that changes hotShards.snapshot.lagMs keeps the window exported to Prometheus', async (t) => {
  const prometheus = (lagMs: number): string => `snapshot: {source: prometheus, url: "http://127.0.0.1:9", lagMs: ${lagMs}}`;
  await awayFromWindowEnd();
  const { sink, write } = await serve(t, topology(prometheus(30_000)));
  sink().reportLoad(hotReport(1));
  const exported = sink().exported();
  assert.ok(exported, 'the last closed window is exported (the keyway_load_* gauges)');

  await write(topology(prometheus(60_000)));
  assert.deepEqual(sink().exported(), exported, 'the reports of the window are still exported');
});

test('a reload that shortens hotShards.windowMs reads Prometheus at once, not when the longer window ends', async (t) => {
  const queries: string[] = [];
  const prometheus = createServer((req, res) => {
    queries.push(decodeURIComponent(req.url ?? ''));
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result: [] } }));
  });
  const url = await listenForTest(t, prometheus);
  const text = (windowMs: number): string =>
    topologyText({ ready: [true, true, true, true], extra: `hotShards: {windowMs: ${windowMs}, snapshot: {source: prometheus, url: "${url.slice(0, -1)}", lagMs: 0}}` });
  const { write } = await serve(t, text(3_600_000));
  assert.equal(queries.length, 0, 'an hour-long window is read when it ends');

  await write(text(1_000));
  // A query_range whose step is one second.
  await eventually('a read of one-second windows', () => queries.some((q) => /[?&]step=1(&|$)/.test(q)), { timeoutMs: 3000, describe: () => queries });
});

test('a reload that changes shards and hotShards.snapshot together reads no window counted under the old shards', async (t) => {
  const text = (shards: number, snapshot: string): string =>
    topologyText({ shards, ready: [true, true, true, true], extra: `hotShards: {windowMs: ${WINDOW_MS}, ${snapshot}}` });
  await awayFromWindowEnd();
  const { server, sink, write } = await serve(t, text(64, 'snapshot: {source: prometheus, url: "http://127.0.0.1:9"}'));
  sink().reportLoad(hotReport(1));
  sink().reportLoad(hotReport(2));

  // Shard 5 under S = 64 names other keys under S = 128: its load must not spread shard 5 now.
  await write(text(128, 'snapshot: {source: local}'));
  await eventually('the map of 128 shards', () => server.state.current()!.map.policy.shardCount === 128);
  await sleep(300); // a read of the new source is announced at once
  assert.equal(server.state.current()!.hotShards?.shards.length ?? 0, 0, 'no hot shard from windows counted under 64 shards');
});
