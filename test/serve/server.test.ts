import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers/promises';
import { startServer, type RunningServer, type ServeStage, type ServingView } from '../../src/app/index.js';
import { ADMIN_SHUTDOWN_GRACE_MS } from '../../src/app/runner.js';
import { KeywayError, KeywayErrors } from '../../src/core/errors.js';
import type { SourceStatus } from '../../src/sources/source.js';
import { SetSource } from '../app/set-source.js';
import { captureLogs, tempTopology, topologyText } from './support.js';
import { eventually } from '../support/eventually.js';

const FAST = { debounce: { holdOffMs: 20, maxDelayMs: 100 }, pollIntervalMs: 100 };

async function serve(file: string, extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<RunningServer> {
  return startServer({ configFile: file, httpPort: 0, host: '127.0.0.1', fileWatch: FAST, ...extra });
}

async function get(server: RunningServer, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${server.httpPort}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('a reload of a bad file keeps the previous map served over REST; a good one replaces it', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true] }));
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  assert.ok(records.some((r) => r.msg === 'listening' && r.httpPort === server.httpPort));
  const first = await get(server, '/v1/shardmap');
  assert.equal(first.status, 200);
  const v1 = first.body.version;
  const sourceErrors: [string, Error][] = [];
  server.state.onSourceError((source, err) => sourceErrors.push([source, err]));

  // Line 23: after 4 header lines and 3 endpoints of 6 lines each.
  await topo.write(topologyText({ ready: [true, true, true], extra: 'service: "two words"' }));
  const stale = await eventually('the rejection in /readyz', async () => {
    const r = await get(server, '/readyz');
    return r.body.stale === true ? r : undefined;
  });
  assert.equal(stale.status, 200, 'the last good map still has owners');
  const [fileStatus] = stale.body.sources as SourceStatus[];
  assert.equal(fileStatus!.healthy, false);
  assert.match(fileStatus!.lastError!, /^\/.*\/topology\.yaml:23:1: service: must be 1 to 253 letters/);
  const during = await get(server, '/v1/shardmap');
  assert.equal(during.body.version, v1);
  assert.equal(during.body.stale, true);
  assert.ok(records.some((r) => r.level === 50 && r.msg.includes('keeping the last good topology')));
  assert.deepEqual(sourceErrors.map(([source, err]) => [source, err.message]), [['file', fileStatus!.lastError]], 'the runner forwards the failure');

  await topo.write(topologyText({ ready: [true, true, true, true] }));
  const after = await eventually('the new map', async () => {
    const r = await get(server, '/v1/shardmap');
    return r.body.version !== v1 ? r : undefined;
  });
  assert.equal((after.body.endpoints as unknown[]).length, 4);
  assert.equal(after.body.stale, false);
  const changes = await get(server, '/v1/changes');
  assert.equal((changes.body.changes as { fromVersion: string }[])[0]!.fromVersion, v1);
});

test('fewer ready endpoints than R: a warning is logged and each shard gets as many owners as exist', async (t) => {
  const topo = await tempTopology(topologyText({ replicas: 3, ready: [true, true, false] }));
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const { body } = await get(server, '/v1/shardmap');
  const shards = body.shards as { owners: string[] }[];
  assert.ok(shards.every((s) => s.owners.length === 2 && !s.owners.includes('e2')));
  const warning = records.find((r) => r.level === 40 && /only 2 eligible endpoints for 3 replicas/.test(r.msg));
  assert.ok(warning, `no warning among: ${records.map((r) => r.msg).join(' | ')}`);
  assert.equal((await get(server, '/readyz')).status, 200);
});

