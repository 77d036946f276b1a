// The agents of a whole fleet react to one event together (a replica's connection drops, a name
// re-resolves when a replica goes): every wait after it is drawn anew, so the nodes do not stay in
// step afterwards (src/agent/replica-names.ts refreshDelay, src/agent/agent.ts reportRetryDelay).
// The schedules are computed with a seeded random and fake timers, never measured on the wall clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBinary } from '@bufbuild/protobuf';
import { OwnershipAgent } from '../../src/agent/index.js';
import { reportRetryDelay } from '../../src/agent/agent.js';
import { DNS_REFRESH_JITTER, ReplicaName, parseDnsTarget, type DnsTarget } from '../../src/agent/replica-names.js';
import { WarmReportSchema } from '../../src/xds/proto.js';
import { eventually } from '../support/eventually.js';
import { Rng } from '../support/seeded-random.js';
import { assignmentsResponse, startFakeKeyway, type RawStream } from './fake-keyway.js';

/** A seeded generator of numbers in [0, 1). */
function seeded(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/** The most of `times` that fall in one window of `widthMs` (windows from the smallest time). */
function largestBurst(times: readonly number[], widthMs: number): number {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! >= widthMs) j++;
    most = Math.max(most, i - j + 1);
  }
  return most;
}

test('names resolved in the same instant by a whole fleet do not refresh in step afterwards', async (t) => {
  const NODES = 200;
  const REFRESH = 30_000;
  const STEP = 50;
  t.mock.method(Math, 'random', seeded(7));
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const lookupsAt: number[][] = [];
  const target = parseDnsTarget('dns:///keyway-replicas:18000') as DnsTarget;
  const names = Array.from({ length: NODES }, (_, i) => {
    lookupsAt.push([]);
    return new ReplicaName(
      target,
      () => {
        lookupsAt[i]!.push(clock);
        return Promise.resolve(['10.0.0.1', '10.0.0.2']);
      },
      { dnsRefreshMs: REFRESH, backoffInitialMs: 250, backoffMaxMs: 30_000 },
      () => {},
      () => {},
      () => clock,
    );
  });
  t.after(() => {
    for (const name of names) name.close();
  });
  // Every node resolves at the same instant: what a replica going away does to a fleet's links.
  for (const name of names) name.start();
  const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await flush();
  while (clock < 2 * REFRESH) {
    clock += STEP;
    t.mock.timers.tick(STEP);
    await flush();
  }
  assert.ok(lookupsAt.every((at) => at.length >= 3), 'every name resolved again twice within two refreshes');
  const second = lookupsAt.map((at) => at[1]!);
  const third = lookupsAt.map((at) => at[2]!);
  // Never later than dnsRefreshMs (up to the fake clock's step), at most DNS_REFRESH_JITTER early.
  for (const at of second) assert.ok(at >= (1 - DNS_REFRESH_JITTER) * REFRESH && at <= REFRESH + STEP, `a refresh at ${at} ms`);
  const spread = (times: number[]): number => Math.max(...times) - Math.min(...times);
  assert.ok(spread(second) >= 0.15 * REFRESH, `the first refreshes are spread over ${spread(second)} ms, not one instant`);
  assert.ok(spread(third) >= spread(second) * 0.9, `and they stay spread (${spread(third)} ms) instead of returning to step`);
  // No 100 ms holds a tenth of the fleet's lookups (in step, it held all of them).
  assert.ok(largestBurst(second, 100) <= NODES * 0.1, `at most ${largestBurst(second, 100)} of ${NODES} lookups in one 100 ms`);
  assert.ok(largestBurst(third, 100) <= NODES * 0.1, `at most ${largestBurst(third, 100)} of ${NODES} lookups in one 100 ms`);
});

test('warm report retries of nodes whose reports failed in the same instant are spread, capped, and never in step', () => {
  const timing = { reportRetryMs: 500, backoffMaxMs: 30_000 };
  const NODES = 500;
  const random = seeded(11);
  // Every node's report failed at t = 0 (the replica's connection dropped); each then keeps failing.
  const at = Array.from({ length: NODES }, () => 0);
  for (let attempt = 1; attempt <= 8; attempt++) {
    const nominal = Math.min(timing.backoffMaxMs, timing.reportRetryMs * 2 ** (attempt - 1));
    const delays = at.map(() => reportRetryDelay(timing, attempt, random));
    for (const d of delays) assert.ok(d >= nominal / 2 && d <= nominal, `attempt ${attempt}: a wait of ${d} ms outside [${nominal / 2}, ${nominal}]`);
    for (let i = 0; i < NODES; i++) at[i]! += delays[i]!;
    // Spread over most of the half-width window, and no 1 % of the nominal wait holds a tenth of the fleet.
    const spread = Math.max(...delays) - Math.min(...delays);
    assert.ok(spread >= 0.4 * nominal, `attempt ${attempt}: the waits are spread over ${spread} ms of ${nominal}`);
    assert.ok(largestBurst(at, nominal / 100) <= NODES / 10, `attempt ${attempt}: ${largestBurst(at, nominal / 100)} of ${NODES} retries within ${nominal / 100} ms`);
  }
  // Far attempts stay at the cap, still jittered (the exponent does not overflow to NaN).
  const far = reportRetryDelay(timing, 5_000, () => 0.5);
  assert.equal(far, timing.backoffMaxMs * 0.75);
});

test('the agent waits the drawn delay before a warm report retry, and says how long', async (t) => {
  t.mock.method(Math, 'random', () => 0);
  const onStream = (call: RawStream): void => {
    call.on('error', () => {});
    call.on('data', () => {});
    const until = Date.now() + 60_000;
    call.write(assignmentsResponse([3], 8, 'w1', { role: 1, phase: 2, reader: false, untilUnixMs: BigInt(until), servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] }));
  };
  const reports: number[][] = [];
  const fake = await startFakeKeyway(onStream, (path, call, cb) => {
    if (path !== 'ReportWarm') return cb(null, Buffer.alloc(0));
    reports.push(fromBinary(WarmReportSchema, call.request).shards);
    cb({ code: 14, details: 'connection dropped' });
  });
  t.after(() => fake.close());
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [fake.address],
    timing: { backoffInitialMs: 20, backoffMaxMs: 1_000, reportRetryMs: 40, reportAttempts: 3, loadWindowMs: 0 },
    log: (r) => logs.push(r),
    warm: () => Promise.resolve(),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('the agent gave up after 3 attempts', () => logs.some((r) => r.msg === 'warm report failed; giving up on this server'), {
    timeoutMs: 5_000,
    describe: () => logs.map((r) => r.msg),
  });
  assert.deepEqual(reports, [[3], [3], [3]]);
  // random() 0 draws half the nominal wait: 40 ms, then 80 ms, halved. A fixed schedule waited 40, 80.
  const waits = logs.filter((r) => r.msg === 'warm report failed; retrying').map((r) => r.retryInMs);
  assert.deepEqual(waits, [20, 40]);
});
