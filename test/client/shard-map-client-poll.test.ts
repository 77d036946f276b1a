// ShardMapClient's poll timer: each wait is drawn within ±10 % of pollIntervalMs, so clients started
// together do not poll (and fetch a new map) in step; after failed polls the wait doubles up to
// maxBackoffMs, so thousands of clients do not hammer a keyway that is down, and the first good poll
// returns to pollIntervalMs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient, DEFAULT_MAX_BACKOFF_MS, POLL_JITTER, KeywayError } from '../../src/client/index.js';
import { pollDelay } from '../../src/client/shard-map-client.js';
import { eventually } from '../support/eventually.js';
import { listenForTest } from '../support/loopback-server.js';

/** A keyway stand-in that logs when each /readyz arrives; `broken` answers 500. */
async function fakeKeyway(t: TestContext): Promise<{ baseUrl: string; polls: number[]; broken: boolean; version: string }> {
  const fake = { baseUrl: '', polls: [] as number[], broken: false, version: 'v1' };
  const server = createServer((req, res) => {
    const send = (code: number, body: unknown): void => void res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/v1/shardmap') return send(200, { version: fake.version, shardCount: 1, shards: [{ shard: 0, owners: ['a'] }], endpoints: [{ id: 'a', address: '127.0.0.1', port: 7000, weight: 1 }] });
    fake.polls.push(performance.now());
    if (fake.broken) return send(500, { error: { code: 'INTERNAL', message: 'down' } });
    send(200, { ready: true, status: 'ready', reasons: [], version: fake.version, shardCount: 1 });
  });
  fake.baseUrl = await listenForTest(t, server);
  return fake;
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((x, i) => x - times[i]!);
}

test('pollDelay: pollIntervalMs within ±10 %, doubled per failure up to maxBackoffMs, within Node timers', () => {
  assert.equal(POLL_JITTER, 0.1);
  assert.equal(DEFAULT_MAX_BACKOFF_MS, 30_000);
  const at = (r: number) => () => r;
  assert.equal(pollDelay(1000, 0, 30_000, at(0)), 900);
  assert.equal(pollDelay(1000, 0, 30_000, at(0.5)), 1000);
  assert.equal(pollDelay(1000, 0, 30_000, at(1)), 1100);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 100, 10_000].map((f) => pollDelay(1000, f, 30_000, at(0.5))), [2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  assert.equal(pollDelay(1000, 100, 30_000, at(0)), 27_000, 'the cap is jittered too');
  // A cap below the interval never shortens it.
  assert.equal(pollDelay(60_000, 3, 30_000, at(0.5)), 60_000);
  // Never past Node's longest timer (a longer one fires after 1 ms), never 0.
  assert.equal(pollDelay(2 ** 31 - 1, 0, 30_000, at(1)), 2 ** 31 - 1);
  assert.equal(pollDelay(1, 0, 1, at(0)), 1);
});

test('ShardMapClient polls on a jittered timer: waits below and above pollIntervalMs as Math.random draws', { timeout: 30_000 }, async (t) => {
  const fake = await fakeKeyway(t);
  const random = t.mock.method(Math, 'random', () => 0);
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 400 });
  t.after(() => client.close());
  await eventually('four polls', () => fake.polls.length >= 4, { timeoutMs: 10_000 });
  // random() 0: 360 ms. A timer never fires tens of ms early, so a wait under 390 ms is the jitter.
  const early = gaps(fake.polls.slice(0, 4));
  assert.ok(Math.min(...early) < 390, `waits ${early.map(Math.round).join(', ')} ms: -10 % of 400 is 360`);

  random.mock.mockImplementation(() => 1 - Number.EPSILON);
  const from = fake.polls.length;
  await eventually('three more polls', () => fake.polls.length >= from + 4, { timeoutMs: 10_000 });
  const late = gaps(fake.polls.slice(from + 1, from + 4));
  assert.ok(Math.min(...late) >= 435, `waits ${late.map(Math.round).join(', ')} ms: +10 % of 400 is 440`);
});

test('ShardMapClient backs off while keyway fails, capped at maxBackoffMs, and is back to pollIntervalMs after a good poll', { timeout: 30_000 }, async (t) => {
  const fake = await fakeKeyway(t);
  const errors: KeywayError[] = [];
  const client = await ShardMapClient.connect({ baseUrl: fake.baseUrl, pollIntervalMs: 20, maxBackoffMs: 160, onError: (e) => errors.push(e) });
  t.after(() => client.close());
  await eventually('polls at the interval', () => fake.polls.length >= 5);

  fake.broken = true;
  const from = fake.polls.length;
  await new Promise((r) => setTimeout(r, 2000));
  const failing = fake.polls.slice(from);
  // 20 ms, then 40, 80, 160, 160, ...: about 14 polls in 2 s, not 100.
  assert.ok(failing.length <= 20, `${failing.length} polls in 2 s while keyway fails`);
  assert.ok(errors.length === failing.length && errors.every((e) => e.code === 'INTERNAL'), String(errors[0]));
  // The cap holds: no wait past 160 ms + 10 % (with room for a loaded machine), where doubling
  // without a cap would wait 320 ms, 640 ms, ... by now.
  const waits = gaps(failing);
  assert.ok(Math.max(...waits) < 176 + 100, `waits ${waits.map(Math.round).join(', ')} ms, capped at 160 ms ±10 %`);
  assert.ok(waits.slice(-3).every((w) => w >= 144 - 2), `the last waits ${waits.slice(-3).map(Math.round).join(', ')} ms are at the cap`);

  // keyway is back with a new map: taken within one capped wait, then polls at the interval again.
  fake.broken = false;
  fake.version = 'v2';
  await eventually('the new map', () => client.version === 'v2', { timeoutMs: 2000 });
  assert.equal(client.lastError, undefined);
  const back = fake.polls.length;
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(fake.polls.length - back >= 8, `${fake.polls.length - back} polls in 500 ms after keyway came back`);
});

test('ShardMapClient refuses an out-of-range maxBackoffMs by name', () => {
  for (const v of [0, -1, 1.5, 2 ** 31, NaN, '30000']) {
    assert.throws(
      () => new ShardMapClient({ baseUrl: 'http://127.0.0.1:1', maxBackoffMs: v as number }),
      (e: unknown) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.location.field === 'maxBackoffMs' && /from 1 to 2147483647/.test(e.message),
      String(v),
    );
  }
});