test('a costly route shape for the shard count is warned about at start and again only when a reload changes it', async (t) => {
  const subset = topologyText({ shards: 4096 });
  const topo = await tempTopology(subset);
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const warned = (): number => records.filter((r) => r.level === 40 && r.msg.startsWith('shards: 4096 with envoy.routeShape: subset:')).length;
  assert.equal(warned(), 1, `one warning at start among: ${records.map((r) => r.msg).join(' | ')}`);
  const version = async (): Promise<unknown> => (await get(server, '/v1/shardmap')).body.version;
  // Each reload changes the endpoints, so the map's version tells when it was applied.
  const reload = async (text: string): Promise<void> => {
    const before = await version();
    await topo.write(text);
    await eventually('the reload applied', async () => ((await version()) !== before ? true : undefined));
  };
  await reload(topologyText({ shards: 4096, ready: [true, true, true, true] }));
  assert.equal(warned(), 1, 'same settings: not repeated');
  await reload(topologyText({ shards: 4096, extra: 'envoy:\n  routeShape: table' }));
  assert.equal(warned(), 1, 'the table shape: nothing to warn about');
  await reload(topologyText({ shards: 4096, ready: [true, true] }));
  assert.equal(warned(), 2, 'back to subset: warned again');
});

test('zero ready endpoints: /readyz 503 with the reason; one turning ready makes it 200', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [false, false] }));
  const server = await serve(topo.file);
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const r = await get(server, '/readyz');
  assert.equal(r.status, 503);
  assert.equal(r.body.ready, false);
  assert.match(r.body.reason as string, /every shard is without owners/);
  assert.ok((r.body.warnings as string[]).some((w) => /no eligible endpoints/.test(w)));
  assert.equal((await get(server, '/healthz')).status, 200);

  await topo.write(topologyText({ ready: [false, true] }));
  await eventually('ready', async () => (await get(server, '/readyz')).status === 200);
});

test('one endpoint changed: incremental update; a policy change: full; subscribers see each view with its diff', async (t) => {
  const topo = await tempTopology(topologyText({ ready: [true, true, true] }));
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const seen: { view: ServingView; previous: ServingView | undefined }[] = [];
  server.state.onShardMap((view, previous) => seen.push({ view, previous }));
  const v1 = server.state.current()!;
  assert.equal(v1.sequence, 1);
  assert.deepEqual([v1.cause?.source, v1.cause?.reason, v1.cause?.mode], ['start', 'start', 'full']);

  await topo.write(topologyText({ ready: [true, true, true], weights: [10, 10, 30] }));
  await eventually('the reweight', () => seen.length === 1);
  const published = records.filter((r) => r.msg === 'shard map published');
  assert.equal(published.at(-1)!.mode, 'incremental');
  const { view, previous } = seen[0]!;
  assert.equal(previous, v1);
  assert.equal(view.sequence, 2);
  assert.equal(view.diff!.fromVersion, v1.map.version);
  assert.ok(view.diff!.moves.length > 0);
  assert.ok(view.diff!.moves.every((m) => m.to.includes('e2')), 'a heavier e2 only gains shards');
  const cause = view.cause!;
  assert.deepEqual([cause.source, cause.reason, cause.mode], ['file', 'topology file changed', 'incremental']);
  assert.ok(cause.detectedAt <= cause.computeStartedAt && cause.computeStartedAt <= view.updatedAt, 'event, computation, publication in order');
  assert.ok(Number.isFinite(cause.computeSeconds) && cause.computeSeconds >= 0 && cause.computeSeconds * 1000 <= view.updatedAt.getTime() - cause.computeStartedAt.getTime() + 1);
  assert.equal(published.at(-1)!.computeSeconds, cause.computeSeconds, 'the log line shows the compute time');

  await topo.write(topologyText({ shards: 128, ready: [true, true, true], weights: [10, 10, 30] }));
  await eventually('the new S', () => seen.length === 2);
  assert.equal(records.filter((r) => r.msg === 'shard map published').at(-1)!.mode, 'full');
  assert.equal(server.state.current()!.map.owners.length, 128);

  // A settings-only change publishes a view with the same map and new xDS settings.
  await topo.write(topologyText({ shards: 128, ready: [true, true, true], weights: [10, 10, 30], extra: 'envoy: {listenerPort: 10001}' }));
  await eventually('the settings change', () => seen.length === 3);
  assert.equal(seen[2]!.view.map.version, seen[1]!.view.map.version);
  assert.equal(seen[2]!.view.topology.xds.envoy.listenerPort, 10001);
  assert.equal(seen[2]!.view.diff!.moves.length, 0);
  assert.deepEqual([seen[1]!.view.cause?.mode, seen[2]!.view.cause?.mode], ['full', 'unchanged']);
});

