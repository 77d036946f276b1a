/**
 * Hostile input to a running `keyway serve` (docs/security.md "REST requests"): REST requests that
 * Node's HTTP parser or fastify's router refuse, sent as raw bytes in bulk, each answered with the
 * documented error body while /healthz keeps answering; and topology reloads whose YAML aliases
 * would blow up (a "billion laughs") or take seconds to resolve (20,000 aliases), each refused
 * with its file:line while the last good map stays in force.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startKeyway, type KeywayProcess } from '../support/keyway.js';
import { rssBytes, watchHealthz } from '../support/stall.js';
import { httpGetText } from '../support/http.js';
import { eventually } from '../../test/support/eventually.js';

const ERROR_CODES = ['BAD_ARGUMENT', 'NOT_FOUND', 'LIMIT_EXCEEDED', 'INTERNAL', 'UNAUTHENTICATED'];

const TOPOLOGY = `shards: 64
replicas: 2
endpoints:
  - {id: a, address: 10.0.0.1, port: 7000}
  - {id: b, address: 10.0.0.2, port: 7000}
  - {id: c, address: 10.0.0.3, port: 7000}
`;

/** One raw request on its own connection: the status and the parsed body (or the text when not JSON). */
function raw(port: number, request: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const [head = '', ...rest] = text.split('\r\n\r\n');
      let body: unknown = rest.join('\r\n\r\n');
      try {
        body = JSON.parse(body as string);
      } catch {
        // kept as text, shown by the assertion
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body });
    });
    setTimeout(() => socket.destroy(), 10_000).unref();
  });
}

