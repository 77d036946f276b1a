/**
 * After churn, /metrics tells the truth: the proxy gauges and keyway_degraded come back to what is
 * connected now (proxies that came and went, streams cut, a node id reconnecting while its old stream
 * lingers, a NACK then an ACK), no series is left behind per proxy, counters never go down, and each
 * push histogram's _count equals its counter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { eventually } from '../support/eventually.js';
import { fourNodeTopology, startKeywayInProcess } from '../support/keyway-in-process.js';
import { KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { parseExposition, type Exposition } from './support/exposition.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

/** Opens an Envoy-like ADS stream and takes (and ACKs) its clusters. */
async function syncedEnvoy(port: number, id: string, clients: XdsTestClient[]): Promise<XdsTestClient> {
  const c = new XdsTestClient({ port, node: { id, userAgentName: 'envoy', locality: { region: 'r', zone: 'z0', subZone: 'nvl-0' } } });
  clients.push(c);
  c.request('cluster');
  await c.expect('cluster');
  c.ack('cluster');
  return c;
}

/** Every series of the proxy gauges, as `name{labels} value` lines, for messages. */
function proxySeries(exp: Exposition): string[] {
  return exp.samples
    .filter((s) => s.name === N.proxiesConnected || s.name === N.proxySyncStatus)
    .map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`);
}

test('the proxy gauges come back to 0 after proxies come and go, with no series left per proxy', async (t) => {
  const { server, clients } = await startKeywayInProcess(t, fourNodeTopology([10, 10, 10, 10]), { fileWatch: FAST });
  const port = server.listening.xdsPort as number;
  const scrape = async (): Promise<Exposition> => parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  const before = await scrape();
  const seriesBefore = before.samples.length;

  // 1000 distinct proxies, 100 at a time: each batch counted while up, then gone.
  for (let batch = 0; batch < 10; batch++) {
    const proxies = await Promise.all(Array.from({ length: 100 }, (_, i) => syncedEnvoy(port, `churn-${batch * 100 + i}`, clients)));
    await eventually('100 proxies counted, clusters SYNCED', async () => {
      const exp = await scrape();
      return exp.value(N.proxiesConnected, { flavor: 'envoy' }) === 100 && exp.value(N.proxySyncStatus, { type: 'cluster', status: 'SYNCED' }) === 100;
    });
    for (const p of proxies) p.close();
    clients.length = 0;
    await eventually('the batch gone', async () => (await scrape()).value(N.proxiesConnected, { flavor: 'envoy' }) === 0);
  }
  const after = await eventually('every proxy gone from the gauges', async () => {
    const exp = await scrape();
    return exp.value(N.proxiesConnected, { flavor: 'envoy' }) === 0 ? exp : undefined;
  });
  for (const s of after.find(N.proxySyncStatus)) assert.equal(s.value, 0, `${JSON.stringify(s.labels)} after every proxy left: ${proxySeries(after).join('\n')}`);
  const leaked = after.samples.filter((s) => Object.values(s.labels).some((v) => v.startsWith('churn-')));
  assert.deepEqual(leaked, [], 'no series names a proxy that left');
  assert.ok(after.samples.length <= seriesBefore + 64, `${after.samples.length} series after 1000 proxies came and went, ${seriesBefore} before`);
});

test('one node id reconnecting while its old stream lingers counts once, and 0 once both are gone', async (t) => {
  const { server, clients } = await startKeywayInProcess(t, fourNodeTopology([10, 10, 10, 10]), { fileWatch: FAST });
  const port = server.listening.xdsPort as number;
  const scrape = async (): Promise<Exposition> => parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  const first = await syncedEnvoy(port, 'same-node', clients);
  const second = await syncedEnvoy(port, 'same-node', clients);
  let exp = await scrape();
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'envoy' }), 1, 'two streams of one node id are one proxy');
  assert.equal(exp.value(N.proxySyncStatus, { type: 'cluster', status: 'SYNCED' }), 1);
  first.close();
  await eventually('the old stream gone', async () => {
    const body = (await (await fetch(`http://127.0.0.1:${server.httpPort}/v1/proxies`)).json()) as { proxies: { id: string; streams: unknown[] }[] };
    return body.proxies.find((p) => p.id === 'same-node')?.streams.length === 1;
  });
  exp = await scrape();
  assert.equal(exp.value(N.proxiesConnected, { flavor: 'envoy' }), 1, 'the new stream still counts');
  second.close();
  await eventually('no proxy left', async () => (await scrape()).value(N.proxiesConnected, { flavor: 'envoy' }) === 0);
});