test('an invalid file at start rejects with every located problem and leaves nothing listening', async (t) => {
  const topo = await tempTopology('shards: 0\nendpoints:\n  - id: a\n    port: 1\n');
  t.after(() => topo.cleanup());
  await assert.rejects(serve(topo.file), (err: unknown) => {
    assert.ok(err instanceof KeywayErrors);
    assert.deepEqual(
      err.errors.map((e) => [e.code, e.location.field, e.location.line]),
      [
        ['CONFIG_INVALID', 'shards', 1],
        ['CONFIG_INVALID', 'endpoints[0].address', 3],
      ],
    );
    return true;
  });
});

test('stages: started with the first view, their routes served, closed on shutdown', async (t) => {
  const topo = await tempTopology(topologyText());
  const events: string[] = [];
  const stage: ServeStage = {
    name: 'fake-xds',
    async start(ctx) {
      events.push(`start:${ctx.xdsPort}:${ctx.state.current()!.sequence}`);
      const off = ctx.state.onShardMap((v) => events.push(`view:${v.sequence}`));
      return {
        listening: { xdsPort: 4242 },
        readers: { proxies: { proxies: () => [], proxy: () => undefined, configDump: () => undefined, nodeIds: () => new Set<string>() } },
        async close() {
          off();
          events.push('close');
        },
      };
    },
  };
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { stages: [stage], xdsPort: 0, logger });
  t.after(() => topo.cleanup());
  assert.deepEqual(server.listening, { httpPort: server.httpPort, xdsPort: 4242 });
  assert.ok(records.some((r) => r.msg === 'listening' && r.xdsPort === 4242));
  assert.deepEqual((await get(server, '/v1/proxies')).body, { proxies: [] });
  await topo.write(topologyText({ ready: [true, true, false] }));
  await eventually('the second view', () => events.includes('view:2'));
  await server.close();
  assert.deepEqual(events, ['start:0:1', 'view:2', 'close']);
  await assert.rejects(fetch(`http://127.0.0.1:${server.httpPort}/healthz`));
});

/** A stand-in for the Kubernetes source: endpoints set by the test, its API server unreachable. */
class FakeSource extends SetSource {
  started = false;
  stopped = false;
  readonly errorListeners = new Set<(err: Error) => void>();
  override async start() {
    this.started = true;
  }
  override async stop() {
    this.stopped = true;
  }
  override status(): SourceStatus {
    return { kind: 'kubernetes', healthy: false, stale: true, lastError: 'API server unreachable' };
  }
  onError(l: (err: Error) => void) {
    this.errorListeners.add(l);
    return () => this.errorListeners.delete(l);
  }
  fail(err: Error) {
    for (const l of this.errorListeners) l(err);
  }
}

test('kubernetes: the factory gets the raw section; its endpoints feed the map; status shows in /readyz', async (t) => {
  const topo = await tempTopology('shards: 16\nreplicas: 1\nkubernetes:\n  services: [cache]\n');
  const fake = new FakeSource();
  let section: unknown;
  const server = await serve(topo.file, {
    kubernetesSource: (s) => {
      section = s.value;
      assert.equal(s.locate(['services', 0]).line, 4);
      return fake;
    },
  });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  assert.deepEqual(section, { services: ['cache'] });
  assert.ok(fake.started);
  assert.equal((await get(server, '/readyz')).status, 503);
  const sourceErrors: string[] = [];
  server.state.onSourceError((source, err) => sourceErrors.push(`${source}: ${err.message}`));
  fake.fail(new Error('API server unreachable'));
  assert.deepEqual(sourceErrors, ['kubernetes: API server unreachable']);
  const before = new Date();
  fake.set([{ id: 'pod-0', address: '10.1.0.5', port: 8000, locality: { region: '', zone: 'z', subzone: '' }, weight: 1, ready: true }]);
  await eventually('the pod to own shards', () => server.state.current()!.map.owners[0]![0] === 'pod-0');
  const cause = server.state.current()!.cause!;
  assert.deepEqual([cause.source, cause.reason], ['kubernetes', 'endpoints changed']);
  assert.ok(cause.detectedAt >= before && cause.detectedAt <= cause.computeStartedAt);
  const ready = await get(server, '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(
    (ready.body.sources as SourceStatus[]).map((s) => s.kind),
    ['file', 'kubernetes'],
  );
  assert.equal(ready.body.stale, true);
  await server.close();
  assert.ok(fake.stopped);
  assert.equal(fake.errorListeners.size, 0, 'the runner unsubscribes on close');
});