describe('hostile input to keyway serve', () => {
  let dir: string;
  let topologyPath: string;
  let keyway: KeywayProcess;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-adv-inputs-'));
    topologyPath = path.join(dir, 'topology.yaml');
    writeFileSync(topologyPath, TOPOLOGY);
    keyway = await startKeyway({ configPath: topologyPath });
  });
  after(async () => {
    await keyway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('refused REST requests in bulk: every answer is the documented body with a fitting code; /healthz never stalls', async (t) => {
    const hostile: { what: string; request: string; status: number; code: string }[] = [
      { what: 'headers over 16 KiB', request: `GET /v1/shardmap HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'a'.repeat(64 * 1024)}\r\n\r\n`, status: 431, code: 'LIMIT_EXCEEDED' },
      { what: 'not HTTP', request: '\u0000\u0001garbage\r\n\r\n', status: 400, code: 'BAD_ARGUMENT' },
      { what: 'undecodable URL', request: 'GET /v1/shards/%zz%00 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', status: 404, code: 'NOT_FOUND' },
      { what: 'long parameter', request: `GET /v1/shards/${'9'.repeat(5000)} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`, status: 414, code: 'LIMIT_EXCEEDED' },
      { what: 'unknown route', request: 'GET /../../etc/passwd HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', status: 404, code: 'NOT_FOUND' },
      // keyway listens on loopback here: a name that is not loopback is a rebinding page's (docs/security.md).
      { what: 'a Host that is not loopback', request: 'GET /v1/shardmap HTTP/1.1\r\nHost: rebind.example\r\nConnection: close\r\n\r\n', status: 403, code: 'BAD_ARGUMENT' },
    ];
    const rssBefore = rssBytes(keyway.pid());
    const watch = watchHealthz(keyway.httpUrl);
    const ROUNDS = 40;
    for (let round = 0; round < ROUNDS; round++) {
      const answers = await Promise.all(hostile.map((h) => raw(keyway.httpPort, h.request)));
      answers.forEach((a, i) => {
        const h = hostile[i]!;
        const body = a.body as { error?: { code?: string; message?: string } };
        assert.equal(a.status, h.status, `${h.what}: status (body ${JSON.stringify(a.body).slice(0, 200)})`);
        assert.ok(body?.error && ERROR_CODES.includes(body.error.code ?? ''), `${h.what}: {error: {code, message}}, got ${JSON.stringify(a.body).slice(0, 200)}`);
        assert.equal(body.error.code, h.code, `${h.what}: code`);
        assert.ok((body.error.message ?? '').length > 0, `${h.what}: message`);
      });
    }
    const stall = await watch.stop();
    const grownMiB = (rssBytes(keyway.pid()) - rssBefore) / 2 ** 20;
    t.diagnostic(`/healthz max gap ${stall.maxGapMs} ms over ${stall.answers} answers; RSS +${grownMiB.toFixed(1)} MiB`);
    assert.ok(stall.maxGapMs < 5000, `/healthz gap ${stall.maxGapMs} ms`);
    assert.equal(stall.failures, 0, 'every /healthz poll answered');
    assert.ok(grownMiB < 100, `RSS grew ${grownMiB.toFixed(1)} MiB over ${ROUNDS * hostile.length} refused requests`);
    assert.ok(keyway.running());
  });

  test('a "billion laughs" reload is refused at its line (CONFIG_PARSE), the last good map stays, /healthz never stalls', async (t) => {
    const version = (JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as { version: string }).version;
    const levels = ['  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 12; i++) levels.push(`  l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
    const watch = watchHealthz(keyway.httpUrl);
    const tmp = path.join(dir, '.laughs.tmp');
    writeFileSync(tmp, `${TOPOLOGY}bomb:\n${levels.join('\n')}\n`);
    renameSync(tmp, topologyPath);
    type Ready = { sources: { kind: string; stale: boolean; lastError?: string }[] };
    const file = await eventually(
      'the reload refused',
      async () => (JSON.parse(await httpGetText(`${keyway.httpUrl}/readyz`)) as Ready).sources.find((s) => s.kind === 'file'),
      { accept: (s) => s?.stale === true, timeoutMs: 15_000 },
    );
    const stall = await watch.stop();
    t.diagnostic(`/healthz max gap ${stall.maxGapMs} ms over ${stall.answers} answers`);
    // The first alias is on line 9: six lines of topology, `bomb:`, l0, then l1 with `*l0`.
    assert.match(file!.lastError ?? '', new RegExp(`^${topologyPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:\\d+: invalid YAML: the file's aliases expand`), file!.lastError);
    assert.equal((JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as { version: string }).version, version, 'the last good map stays');
    assert.ok(stall.maxGapMs < 5000, `/healthz gap ${stall.maxGapMs} ms`);
    assert.ok(keyway.running());
  });

  test('a reload with 20,000 aliases is refused at the 1001st without stalling /healthz (they cost O(n^2) to resolve)', async (t) => {
    type Ready = { sources: { kind: string; stale: boolean; lastError?: string }[] };
    const fileSource = async (): Promise<Ready['sources'][number] | undefined> =>
      (JSON.parse(await httpGetText(`${keyway.httpUrl}/readyz`, 60_000)) as Ready).sources.find((s) => s.kind === 'file');
    const write = (text: string): void => {
      const tmp = path.join(dir, '.next.tmp');
      writeFileSync(tmp, text);
      renameSync(tmp, topologyPath);
    };
    write(TOPOLOGY); // back to the good file, so the refusal below is this test's
    await eventually('the good file in force', fileSource, { accept: (s) => s?.stale === false, timeoutMs: 15_000 });
    const version = (JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as { version: string }).version;
    // 400 anchors used 50 times each (the yaml library refuses 100 uses of one anchor), dense:
    // about 150 KB, so parsing the text is cheap and resolving the aliases is the cost.
    const lines = [TOPOLOGY.trimEnd(), 'defs:'];
    for (let a = 0; a < 400; a++) lines.push(`  - &z${a} {zone: z${a}}`);
    lines.push('refs:');
    for (let a = 0; a < 400; a++) lines.push(`  - [${Array.from({ length: 50 }, () => `*z${a}`).join(', ')}]`);
    const watch = watchHealthz(keyway.httpUrl);
    write(`${lines.join('\n')}\n`);
    const file = await eventually('the reload refused', fileSource, { accept: (s) => s?.stale === true, timeoutMs: 60_000 });
    const stall = await watch.stop();
    t.diagnostic(`/healthz max gap ${stall.maxGapMs} ms over ${stall.answers} answers`);
    assert.match(file!.lastError ?? '', /:\d+:\d+: invalid YAML: more than 1000 aliases/, file!.lastError);
    assert.equal((JSON.parse(await httpGetText(`${keyway.httpUrl}/v1/shardmap`)) as { version: string }).version, version, 'the last good map stays');
    // Resolving 20,000 aliases took about 13 s of event loop; refusing them takes a parse.
    assert.ok(stall.maxGapMs < 5000, `/healthz gap ${stall.maxGapMs} ms`);
    assert.ok(keyway.running());
  });
});
