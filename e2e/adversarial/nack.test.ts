/**
 * Honest state under NACKs (docs/security.md "Honest state"): proxies that reject the endpoints keyway sends
 * (what every Envoy does with an address it cannot parse) make `keyway serve` report itself degraded on every
 * surface an operator looks at: `/readyz` (still 200: keyway keeps serving), the `keyway_degraded` gauge and
 * `keyway status`. When the topology is fixed and the proxies accept the next push, all three say ready again.
 *
 * keyway runs as the compiled CLI in a child process; the proxies are protocol-checking xDS test clients that
 * NACK on purpose, so the test does not depend on which inputs a future validator lets through.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ReadyzBody } from '../../src/admin/api-types.js';
import { referencedNames } from '../../src/xds/cache/index.js';
import { startKeyway, type KeywayProcess } from '../support/keyway.js';
import { watchHealthz } from '../support/stall.js';
import { eventually } from '../../test/support/eventually.js';
import { runCli } from '../../test/cli/support.js';
import { XdsTestClient } from '../../test/support/xds-client/xds-client.js';

/** Proxies that NACK; enough to show the reason names a few and counts the rest. */
const PROXIES = 8;
const REJECTION = 'malformed IP address: cache-a.internal';

function topology(port: number): string {
  const lines = ['shards: 256', 'replicas: 2', 'spread: none', 'endpoints:'];
  for (const [i, id] of ['cache-a', 'cache-b', 'cache-c'].entries()) {
    lines.push(`  - {id: ${id}, address: 127.0.0.1, port: ${port + i}, locality: {region: r, zone: z${i}, subzone: f${i}}, weight: 10}`);
  }
  return `${lines.join('\n')}\n`;
}

/** An Envoy-like ADS client that accepts clusters, listeners and routes and rejects every endpoint response. */
async function nackingProxy(xdsPort: number, id: string): Promise<XdsTestClient> {
  const client = new XdsTestClient({ port: xdsPort, node: { id, cluster: 'gateways', userAgentName: 'envoy' } });
  client.request('cluster');
  const cds = await client.expect('cluster');
  client.ack('cluster');
  client.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
  await client.expect('endpoint');
  client.nack('endpoint', REJECTION);
  client.request('listener');
  const lds = await client.expect('listener');
  client.ack('listener');
  client.request('route', lds.resources.flatMap((r) => referencedNames(r.message)));
  await client.expect('route');
  client.ack('route');
  return client;
}

async function readyz(keyway: KeywayProcess): Promise<{ status: number; body: ReadyzBody }> {
  const res = await fetch(`${keyway.httpUrl}/readyz`);
  return { status: res.status, body: (await res.json()) as ReadyzBody };
}

/** `keyway_degraded{reason="..."}` from one scrape. */
async function degradedGauge(keyway: KeywayProcess, reason: string): Promise<number | undefined> {
  const text = await (await fetch(`${keyway.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`keyway_degraded{reason="${reason}"}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('proxies NACK: keyway says degraded, then ready again once they accept', () => {
  let dir: string;
  let file: string;
  let keyway: KeywayProcess;
  const clients: XdsTestClient[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-nack-'));
    file = path.join(dir, 'topology.yaml');
    writeFileSync(file, topology(7100));
    keyway = await startKeyway({ configPath: file, httpPort: 0, xdsPort: 0 });
  });

  after(async () => {
    for (const c of clients) c.close();
    await keyway?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('before any NACK: ready, no reasons, gauge 0', async () => {
    const { status, body } = await readyz(keyway);
    assert.equal(status, 200);
    assert.equal(body.status, 'ready', JSON.stringify(body));
    assert.deepEqual(body.reasons, []);
    assert.equal(await degradedGauge(keyway, 'proxy_nack'), 0);
  });

  test('every proxy rejects the endpoints: /readyz 200 degraded with the reason, gauge 1, keyway status DEGRADED', async () => {
    const healthz = watchHealthz(keyway.httpUrl);
    for (let i = 0; i < PROXIES; i++) clients.push(await nackingProxy(keyway.xdsPort, `envoy-${i}`));

    const { body } = await eventually('/readyz degraded', () => readyz(keyway), { accept: (r) => r.body.status === 'degraded', timeoutMs: 10_000 });
    const { status } = await readyz(keyway);
    assert.equal(status, 200, 'degraded keeps serving: a 503 would take keyway out of its Service');
    assert.equal(body.ready, true);
    const nack = body.reasons.find((r) => r.code === 'proxy_nack');
    assert.ok(nack, JSON.stringify(body.reasons));
    assert.equal(nack.proxies, PROXIES);
    assert.match(nack.message, new RegExp(`${PROXIES} proxies reject .*envoy-0 endpoint: ${REJECTION}.*and ${PROXIES - 3} more$`));

    assert.equal(await degradedGauge(keyway, 'proxy_nack'), 1);
    assert.equal(await degradedGauge(keyway, 'source_stale'), 0);

    const cli = await runCli(['status', '--server', keyway.httpUrl], { KEYWAY_SERVER: '' });
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /: DEGRADED \(serving\)\n/);
    assert.match(cli.stdout, new RegExp(`degraded: proxy_nack: ${PROXIES} proxies reject`));

    const stall = await healthz.stop();
    assert.equal(stall.failures, 0);
    assert.ok(stall.maxGapMs < 5000, `healthz max gap ${stall.maxGapMs} ms`);
  });

  test('the topology is fixed and the proxies accept the next push: ready again, gauge 0', async () => {
    const tmp = path.join(dir, '.topology.yaml.tmp');
    writeFileSync(tmp, topology(7200));
    renameSync(tmp, file);
    // Each proxy accepts whatever keyway pushes from now on.
    await Promise.all(
      clients.map(async (c) => {
        const r = await c.expect('endpoint', 10_000);
        assert.ok(r.resources.length > 0);
        c.ack('endpoint');
      }),
    );
    const { status, body } = await eventually('/readyz ready', () => readyz(keyway), { accept: (r) => r.body.status === 'ready', timeoutMs: 10_000 });
    assert.equal(status, 200);
    assert.deepEqual(body.reasons, []);
    assert.equal(await degradedGauge(keyway, 'proxy_nack'), 0);
    const cli = await runCli(['status', '--server', keyway.httpUrl], { KEYWAY_SERVER: '' });
    assert.match(cli.stdout, /: ready\n/);
  });

  test('an invalid topology file keeps the last good map and says so: degraded (source_stale), ready once fixed', async () => {
    const write = (text: string): void => {
      const tmp = path.join(dir, '.topology.yaml.tmp');
      writeFileSync(tmp, text);
      renameSync(tmp, file);
    };
    write('shards: [this is not a number\n');
    const { status, body } = await eventually('/readyz degraded by the file', () => readyz(keyway), {
      accept: (r) => r.body.reasons.some((x) => x.code === 'source_stale'),
      timeoutMs: 10_000,
    });
    assert.equal(status, 200);
    assert.equal(body.status, 'degraded');
    assert.match(body.reasons.find((x) => x.code === 'source_stale')!.message, /source file is stale/);
    assert.equal(await degradedGauge(keyway, 'source_stale'), 1);
    write(topology(7200));
    await eventually('/readyz ready again', () => readyz(keyway), { accept: (r) => r.body.status === 'ready', timeoutMs: 10_000 });
    assert.equal(await degradedGauge(keyway, 'source_stale'), 0);
  });
});
