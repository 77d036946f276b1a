/**
 * Wrong admin tokens leave a trace (src/admin/auth.ts): a client guessing the token was answered 401
 * and nothing was logged at any level above debug, so an operator could not see it. Once per burst,
 * with the peer and the path, never the header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { buildAdminApp } from '../../src/admin/index.js';
import { ServingState } from '../../src/app/serving-state.js';

const TOKEN = 'the-real-admin-token-7731';
const GUESS = 'guessed-token-5512';

test('wrong tokens are logged once per burst, with the peer and the count, never a token; a missing one is not', async () => {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  const app = await buildAdminApp(new ServingState(), { logger, token: TOKEN });
  // The web view's first call carries no token: not a guess.
  assert.equal((await app.inject({ url: '/v1/shardmap' })).statusCode, 401);
  assert.equal(lines.length, 0, 'a request without the header is not logged');
  for (const authorization of [`Bearer ${GUESS}`, `Bearer ${GUESS}2`, `Basic ${GUESS}`]) {
    const res = await app.inject({ url: '/debug/config_dump?proxy=a', headers: { authorization }, remoteAddress: '192.0.2.7' });
    assert.equal(res.statusCode, 401);
  }
  assert.equal((await app.inject({ url: '/v1/shardmap', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 503, 'the right token passes');
  await app.close(); // ends the burst: its count is logged
  const warn = lines.filter((l) => JSON.parse(l).level === 40);
  assert.equal(warn.length, 1, lines.join('\n'));
  const first = JSON.parse(warn[0]!) as { peer: string; path: string; msg: string };
  assert.match(first.peer, /^192\.0\.2\.7:/);
  assert.equal(first.path, '/debug/config_dump');
  assert.match(first.msg, /admin token it sent does not match/);
  const summary = lines.map((l) => JSON.parse(l) as { level: number; refused?: number }).filter((l) => l.level === 30 && l.refused !== undefined);
  assert.deepEqual(summary.map((l) => l.refused), [3]);
  for (const line of lines) assert.ok(!line.includes(GUESS) && !line.includes(TOKEN), `a token is in the log: ${line}`);
});