test('kubernetes: without a factory, start fails at the section', async (t) => {
  const topo = await tempTopology('kubernetes:\n  services: [cache]\n');
  t.after(() => topo.cleanup());
  await assert.rejects(serve(topo.file), (err: unknown) => {
    assert.ok(err instanceof KeywayError);
    assert.equal(err.location.field, 'kubernetes');
    assert.equal(err.location.line, 1);
    return true;
  });
});

test('shutdown: a REST client holding a partly sent request gets the grace, then its connection is closed', async (t) => {
  const topo = await tempTopology(topologyText());
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  const socket = connect(server.httpPort, '127.0.0.1');
  t.after(async () => {
    socket.destroy(); // lets a close() stuck on the connection finish
    await server.close();
    await topo.cleanup();
  });
  await once(socket, 'connect');
  const ended = once(socket, 'close');
  socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'); // no final blank line: never a whole request
  await eventually('the server holds the connection', () =>
    new Promise<boolean>((resolve) => server.admin.server.getConnections((_err, n) => resolve(n === 1))),
  );
  const t0 = performance.now();
  const bound = ADMIN_SHUTDOWN_GRACE_MS + 3000;
  const outcome = await Promise.race([server.close().then(() => 'closed'), setTimeout(bound, `close() still waiting after ${bound} ms`, { ref: false })]);
  const took = performance.now() - t0;
  assert.equal(outcome, 'closed');
  assert.ok(took >= ADMIN_SHUTDOWN_GRACE_MS - 50, `the request under way had its grace (closed after ${Math.round(took)} ms)`);
  await ended;
  assert.ok(records.some((r) => r.msg.startsWith('admin REST connections closed after the shutdown grace')));
});

test('a reload that changes only handoff settings takes effect', async (t) => {
  const topo = await tempTopology(topologyText());
  const server = await serve(topo.file);
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  assert.equal(server.state.current()!.handoff?.enabled, true);
  await topo.write(topologyText({ extra: 'handoff: {enabled: false}' }));
  await eventually('handoff off', () => server.state.current()!.handoff?.enabled === false);
});

test('a reload that changes shards is applied with a warning naming both values and the share of keys that move', async (t) => {
  const topo = await tempTopology(topologyText({ shards: 64 }));
  const { logger, records } = captureLogs();
  const server = await serve(topo.file, { logger });
  t.after(async () => {
    await server.close();
    await topo.cleanup();
  });
  const warnings = () => records.filter((r) => r.level === 40 && /^shards changed from/.test(r.msg));
  await topo.write(topologyText({ shards: 64, ready: [true, true, true, true] }));
  await eventually('the fourth endpoint', () => server.state.current()!.map.endpoints.length === 4);
  assert.equal(warnings().length, 0, 'the same S: no warning');

  await topo.write(topologyText({ shards: 128 }));
  await eventually('S = 128', () => server.state.current()!.map.policy.shardCount === 128);
  const [doubled] = warnings();
  assert.ok(doubled, `no warning among: ${records.map((r) => r.msg).join(' | ')}`);
  assert.deepEqual([doubled.fromShards, doubled.toShards, doubled.keysKeepingTheirShard], [64, 128, 0.5]);
  assert.match(doubled.msg, /^shards changed from 64 to 128 on reload: .* about 50\.0 % of all keys now map to another shard/);

  // 128 -> 100: a key keeps its shard only if its hash mod 3200 is below 100.
  await topo.write(topologyText({ shards: 100 }));
  await eventually('S = 100', () => server.state.current()!.map.policy.shardCount === 100);
  assert.equal(warnings().length, 2);
  assert.match(warnings()[1]!.msg, /^shards changed from 128 to 100 on reload: .* about 96\.9 % of all keys/);
});
