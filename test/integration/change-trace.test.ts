/**
 * One trace per change, end to end: the real `keyway serve` CLI as a child process exports over
 * OTLP/HTTP to an in-test receiver (OTEL_EXPORTER_OTLP_ENDPOINT), a protocol-checking ADS client
 * that ACKs is connected, and a topology edit yields the trace keyway.change (source `file`) →
 * keyway.sharding, keyway.xds.rebuild, keyway.xds.push (ACK). /metrics counts the shard-map
 * computations and, after an invalid file, the file source's error, while the last good map stays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { referencedNames } from '../../src/xds/cache/index.js';
import { KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { XdsTestClient } from '../support/xds-client/xds-client.js';
import { tempTopology } from '../serve/support.js';
import { eventually } from '../support/eventually.js';
import { parseExposition } from '../telemetry/support/exposition.js';
import { startOtlpReceiver, type ReceivedSpan } from '../telemetry/support/otlp-receiver.js';
import { fourNodeTopology } from '../support/keyway-in-process.js';
import { CLI } from '../cli/support.js';


/** The complete trace of a change from `source`: its root and its direct children, once all have arrived. */
function changeTrace(spans: readonly ReceivedSpan[], source: string): { root: ReceivedSpan; children: ReceivedSpan[] } | undefined {
  const root = spans.find((s) => s.name === 'keyway.change' && s.attributes['keyway.change.source'] === source);
  if (!root) return undefined;
  const children = spans.filter((s) => s.traceId === root.traceId && s.spanId !== root.spanId);
  const names = new Set(children.map((s) => s.name));
  return ['keyway.sharding', 'keyway.xds.rebuild', 'keyway.xds.push'].every((n) => names.has(n)) ? { root, children } : undefined;
}

