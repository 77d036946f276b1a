/**
 * A first list that takes long (a large namespace, a slow or throttled API server) is waited for
 * as long as its pages keep arriving: start() fails only when a resource sends no page for
 * startTimeoutMs, or when the lists take longer than startMaxMs in all, and the error says how far
 * each list came. The pages are released one by one by the in-process API server and start()'s
 * timeouts run on a fake clock, so nothing here waits on wall-clock time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeywayError } from '../../../src/core/errors.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { eventually } from '../../support/eventually.js';
import { FakeClock } from './fake-clock.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { type RunningSource, startSource } from './harness.js';

const PODS = 40;
const PAGE = 5; // 8 pages of pods
const START_TIMEOUT_MS = 1000;

async function cluster(): Promise<KubeApiServer> {
  const server = await KubeApiServer.start();
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < PODS; i++) {
    const name = `cache-node-${String(i).padStart(3, '0')}`;
    const ip = `10.0.0.${i + 1}`;
    server.upsert(podObject(name, { node: 'gpu-1', ip }));
    members.push({ pod: name, ip, node: 'gpu-1' });
  }
  server.upsert(sliceObject('cache-node-abcde', members));
  // Every page of pods waits for the test; nodes and slices answer at once.
  server.holdLists('pods');
  return server;
}

/** Outcome of a start, once it settles. */
function settle(p: Promise<RunningSource>): { done: () => RunningSource | Error | undefined } {
  let outcome: RunningSource | Error | undefined;
  p.then(
    (r) => (outcome = r),
    (e: unknown) => (outcome = e as Error),
  );
  return { done: () => outcome };
}

/** Waits for a settled start to fail, and returns its error (a SOURCE_UNAVAILABLE KeywayError). */
async function rejection(starting: { done: () => RunningSource | Error | undefined }): Promise<KeywayError> {
  await eventually('start rejected', () => starting.done() !== undefined);
  const err = starting.done();
  assert.ok(err instanceof KeywayError && err.code === 'SOURCE_UNAVAILABLE', String(err));
  return err;
}

/** Releases `pages` pages of pods, each `everyMs` of the fake clock after the source asked for it. */
async function releasePages(server: KubeApiServer, clock: FakeClock, pages: number, everyMs: number): Promise<void> {
  for (let page = 1; page <= pages; page++) {
    await pageRequested(server);
    clock.advance(everyMs);
    server.releaseList('pods');
  }
}

/** Waits until the resources' first lists are complete (their watches are open). */
async function watching(server: KubeApiServer, ...plurals: string[]): Promise<void> {
  await eventually(`watches of ${plurals.join(', ')}`, () => plurals.every((p) => server.openWatches(p) === 1));
}

/** Waits for the source to ask for the next page of pods (so the previous one has been read). */
async function pageRequested(server: KubeApiServer): Promise<void> {
  await eventually('a page of pods requested', () => server.heldLists('pods') === 1, { intervalMs: 1 });
}

test('a first list that keeps paging for 8 times startTimeoutMs completes: start does not give up on it', async (t) => {
  const server = await cluster();
  t.after(() => server.close());
  const clock = new FakeClock();
  const starting = settle(startSource(server, {}, { listPageSize: PAGE, startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 60_000, listTimeoutMs: 30_000, clock }));
  await watching(server, 'nodes', 'endpointslices');
  for (let page = 1; page <= PODS / PAGE; page++) {
    await pageRequested(server);
    // Each page arrives 900 ms after the previous one: within startTimeoutMs of it, but the list
    // as a whole takes 7.2 s, seven times startTimeoutMs.
    clock.advance(900);
    assert.equal(starting.done(), undefined, `start settled before page ${page}: ${String(starting.done())}`);
    assert.ok(server.releaseList('pods'));
  }
  await eventually('start resolved', () => starting.done() !== undefined);
  const running = starting.done();
  assert.ok(!(running instanceof Error), `start failed: ${String(running)}`);
  t.after(() => running!.source.stop());
  assert.equal(running!.source.current().length, PODS);
  const lists = server.requests.filter((r) => r.verb === 'list' && r.resource === 'pods');
  assert.equal(lists.length, PODS / PAGE, 'one list of pods, never abandoned and started again');
  // The long start was not silent: each check that found the list still paging said so.
  const progress = running!.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('first list of pods still under way'));
  assert.ok(progress.length >= 5, `${progress.length} progress lines`);
  assert.match(String(progress.at(-1)!.msg), /pods: still listing \(\d+ objects in \d+ pages read so far, the last page \d+ ms ago\)/);
});

