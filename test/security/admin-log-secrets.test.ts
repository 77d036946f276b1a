/**
 * What the admin API logs about requests its HTTP parser refuses (src/admin/error-body.ts): the
 * refusal, never the request's bytes. Node's parser error carries them (`rawPacket`), Authorization
 * header and all, so a malformed or oversized request put the admin token in the debug log, and
 * 16 KiB of headers made an 80 KB log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type AddressInfo } from 'node:net';
import { pino } from 'pino';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';

const TOKEN = 'log-secret-token-4242';

/** Sends `bytes` on a new connection and resolves with what came back once it closed. */
function send(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.on('data', (d: Buffer) => void (received += d.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => resolve(received));
  });
}

test('a request the HTTP parser refuses is logged without its bytes: no token, no header values, a short line', async (t) => {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(l) });
  const app = await buildAdminApp(new ServingState(), { logger, token: TOKEN });
  t.after(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const head = `GET /v1/shardmap HTTP/1.1\r\nHost: keyway\r\nAuthorization: Bearer ${TOKEN}\r\n`;
  assert.match(await send(port, `${head}Not A Header\r\n\r\n`), /^HTTP\/1\.1 400 /);
  assert.match(await send(port, `${head}X-Big: ${'v'.repeat(20_000)}\r\n\r\n`), /^HTTP\/1\.1 431 /);

  const refusals = lines.filter((l) => l.includes('admin request refused by the HTTP parser'));
  assert.equal(refusals.length, 2, lines.join('\n'));
  const tokenBytes = [...Buffer.from(TOKEN)].join(',');
  for (const line of refusals) {
    assert.ok(!line.includes(TOKEN) && !line.includes(tokenBytes), `the token is in the log: ${line.slice(0, 300)}`);
    assert.ok(line.length < 1000, `a ${line.length}-character log line`);
  }
  assert.match(refusals[0]!, /"code":"HPE_INVALID_HEADER_TOKEN"/);
  assert.match(refusals[1]!, /"code":"HPE_HEADER_OVERFLOW"/);
});