test('a NACK then an ACK, on one stream and across a reconnect: NACKED and keyway_degraded{proxy_nack} return to 0; counters only rise; push _count equals pushes', async (t) => {
  const { server, clients, topo } = await startKeywayInProcess(t, fourNodeTopology([10, 10, 10, 10]), { fileWatch: FAST });
  const port = server.listening.xdsPort as number;
  const scrape = async (): Promise<Exposition> => parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  const nackedSeen = (type: string): Promise<Exposition> =>
    eventually(`the ${type} NACK seen`, async () => {
      const e = await scrape();
      return e.value(N.proxySyncStatus, { type, status: 'NACKED' }) === 1 ? e : undefined;
    });
  const syncedSeen = (type: string): Promise<Exposition> =>
    eventually(`the ${type} ACK seen`, async () => {
      const e = await scrape();
      return e.value(N.proxySyncStatus, { type, status: 'SYNCED' }) === 1 ? e : undefined;
    });
  const checkHealed = (exp: Exposition, type: string): void => {
    assert.equal(exp.value(N.proxySyncStatus, { type, status: 'NACKED' }), 0);
    assert.equal(exp.value(N.degraded, { reason: 'proxy_nack' }), 0);
  };

  // One stream: the endpoints NACKed, then the next endpoints (a reweight) ACKed.
  const c = await syncedEnvoy(port, 'nacker', clients);
  c.request('endpoint', ['keyway-cache']);
  await c.expect('endpoint');
  c.nack('endpoint', 'bad endpoints');
  let exp = await nackedSeen('endpoint');
  assert.equal(exp.value(N.degraded, { reason: 'proxy_nack' }), 1);
  assert.equal(exp.value(N.nacks, { type: 'endpoint' }), 1);
  await topo.write(fourNodeTopology([10, 10, 10, 30]));
  await c.expect('endpoint');
  c.ack('endpoint');
  exp = await syncedSeen('endpoint');
  checkHealed(exp, 'endpoint');

  // Across a reconnect: the clusters NACKed, the stream dropped, a new stream of the node id ACKs them.
  c.close();
  const c2 = new XdsTestClient({ port, node: { id: 'nacker2', userAgentName: 'envoy', locality: { region: 'r', zone: 'z0', subZone: 'nvl-0' } } });
  clients.push(c2);
  c2.request('cluster');
  await c2.expect('cluster');
  c2.nack('cluster', 'bad cluster');
  exp = await nackedSeen('cluster');
  const nacks = exp.value(N.nacks, { type: 'cluster' });
  c2.close();
  const again = await syncedEnvoy(port, 'nacker2', clients);
  exp = await syncedSeen('cluster');
  checkHealed(exp, 'cluster');
  assert.ok(exp.value(N.nacks, { type: 'cluster' }) >= nacks, 'a counter never goes down');
  for (const type of ['cluster', 'endpoint', 'listener', 'route', 'assignment']) {
    const counts = exp.find(`${N.pushDuration}_count`, { type });
    assert.equal(counts[0]?.value ?? 0, exp.value(N.pushes, { type }), `${type}: one duration per answered push`);
  }
  again.close();
  await eventually('gone', async () => (await scrape()).value(N.proxiesConnected, { flavor: 'envoy' }) === 0);
});

test('a file that fails then recovers, and a reload that changes S and drops an endpoint: gauges follow, the old series leave', async (t) => {
  const { server, topo } = await startKeywayInProcess(t, fourNodeTopology([10, 10, 10, 10]), { fileWatch: FAST });
  const scrape = async (): Promise<Exposition> => parseExposition(await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text());
  const first = await scrape();
  const v1 = first.find(N.shardMapInfo)[0]!.labels.version!;
  assert.equal(first.value(N.shardCount), 32);
  assert.equal(first.value(N.sourceErrors, { source: 'file' }), 0);

  await topo.write('shards: [not a number\n');
  const failed = await eventually('the bad file counted', async () => {
    const e = await scrape();
    return e.value(N.sourceErrors, { source: 'file' }) >= 1 ? e : undefined;
  });
  assert.equal(failed.value(N.degraded, { reason: 'source_stale' }), 1, 'a file that does not parse: its last good state serves');
  assert.equal(failed.value(N.sourceStale, { source: 'file' }), 1);
  assert.equal(failed.value(N.shardCount), 32, 'the map in force stays');

  await topo.write(fourNodeTopology([10, 10, 10]).replace('shards: 32', 'shards: 64'));
  const after = await eventually('the new map in force', async () => {
    const e = await scrape();
    return e.value(N.shardCount) === 64 ? e : undefined;
  });
  assert.equal(after.value(N.degraded, { reason: 'source_stale' }), 0, 'the source recovered');
  assert.equal(after.value(N.sourceStale, { source: 'file' }), 0);
  assert.equal(after.value(N.sourceErrors, { source: 'file' }), failed.value(N.sourceErrors, { source: 'file' }), 'one bad content, counted once');
  const info = after.find(N.shardMapInfo);
  assert.equal(info.length, 1, 'one version in force');
  assert.notEqual(info[0]!.labels.version, v1);
  assert.deepEqual(after.find(N.shardsOwned).map((s) => s.labels.endpoint).sort(), ['gpu-0', 'gpu-1', 'gpu-2'], 'gpu-3 left');
  assert.equal(after.find(N.shardsOwned).reduce((a, s) => a + s.value, 0), 64 * 2, 'S x R owner slots');
  assert.equal(after.find(N.shardsPrimary).reduce((a, s) => a + s.value, 0), 64);
  assert.equal(after.value(N.shardMapChanges), first.value(N.shardMapChanges) + 1);
  assert.equal(after.value(`${N.movedPerChange}_count`), after.value(N.shardMapChanges), 'one histogram count per change');
  for (const reason of ['proxy_nack', 'snapshot_rejected', 'source_stale', 'source_error', 'pipeline_error']) {
    assert.equal(after.value(N.degraded, { reason }), 0, reason);
  }
});