test('a first list that stops sending pages fails the start after startTimeoutMs, saying how far it came', async (t) => {
  const server = await cluster();
  t.after(() => server.close());
  const clock = new FakeClock();
  const starting = settle(startSource(server, {}, { listPageSize: PAGE, startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 60_000, listTimeoutMs: 30_000, clock }));
  await watching(server, 'nodes', 'endpointslices');
  await releasePages(server, clock, 3, 900);
  await pageRequested(server);
  // The fourth page never comes.
  clock.advance(START_TIMEOUT_MS - 1);
  await new Promise((r) => setImmediate(r));
  assert.equal(starting.done(), undefined, 'start gave up before startTimeoutMs without a page');
  clock.advance(1);
  const err = await rejection(starting);
  assert.equal(
    err.message,
    `no complete list of pods from the Kubernetes API: no list page of pods in ${START_TIMEOUT_MS} ms (kubernetes.startTimeoutMs) (pods: still listing (15 objects in 3 pages read so far, the last page ${START_TIMEOUT_MS} ms ago))`,
  );
});

test('a first list that pages on past startMaxMs fails the start, saying it was still listing', async (t) => {
  const server = await cluster();
  t.after(() => server.close());
  const clock = new FakeClock();
  const starting = settle(startSource(server, {}, { listPageSize: PAGE, startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 3000, listTimeoutMs: 30_000, clock }));
  await watching(server, 'nodes', 'endpointslices');
  // Pages every 900 ms, each within startTimeoutMs of the last: only the cap can end this start.
  await releasePages(server, clock, 3, 900);
  await pageRequested(server);
  clock.advance(900);
  const err = await rejection(starting);
  assert.match(err.message, /^no complete list of pods from the Kubernetes API within 3000 ms \(kubernetes\.startMaxMs\) \(pods: still listing \(15 objects in 3 pages read so far, the last page 300 ms ago\)\)$/);
});

test('a resource that never answers fails the start after startTimeoutMs, whatever the others do', async (t) => {
  const server = await cluster();
  t.after(() => server.close());
  server.holdLists('pods', false);
  server.forbid('nodes');
  const clock = new FakeClock();
  const starting = settle(startSource(server, {}, { startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 60_000, clock }));
  await watching(server, 'pods', 'endpointslices');
  await eventually('nodes refused twice', () => server.requests.filter((r) => r.resource === 'nodes' && r.status === 403).length >= 2);
  clock.advance(START_TIMEOUT_MS);
  const err = await rejection(starting);
  assert.match(err.message, /^no complete list of nodes from the Kubernetes API: no list page of nodes in 1000 ms \(kubernetes\.startTimeoutMs\) \(nodes: HTTP 403: nodes is forbidden: /);
});

test('an API server that sheds load (429) for 5 times startTimeoutMs is waited for: it answers, it is not gone', async (t) => {
  const server = await cluster();
  t.after(() => server.close());
  server.holdLists('pods', false);
  // API Priority and Fairness refusing keyway's node list, with a Retry-After (capped at the backoff's 200 ms).
  server.throttle('nodes', '1');
  const clock = new FakeClock();
  const starting = settle(startSource(server, {}, { startTimeoutMs: START_TIMEOUT_MS, startMaxMs: 60_000, clock }));
  await watching(server, 'pods', 'endpointslices');
  const refusals = (): number => server.requests.filter((r) => r.resource === 'nodes' && r.status === 429).length;
  for (let i = 0; i < 5; i++) {
    // Two more refusals: the first of them was read by the source (it asked again after it), at
    // the fake time of this iteration.
    const seen = refusals();
    await eventually('two more 429s', () => refusals() >= seen + 2);
    clock.advance(900);
    await new Promise((r) => setImmediate(r));
    assert.equal(starting.done(), undefined, `start settled while the API server was shedding load: ${String(starting.done())}`);
  }
  server.unthrottle('nodes');
  await eventually('start resolved', () => starting.done() !== undefined);
  const running = starting.done();
  assert.ok(!(running instanceof Error), `start failed: ${String(running)}`);
  t.after(() => running!.source.stop());
  assert.equal(running!.source.current().length, PODS);
});
