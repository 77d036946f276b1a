/**
 * `/readyz` tells a degraded keyway from a healthy one (docs/security.md "Honest state"): proxies that NACK, a
 * stale or failing source and a pipeline error each give a reason, and a degraded keyway stays 200 (ready).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { NACK_EXAMPLES, QUOTED_CHARS } from '../../src/core/health.js';
import type { ProxyStatus, ProxyStatusReader, TypeStatus } from '../../src/core/proxy.js';
import type { SourceStatus } from '../../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS } from '../../src/core/settings.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { eventually } from '../support/eventually.js';

const POLICY = { shardCount: 16, replicas: 1, spread: 'none' } as const;

function servingState(sources: SourceStatus[] = [{ kind: 'file', healthy: true, stale: false }]): ServingState {
  const state = new ServingState();
  const endpoints = ['a', 'b'].map((id) => ({ id, address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z', subzone: 'f' }, weight: 1, ready: true }));
  const map = computeShardMap(endpoints, POLICY);
  state.publish({ map, topology: { policy: POLICY, xds: DEFAULT_XDS_SETTINGS, endpoints: map.endpoints } });
  state.setSourceStatus(() => sources);
  return state;
}

function type(status: TypeStatus['status'], nack?: string): TypeStatus {
  return { status, subscribed: { wildcard: true, names: [], count: 0 }, resources: 1, ...(nack ? { lastNack: { version: 'v1', message: nack, at: '2026-01-01T00:00:00Z' } } : {}) };
}

function proxy(id: string, endpoint: TypeStatus): ProxyStatus {
  return {
    id,
    cluster: 'c',
    userAgent: 'envoy',
    userAgentVersion: '1.36',
    flavor: 'envoy',
    locality: { region: '', zone: '', subzone: '' },
    proxyClass: 'envoy',
    connectedSince: '2026-01-01T00:00:00Z',
    protocol: 'sotw',
    service: 'ads',
    streams: [],
    types: { cluster: type('SYNCED'), endpoint, listener: type('SYNCED'), route: type('SYNCED') },
  };
}

function reader(rows: () => ProxyStatus[]): ProxyStatusReader {
  return { proxies: rows, proxy: (id) => rows().find((p) => p.id === id), configDump: () => undefined, nodeIds: (f) => new Set(rows().filter((p) => p.flavor === f).map((p) => p.id)) };
}

test('/readyz: status ready and no reasons while proxies are in sync and sources fresh', async (t) => {
  const a = await buildAdminApp(servingState(), { readers: [{ proxies: reader(() => [proxy('envoy-1', type('SYNCED'))]) }] });
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().status, 'ready');
  assert.deepEqual(res.json().reasons, []);
});

test('/readyz: a proxy NACKing its latest response makes keyway degraded (still 200), and it clears with the NACK', async (t) => {
  let rows = [proxy('envoy-1', type('SYNCED')), proxy('envoy-2', type('NACKED', 'malformed IP address: cache-a.example'))];
  const a = await buildAdminApp(servingState(), { readers: [{ proxies: reader(() => rows) }] });
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 200, 'degraded keeps serving: a 503 would cut every proxy off');
  let body = res.json();
  assert.equal(body.ready, true);
  assert.equal(body.status, 'degraded');
  assert.equal(body.reasons.length, 1);
  assert.equal(body.reasons[0].code, 'proxy_nack');
  assert.equal(body.reasons[0].proxies, 1);
  assert.match(body.reasons[0].message, /1 proxy rejects .*envoy-2 endpoint: malformed IP address: cache-a\.example/);

  // A proxy that rejected an older version but accepted the latest is not degraded. The proxies' reasons are
  // reused for 10x what reading them took (a fraction of a millisecond here), so the next probe sees it.
  rows = [proxy('envoy-2', { ...type('SYNCED'), lastNack: { version: 'v0', message: 'old', at: '2026-01-01T00:00:00Z' } })];
  body = await eventually('ready again', async () => (await a.inject('/readyz')).json(), { accept: (b) => b.status === 'ready', timeoutMs: 2000 });
  assert.equal(body.ready, true);
  assert.deepEqual(body.reasons, []);
});

test('/readyz with many proxies reads them at most about a tenth of the time, however often it is polled', async (t) => {
  let reads = 0;
  const rows = Array.from({ length: 20 }, (_, i) => proxy(`envoy-${i}`, type('NACKED', 'x')));
  const slow = reader(() => {
    reads++;
    const end = performance.now() + 20; // what thousands of rows cost
    while (performance.now() < end) {
      /* busy */
    }
    return rows;
  });
  const a = await buildAdminApp(servingState(), { readers: [{ proxies: slow }] });
  t.after(() => a.close());
  const start = performance.now();
  let probes = 0;
  while (performance.now() - start < 1000) {
    assert.equal((await a.inject('/readyz')).json().status, 'degraded');
    probes++;
  }
  assert.ok(probes >= 20, `${probes} probes answered in 1 s`);
  assert.ok(reads <= 10, `${reads} reads of 20 ms each in 1 s of back-to-back probes`);
});

