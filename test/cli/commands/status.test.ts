/**
 * `keyway status`'s table (docs/cli.md) over rows built by the xDS stage's own registry: ownership
 * agents, the per-type summary, NACK texts, and strings from proxies that hold control characters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadyzBody } from '../../../src/admin/api-types.js';
import type { ProxyStatus } from '../../../src/core/proxy.js';
import { renderStatus } from '../../../src/cli/commands/status.js';
import { runClientCommand } from '../../../src/cli/commands/index.js';
import { captureIo, fakeServer } from './fake-server.js';
import { proxyRegistry } from './proxy-fixture.js';

const READYZ: ReadyzBody = { ready: true, status: 'ready', reasons: [], stale: false, sources: [] };

const render = (proxies: readonly ProxyStatus[]): string => renderStatus({ server: 'http://127.0.0.1:1/', readyz: READYZ, proxies }, Date.now());
const rowOf = (out: string, id: string): string[] => out.split('\n').find((l) => l.startsWith(`${id} `))!.split(/\s+/);

test('an ownership agent: its row shows its assignment state, the summary counts it once, its NACK is listed', () => {
  const proxies = proxyRegistry({ agent: { nack: 'assignment rejected: shard 9 unknown' } }).proxies();
  const agent = proxies.find((p) => p.flavor === 'agent')!;
  assert.deepEqual(Object.keys(agent.types), ['assignment'], 'the premise: an agent row lists assignment only');
  const out = render(proxies);
  const header = out.split('\n').find((l) => l.startsWith('PROXY'))!.split(/\s{2,}/);
  assert.deepEqual(header.slice(4, 9), ['CDS', 'EDS', 'LDS', 'RDS', 'ASSIGNMENT']);
  // CDS..RDS do not apply to an agent; ASSIGNMENT does not apply to Envoy or gRPC.
  assert.deepEqual(rowOf(out, agent.id).slice(4, 9), ['-', '-', '-', '-', agent.types.assignment!.status]);
  const envoy = proxies.find((p) => p.flavor === 'envoy')!;
  assert.deepEqual(rowOf(out, envoy.id).slice(4, 9), [...(['cluster', 'endpoint', 'listener', 'route'] as const).map((k) => envoy.types[k]!.status), '-']);
  // The summary counts each kind a proxy is served, as the rows say.
  const counts = new Map<string, number>();
  for (const p of proxies) for (const t of Object.values(p.types)) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const summary = out.split('\n').find((l) => l.includes('; per type: '))!;
  assert.equal(summary, `${proxies.length} proxies; per type: ${[...counts].map(([s, n]) => `${n} ${s}`).join(', ')}`);
  assert.doesNotMatch(summary, /NOT_SENT/);
  const nack = agent.types.assignment!.lastNack!;
  assert.ok(out.includes(`\n  ${agent.id} ASSIGNMENT rejected version ${nack.version} at ${nack.at}: assignment rejected: shard 9 unknown\n`), out);
});

test('without an agent the table keeps its four xDS columns; one proxy is "1 proxy"', () => {
  const proxies = proxyRegistry().proxies();
  const out = render(proxies);
  assert.match(out, /\nPROXY\s+FLAVOR\s+CLUSTER\s+LOCALITY\s+CDS\s+EDS\s+LDS\s+RDS\s+EDS VERSION\s+AGE\n/);
  assert.match(render(proxies.slice(0, 1)), /\n1 proxy; per type: 4 SYNCED\n/);
});

test('control characters from proxies (ids, locality, NACK texts) are escaped: no terminal escapes, no extra lines', () => {
  const [envoy, grpc] = proxyRegistry().proxies() as [ProxyStatus, ProxyStatus];
  const route = grpc.types.route!;
  const hostile: ProxyStatus = {
    ...grpc,
    id: 'grpc\u001b[2J',
    locality: { region: 'r', zone: 'z\nfake-row', subzone: 'f' },
    types: { ...grpc.types, route: { ...route, lastNack: { ...route.lastNack!, message: 'bad\u001b]0;title\u0007\r\nNACKs:\u009b31m' } } },
  };
  const out = render([envoy, hostile]);
  const controls = [...out].filter((c) => c !== '\n' && /\p{Cc}/u.test(c));
  assert.deepEqual(controls, [], 'no control character but the line breaks of the layout');
  assert.equal(out.split('\n').filter((l) => l.startsWith('NACKs:')).length, 1);
  assert.ok(out.includes('grpc\\e[2J  grpc'), out);
  assert.ok(out.includes('r/z\\nfake-row/f'), out);
  assert.ok(out.includes(': bad\\e]0;title\\x07\\r\\nNACKs:\\x9b31m\n'), out);
  // The layout: header, one line per proxy.
  const table = out.split('\n\n')[1]!.split('\n');
  assert.equal(table.length, 3);
});

test('strings in /readyz (degraded reasons, source errors, warnings) are escaped too', () => {
  const readyz: ReadyzBody = {
    ...READYZ,
    status: 'degraded',
    reasons: [{ code: 'source_stale', message: 'x\u001b[31my' } as ReadyzBody['reasons'][number]],
    sources: [{ kind: 'file', healthy: false, stale: true, lastError: 'e\nf' }],
    warnings: ['w\u0007'],
  };
  const out = renderStatus({ server: 'http://127.0.0.1:1/', readyz, proxies: [] }, Date.now());
  assert.ok(out.includes('degraded: source_stale: x\\e[31my\n'), out);
  assert.ok(out.includes('source file: UNHEALTHY, STALE (serving the last good map): e\\nf\n'), out);
  assert.ok(out.includes('warning: w\\x07\n'), out);
});

test('exit status: 1 when keyway answers 503 (not ready), after the whole report; 0 when ready or degraded (it still serves)', async (t) => {
  const notReady: ReadyzBody = { ready: false, status: 'not-ready', reason: 'no endpoints: every shard is without owners', reasons: [], stale: false, sources: [] };
  const degraded: ReadyzBody = { ...READYZ, status: 'degraded', reasons: [{ code: 'snapshot_rejected', message: 'keyway refused the latest snapshot of 1 proxy class' }] };
  const serve = async (readyz: ReadyzBody): Promise<string> => {
    const s = await fakeServer({ '/readyz': { status: readyz.ready ? 200 : 503, body: JSON.stringify(readyz) }, '/v1/proxies': { status: 404, body: '{"error":{"code":"NOT_FOUND","message":"no"}}' } });
    t.after(() => s.close());
    return s.url;
  };

  const down = await serve(notReady);
  let io = captureIo();
  assert.equal(await runClientCommand('status', ['--server', down], {}, io), 1, io.stderr);
  assert.match(io.stdout, /: NOT READY \(no endpoints: every shard is without owners\)\n/);
  assert.match(io.stdout, /proxies: not available/, 'the whole report is printed');
  assert.equal(io.stderr, `keyway status: keyway at ${down}/ is not ready: no endpoints: every shard is without owners\n`);
  io = captureIo();
  assert.equal(await runClientCommand('status', ['--server', down, '-o', 'json'], {}, io), 1);
  assert.equal(JSON.parse(io.stdout).readyz.ready, false, 'JSON output stays whole');

  for (const readyz of [degraded, READYZ]) {
    io = captureIo();
    assert.equal(await runClientCommand('status', ['--server', await serve(readyz)], {}, io), 0, io.stderr);
    assert.equal(io.stderr, '');
  }
});
