/**
 * An API server shedding load (API Priority and Fairness) answers HTTP 429 with a `Retry-After`.
 * The informers took it for any error and retried on their own backoff (20 ms doubling, in tests;
 * 0.5 s doubling in production), several times inside the second the server asked for. They now
 * wait at least the Retry-After, up to backoff.maxMs, and a catch-up retry does not cut it short
 * (docs/kubernetes-discovery.md "When the API server goes away").
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { retryAfterMs, retryDelay } from '../../../src/sources/kubernetes/backoff.js';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

/** One node with one cache pod, a source watching it (backoff from 20 ms to `maxMs`), all three watches open. */
async function oneNodeCluster(t: TestContext, maxMs: number) {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const running = await startSource(cluster.server, {}, { backoff: { initialMs: 20, maxMs } });
  t.after(() => running.source.stop());
  await eventually('three watches', () => cluster.server.openWatches() === 3);
  return { cluster, running };
}

test('Retry-After read from a 429 or 5xx answer: seconds, an HTTP date, or the Status details', () => {
  // What the generated client throws for a list (ApiException: code, lowercase headers, body).
  assert.equal(retryAfterMs({ code: 429, headers: { 'retry-after': '3' } }, NOW), 3000);
  assert.equal(retryAfterMs({ code: 503, headers: { 'retry-after': ' 2 ' } }, NOW), 2000);
  assert.equal(retryAfterMs({ code: 429, headers: { 'retry-after': new Date(NOW + 4000).toUTCString() } }, NOW), 4000);
  assert.equal(retryAfterMs({ code: 429, headers: { 'retry-after': new Date(NOW - 4000).toUTCString() } }, NOW), 0);
  assert.equal(retryAfterMs({ code: 429, headers: {}, body: '{"kind":"Status","code":429,"details":{"retryAfterSeconds":5}}' }, NOW), 5000);
  assert.equal(retryAfterMs({ code: 429, headers: {}, body: { details: { retryAfterSeconds: 1 } } }, NOW), 1000);
  // None given, unreadable, or not an answer that asks for a wait.
  assert.equal(retryAfterMs({ code: 429, headers: {}, body: 'Too many requests, please try again later.\n' }, NOW), undefined);
  assert.equal(retryAfterMs({ statusCode: 429 }, NOW), undefined, 'a refused watch: the library keeps no headers');
  assert.equal(retryAfterMs({ code: 429, headers: { 'retry-after': 'soon' } }, NOW), undefined);
  assert.equal(retryAfterMs({ code: 429, headers: { 'retry-after': '-1' } }, NOW), undefined);
  assert.equal(retryAfterMs({ code: 403, headers: { 'retry-after': '3' } }, NOW), undefined);
  assert.equal(retryAfterMs(new Error('ECONNREFUSED'), NOW), undefined);
});

test('the retry delay: at least the Retry-After, at most backoff.maxMs', () => {
  const backoff = { initialMs: 500, maxMs: 30_000 };
  const half = (): number => 0; // the lowest draw: half the step
  assert.equal(retryDelay(1, backoff, { code: 429, headers: { 'retry-after': '1' } }, NOW, half), 1000);
  assert.equal(retryDelay(1, backoff, { code: 429, headers: {} }, NOW, half), 250, 'no Retry-After: the backoff');
  assert.equal(retryDelay(8, backoff, { code: 429, headers: { 'retry-after': '1' } }, NOW, half), 15_000, 'a longer backoff wins');
  assert.equal(retryDelay(1, backoff, { code: 429, headers: { 'retry-after': '3600' } }, NOW, half), 30_000, 'capped');
});

// Only a refused list carries its Retry-After to keyway (the client library keeps just the status
// code of a refused watch): an expired watch (410) makes the informer list again.
for (const [what, verb] of [['a refused list', 'list']] as const) {
  test(`${what}: a throttled resource is retried no sooner than its Retry-After`, async (t) => {
    const { cluster, running } = await oneNodeCluster(t, 5000);

    cluster.server.throttle('pods', '1');
    cluster.server.expireWatches();
    await sleep(2_600);
    const throttled = cluster.server.requests.filter((r) => r.resource === 'pods' && r.status === 429);
    assert.equal(throttled[0]?.verb, verb);
    const gaps = throttled.slice(1).map((r, i) => r.at - throttled[i]!.at);
    // On its own backoff the informer came back after 20, 40, 80 ... ms: 7 requests in 2.6 s.
    assert.ok(throttled.length >= 2 && throttled.length <= 3, `${throttled.length} requests in 2.6 s, gaps ${gaps.join(', ')} ms`);
    assert.ok(gaps.every((g) => g >= 950), `gaps ${gaps.join(', ')} ms`);
    const pods = running.source.status().resources.find((r) => r.resource === 'pods')!;
    assert.match(pods.lastError ?? '', /HTTP 429/);

    cluster.server.unthrottle('pods');
    await eventually('pods back', () => running.source.status().resources.every((r) => r.connected), { timeoutMs: 3000 });
    assert.equal(running.source.current().length, 1, 'the endpoints were kept throughout');
  });
}

test('a Retry-After past backoff.maxMs waits backoff.maxMs', async (t) => {
  const { cluster, running } = await oneNodeCluster(t, 300);

  cluster.server.throttle('pods', '3600');
  cluster.server.expireWatches(); // lists again: a refused list carries its Retry-After
  await sleep(1_000);
  cluster.server.unthrottle('pods');
  await eventually('pods back within backoff.maxMs', () => running.source.status().resources.every((r) => r.connected), { timeoutMs: 1000 });
});

test('a catch-up retry, when another resource comes back, still waits out the Retry-After', async (t) => {
  const { cluster, running } = await oneNodeCluster(t, 5000);

  cluster.server.throttle('pods', '2');
  cluster.server.forbid('nodes');
  cluster.server.forbid('endpointslices');
  cluster.server.expireWatches(); // lists again: a refused list carries its Retry-After
  await eventually('pods throttled', () => cluster.server.requests.some((r) => r.resource === 'pods' && r.status === 429));
  await sleep(300);
  // Nodes come back: the source hurries the informers still failing (pods among them).
  cluster.server.forbid('nodes', false);
  await eventually('nodes back', () => running.source.status().resources.find((r) => r.resource === 'nodes')!.connected, { timeoutMs: 3000 });
  await sleep(2_500);
  const throttled = cluster.server.requests.filter((r) => r.resource === 'pods' && r.status === 429);
  const gaps = throttled.slice(1).map((r, i) => r.at - throttled[i]!.at);
  assert.ok(throttled.length >= 2, `${throttled.length} throttled requests`);
  assert.ok(gaps.every((g) => g >= 1950), `gaps ${gaps.join(', ')} ms`);
});
