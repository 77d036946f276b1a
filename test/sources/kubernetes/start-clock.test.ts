/**
 * start()'s timeouts (kubernetes.startTimeoutMs, startMaxMs) measure elapsed time, so a step of the
 * wall clock during the start (NTP stepping a freshly booted node's clock, a VM resumed) must not
 * move them. Read from Date.now, a step back of an hour made a start without any answer wait an
 * hour instead of startTimeoutMs, and a step forward made the error count the step as time since
 * the last page. Here the wall clock is stepped while the real timers run; the polling below
 * counts its own rounds, since `eventually` reads the wall clock too.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeywayError } from '../../../src/core/errors.js';
import { createKubernetesSource, type KubernetesSource } from '../../../src/sources/kubernetes/index.js';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { nodeObject, podObject, sliceObject, type SliceEndpoint } from './fixtures.js';
import { capturedLogger, testConfig } from './harness.js';

const HOUR_MS = 3_600_000;
const START_TIMEOUT_MS = 500;

interface Starting {
  readonly source: KubernetesSource;
  readonly logs: Record<string, unknown>[];
  outcome(): 'pending' | 'resolved' | Error;
}

function startWithRealClock(server: KubeApiServer, t: TestContext, extra: { listPageSize?: number } = {}): Starting {
  const { logs, logger } = capturedLogger();
  const config = testConfig();
  const source = createKubernetesSource(config, {
    kubeConfig: server.kubeConfig(),
    logger,
    startTimeoutMs: START_TIMEOUT_MS,
    startMaxMs: 60_000,
    timing: { backoff: { initialMs: 20, maxMs: 200 }, listTimeoutMs: 30_000, minWatchTimeoutSeconds: 60, watchGraceMs: 1000, ...extra },
  });
  let outcome: 'pending' | 'resolved' | Error = 'pending';
  source.start().then(
    () => (outcome = 'resolved'),
    (err: unknown) => (outcome = err as Error),
  );
  t.after(() => source.stop());
  return { source, logs, outcome: () => outcome };
}

/** Polls `done` every 10 ms, at most `rounds` times (not by the wall clock, which the tests step). */
async function until(done: () => boolean, rounds = 1000): Promise<boolean> {
  for (let i = 0; i < rounds; i++) {
    if (done()) return true;
    await sleep(10);
  }
  return done();
}

/** Steps Date.now by `stepMs` for the rest of the test. */
function stepWallClock(t: TestContext, stepMs: number): void {
  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() + stepMs);
}

const stillUnderWay = (logs: Record<string, unknown>[]): Record<string, unknown>[] => logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('first list of '));

test('the wall clock stepped back an hour during the start: an API server that never answers still fails it after startTimeoutMs', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  await server.goDown('hang');
  const starting = startWithRealClock(server, t);
  stepWallClock(t, -HOUR_MS);
  // Before: the first check saw -3600000 ms elapsed, logged it, and set its next check an hour away.
  await until(() => starting.outcome() !== 'pending' || stillUnderWay(starting.logs).some((l) => (l.elapsedMs as number) < 0));
  for (const l of stillUnderWay(starting.logs)) assert.ok((l.elapsedMs as number) >= 0, `logged elapsedMs ${String(l.elapsedMs)}`);
  const err = starting.outcome();
  assert.ok(err instanceof KeywayError && err.code === 'SOURCE_UNAVAILABLE', String(err));
  assert.match(err.message, new RegExp(`: no list page of endpointslices, pods, nodes in ${START_TIMEOUT_MS} ms \\(kubernetes\\.startTimeoutMs\\)`));
});

test('the wall clock stepped forward an hour while a list pages: the error counts the time since the last page, not the step', async (t) => {
  const server = await KubeApiServer.start();
  t.after(() => server.close());
  server.upsert(nodeObject('gpu-1', { region: 'r', zone: 'z' }));
  const members: SliceEndpoint[] = [];
  for (let i = 0; i < 10; i++) {
    const name = `cache-node-${i}`;
    server.upsert(podObject(name, { node: 'gpu-1', ip: `10.0.0.${i + 1}` }));
    members.push({ pod: name, ip: `10.0.0.${i + 1}`, node: 'gpu-1' });
  }
  server.upsert(sliceObject('cache-node-abcde', members));
  server.holdLists('pods');
  const starting = startWithRealClock(server, t, { listPageSize: 5 });
  assert.ok(await until(() => server.heldLists('pods') === 1), 'the first page of pods asked for');
  server.releaseList('pods');
  // The source asks for the second page once it has read the first: the page counts from then.
  assert.ok(await until(() => server.heldLists('pods') === 1), 'the second page of pods asked for');
  stepWallClock(t, HOUR_MS);
  // The second page never comes: the start fails startTimeoutMs after the first one.
  assert.ok(await until(() => starting.outcome() !== 'pending'), 'the start settled');
  const err = starting.outcome();
  assert.ok(err instanceof KeywayError && err.code === 'SOURCE_UNAVAILABLE', String(err));
  const ago = /^no complete list of pods from the Kubernetes API: no list page of pods in 500 ms \(kubernetes\.startTimeoutMs\) \(pods: still listing \(5 objects in 1 pages read so far, the last page (\d+) ms ago\)\)$/.exec(err.message);
  assert.ok(ago, err.message);
  // Before: "the last page 3600500 ms ago".
  assert.ok(Number(ago[1]) < HOUR_MS, err.message);
  for (const l of stillUnderWay(starting.logs)) assert.ok((l.elapsedMs as number) < HOUR_MS, `logged elapsedMs ${String(l.elapsedMs)}`);
});
