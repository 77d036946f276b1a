/**
 * A delta client that subscribes to millions of made-up names (docs/security.md "xDS streams"):
 * keyway ends its stream at the names cap (RESOURCE_EXHAUSTED, LIMIT_EXCEEDED) with a log line, its
 * memory stays bounded, and `GET /v1/proxies` stays small and fast while a client holds a large
 * subscription under the cap (rows list a bounded number of names, with their count).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKeyway } from '../support/keyway.js';
import { rssBytes } from '../support/stall.js';
import { connect, deltaRequest, openStream } from '../support/xds-raw.js';
import { httpRequest } from '../support/http.js';
import { topologyFile } from './xds-topology.js';

/** Names per request: ~0.7 MB, under gRPC's 4 MB message limit. */
const BATCH = 50_000;
/** 3 million names in all, as the finding. */
const FLOOD_REQUESTS = 60;
const GRPC_RESOURCE_EXHAUSTED = 8;

const names = (prefix: string, from: number): string[] => Array.from({ length: BATCH }, (_, i) => `${prefix}-${from + i}`);

test('a delta subscription flood is cut at the names cap; memory and /v1/proxies stay small', { timeout: 90_000 }, async (t) => {
  const topo = topologyFile({ shards: 1024, endpoints: 6 });
  const keyway = await startKeyway({ configPath: topo.path });
  t.after(() => keyway.stop());
  const base = rssBytes(keyway.pid());

  // A large subscription under the cap (90k names) that stays connected.
  const big = connect(keyway.xdsPort);
  t.after(() => big.destroy());
  const large = openStream(big, deltaRequest({ id: 'grpc-large', userAgentName: 'gRPC Node Pure JS' }, 'endpoint', names('large', 0)), { delta: true });
  large.stream.write(deltaRequest(undefined, 'endpoint', names('large', BATCH).slice(0, 40_000)));

  // The flood: 60 requests of 50k names on one stream, paced by what the stream takes.
  const session = connect(keyway.xdsPort);
  t.after(() => session.destroy());
  const flood = openStream(session, deltaRequest({ id: 'grpc-flood', userAgentName: 'gRPC Node Pure JS' }, 'endpoint', names('flood', 0)), { delta: true });
  let ended: Awaited<typeof flood.ended> | undefined;
  void flood.ended.then((e) => (ended = e));
  let sent = 1;
  for (; sent < FLOOD_REQUESTS && ended === undefined && !flood.stream.destroyed; sent++) {
    if (!flood.stream.write(deltaRequest(undefined, 'endpoint', names('flood', sent * BATCH)))) {
      // The stream may end at the cap while this write waits: then no 'drain' ever comes.
      await Promise.race([new Promise((r) => flood.stream.once('drain', r)), flood.ended]);
    }
    await sleep(30);
  }
  const end = await Promise.race([flood.ended, sleep(20_000).then(() => undefined)]);
  const growth = rssBytes(keyway.pid()) - base;

  const started = performance.now();
  const proxies = await httpRequest(`${keyway.httpUrl}/v1/proxies`, { timeoutMs: 60_000 });
  const tookMs = performance.now() - started;
  t.diagnostic(
    `flood: ${sent} requests (${sent * BATCH} names) sent, end ${JSON.stringify(end)}; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB; ` +
      `/v1/proxies ${proxies.body.length} bytes in ${tookMs.toFixed(0)} ms`,
  );

  assert.equal(end?.grpcStatus, GRPC_RESOURCE_EXHAUSTED, 'the flooding stream is ended with RESOURCE_EXHAUSTED');
  assert.match(end?.grpcMessage ?? '', /LIMIT_EXCEEDED/);
  assert.ok(sent * BATCH < 1_000_000, `the stream was cut early (after ${sent * BATCH} names)`);
  assert.ok(
    keyway.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('LIMIT_EXCEEDED')),
    'a log line says which limit ended the stream',
  );
  assert.ok(growth < 150 * 2 ** 20, `keyway grew ${(growth / 2 ** 20).toFixed(1)} MiB`);
  assert.equal(proxies.status, 200);
  assert.ok(proxies.body.length < 256 * 1024, `/v1/proxies is ${proxies.body.length} bytes`);
  assert.ok(tookMs < 2000, `/v1/proxies took ${tookMs.toFixed(0)} ms`);
  const row = (JSON.parse(proxies.body) as { proxies: { id: string; types: { endpoint: { subscribed: { count: number; names: string[] } } } }[] }).proxies.find(
    (p) => p.id === 'grpc-large',
  );
  assert.equal(row?.types.endpoint.subscribed.count, 90_000, 'the large subscription is counted in full');
  assert.ok(row.types.endpoint.subscribed.names.length <= 100, 'and listed in part');
});