test('keyway serve exports one trace per topology edit (change → sharding, rebuild, push ACK) and counts computations and file errors', async (t) => {
  const receiver = await startOtlpReceiver();
  const topo = await tempTopology(fourNodeTopology([10, 10, 10, 10]));
  const child = spawn(
    process.execPath,
    [...CLI, 'serve', '--config', topo.file, '--http-port', '0', '--xds-port', '0', '--host', '127.0.0.1'],
    {
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'keyway-change-trace-test' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const clients: XdsTestClient[] = [];
  t.after(async () => {
    clients.forEach((c) => c.close());
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await receiver.close();
    await topo.cleanup();
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const records: Record<string, unknown>[] = [];
  const listening = await new Promise<{ httpPort: number; xdsPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 30 s; stderr: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      records.push(rec);
      if (rec.msg === 'listening') {
        clearTimeout(timer);
        resolve({ httpPort: rec.httpPort as number, xdsPort: rec.xdsPort as number });
      }
    });
    child.on('exit', (code) => reject(new Error(`keyway exited early with ${code}; stderr: ${stderr}`)));
  });
  const tracingLine = records.find((r) => (r.tracing as { enabled?: boolean } | undefined) !== undefined);
  assert.deepEqual(
    tracingLine?.tracing,
    { enabled: true, reason: 'OTEL_EXPORTER_OTLP_ENDPOINT is set', serviceName: 'keyway-change-trace-test', endpoint: `${receiver.url}/v1/traces` },
    'the tracing configuration is logged once at start-up',
  );
  const base = `http://127.0.0.1:${listening.httpPort}`;
  const scrape = async () => parseExposition(await (await fetch(`${base}/metrics`)).text());
  const version = async () => ((await (await fetch(`${base}/v1/shardmap`)).json()) as { version: string }).version;

  // An Envoy-like ADS client that ACKs everything: CDS, EDS, LDS, RDS.
  const envoy = new XdsTestClient({ port: listening.xdsPort, node: { id: 'envoy-1', userAgentName: 'envoy', locality: { region: 'r', zone: 'z0', subZone: 'nvl-0' } } });
  clients.push(envoy);
  envoy.request('cluster');
  const cds = await envoy.expect('cluster');
  envoy.ack('cluster');
  envoy.request('endpoint', cds.resources.flatMap((r) => referencedNames(r.message)));
  const eds = await envoy.expect('endpoint');
  envoy.ack('endpoint');
  envoy.request('listener');
  const lds = await envoy.expect('listener');
  envoy.ack('listener');
  envoy.request('route', lds.resources.flatMap((r) => referencedNames(r.message)));
  await envoy.expect('route');
  envoy.ack('route');
  const v1 = await version();

  // The change: a reweight. The proxy receives a new ClusterLoadAssignment and ACKs it.
  await topo.write(fourNodeTopology([10, 10, 10, 40]));
  const moved = await envoy.expect('endpoint', 10_000);
  assert.notEqual(moved.version, eds.version);
  envoy.ack('endpoint');

  const { root, children } = await eventually('the change trace with sharding, rebuild and an ACKed push', () => changeTrace(receiver.spans, 'file'), { timeoutMs: 15_000 });
  assert.equal(root.parentSpanId, '', 'keyway.change is the root');
  assert.equal(root.resource['service.name'], 'keyway-change-trace-test');
  assert.equal(root.attributes['keyway.change.outcome'], 'converged');
  assert.match(String(root.attributes['keyway.change.reason']), /^topology file changed; shard map \S+ published \(\d+ shards moved\)$/);
  const v2 = await version();
  assert.notEqual(v2, v1);
  assert.equal(root.attributes['keyway.shardmap.version'], v2);
  for (const c of children) {
    assert.equal(c.parentSpanId, root.spanId, `${c.name} is a child of keyway.change`);
    assert.ok(c.startNs >= root.startNs && c.endNs <= root.endNs, `${c.name} lies within keyway.change`);
  }
  const sharding = children.filter((s) => s.name === 'keyway.sharding');
  const rebuild = children.filter((s) => s.name === 'keyway.xds.rebuild');
  const pushes = children.filter((s) => s.name === 'keyway.xds.push');
  assert.equal(sharding.length, 1);
  assert.equal(rebuild.length, 1);
  assert.ok(['full', 'incremental'].includes(String(sharding[0]!.attributes['keyway.sharding.mode'])));
  assert.ok(sharding[0]!.endNs <= rebuild[0]!.startNs, 'the shard map is computed before the snapshots are rebuilt');
  assert.deepEqual(
    pushes.map((p) => [p.attributes['keyway.proxy.id'], p.attributes['keyway.xds.type'], p.attributes['keyway.xds.answer'], p.attributes['keyway.xds.version']]),
    [['envoy-1', 'endpoint', 'ack', moved.version]],
    'one EDS push to envoy-1, ended by its ACK',
  );
  assert.ok(rebuild[0]!.startNs <= pushes[0]!.startNs, 'the push is written during the rebuild');
  assert.equal(pushes[0]!.endNs, root.endNs, 'the change ends at the last ACK');
  assert.ok(pushes[0]!.events.some((e) => e.name === 'ack'));

  // Two computations so far (the start and the edit).
  const metrics = await eventually('two shard-map computations in /metrics', async () => {
    const exp = await scrape();
    return exp.value(`${N.shardMapComputeDuration}_count`) >= 2 ? exp : undefined;
  });
  assert.ok(metrics.value(`${N.shardMapComputeDuration}_sum`) > 0, 'computing takes some time');

  // An invalid file: counted as a file source error; the last good map is still served.
  const errorsBefore = metrics.value(N.sourceErrors, { source: 'file' });
  await topo.write('shards: [not, a, number\n');
  await eventually('keyway_source_errors_total{source="file"} to count the invalid file', async () =>
    (await scrape()).value(N.sourceErrors, { source: 'file' }) >= errorsBefore + 1);
  assert.equal(errorsBefore, 0, 'no source error before the invalid file');
  assert.equal(await version(), v2, 'the last good shard map stays in force');
  const stale = await scrape();
  assert.equal(stale.value(N.sourceStale, { source: 'file' }), 1);
  assert.equal(stale.value(`${N.shardMapComputeDuration}_count`), metrics.value(`${N.shardMapComputeDuration}_count`), 'an invalid file computes nothing');

  child.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  assert.equal(code, 0, stderr);
});