test('/readyz: thousands of NACKing proxies give one reason that names a few and counts the rest', async (t) => {
  const rows = Array.from({ length: 2000 }, (_, i) => proxy(`envoy-${i}`, type('NACKED', 'x'.repeat(10_000))));
  const a = await buildAdminApp(servingState(), { readers: [{ proxies: reader(() => rows) }] });
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  const [reason, ...others] = res.json().reasons;
  assert.equal(others.length, 0);
  assert.equal(reason.proxies, 2000);
  assert.match(reason.message, new RegExp(`and ${2000 - NACK_EXAMPLES} more$`));
  assert.ok(res.body.length < 4000, `body ${res.body.length} bytes: bounded whatever the proxies wrote`);
});

test('/readyz: a proxy id of megabytes is quoted cut, so the open probe stays small', async (t) => {
  // What an ADS client may send as node.id when nothing refuses it (gRPC takes 4 MiB messages).
  const rows = [proxy('a'.repeat(1_000_000), type('NACKED', 'bad')), proxy('b'.repeat(4_000_000), type('NACKED', 'bad')), proxy('c'.repeat(4_000_000), type('NACKED', 'bad'))];
  const a = await buildAdminApp(servingState(), { readers: [{ proxies: reader(() => rows) }] });
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  const [reason] = res.json().reasons;
  assert.equal(reason.proxies, 3);
  for (const c of ['a', 'b', 'c']) {
    assert.ok(reason.message.includes(`${c.repeat(QUOTED_CHARS)}… endpoint: bad`), `${c}'s id quoted to ${QUOTED_CHARS} characters`);
    assert.ok(!reason.message.includes(c.repeat(QUOTED_CHARS + 1)));
  }
  assert.ok(res.body.length < 4000, `body ${res.body.length} bytes`);
});

test('/readyz: a stale source, a failing source and a pipeline error are reasons too', async (t) => {
  const state = servingState([
    { kind: 'file', healthy: false, stale: false, lastError: 'topology.yaml:3:5: shards: must be an integer' },
    { kind: 'kubernetes', healthy: false, stale: true, lastError: 'connect ECONNREFUSED' },
  ]);
  state.setPipelineError(new Error('replicas 3 exceed the eligible endpoints'));
  const a = await buildAdminApp(state);
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.status, 'degraded');
  assert.deepEqual(
    body.reasons.map((r: { code: string; source?: string }) => [r.code, r.source]),
    [
      ['source_error', 'file'],
      ['source_stale', 'kubernetes'],
      ['pipeline_error', undefined],
    ],
  );
  assert.match(body.reasons[1].message, /kubernetes is stale.*ECONNREFUSED/);
});

test('/readyz: not ready stays 503 with status not-ready', async (t) => {
  const a = await buildAdminApp(new ServingState());
  t.after(() => a.close());
  const res = await a.inject('/readyz');
  assert.equal(res.statusCode, 503);
  assert.equal(res.json().status, 'not-ready');
});
