// The prometheus load source after a change of the shard count S (docs/load-reports.md "A change
// of shards"): a window counted while a replica exported another S is not read, by a rule every
// replica computes alike from the same Prometheus answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PrometheusLoadSource, snapshotsFromMatrix, loadQuery } from '../../../src/sources/load/index.js';
import { SHARD_COUNT_METRIC, type OtherShardCountWindow } from '../../../src/sources/load/prometheus.js';
import { KEYWAY_METRICS } from '../../../src/telemetry/index.js';

const W = 1_000;
const T0 = 1_700_000_000_000;
const sec = (ms: number): number => ms / 1000;

test('the shard count the read checks is the gauge every replica exports', () => {
  assert.equal(SHARD_COUNT_METRIC, KEYWAY_METRICS.shardCount);
  const q = loadQuery(W);
  // Only replicas that exported a load window then: another deployment's keyway without reports does not count.
  const scoped = 'and last_over_time\\(keyway_load_window_start_seconds\\[3000ms\\]\\)';
  assert.match(q, new RegExp(`label_replace\\(min\\(min_over_time\\(keyway_shardmap_shards\\[3000ms\\]\\) ${scoped}\\), "load", "shards_min", "", ""\\)`));
  assert.match(q, new RegExp(`label_replace\\(max\\(max_over_time\\(keyway_shardmap_shards\\[3000ms\\]\\) ${scoped}\\), "load", "shards_max", "", ""\\)`));
});

test('snapshotsFromMatrix skips a window whose step saw another shard count, and keeps one with no shard count at all', () => {
  const steps = [0, 1, 2, 3].map((i) => sec(T0 + (i + 2) * W));
  const skipped: OtherShardCountWindow[] = [];
  const snaps = snapshotsFromMatrix(
    [
      { metric: { load: 'window' }, values: steps.map((t, i) => [t, String(sec(T0 + i * W))] as [number, string]) },
      { metric: { shard: '5' }, values: steps.map((t) => [t, '100'] as [number, string]) },
      // Step 0: every replica still on 64; step 1: the change (64 and 32 seen); step 2: 32 alone;
      // step 3: no shard count (a Prometheus that drops the gauge).
      { metric: { load: 'shards_min' }, values: [[steps[0]!, '64'], [steps[1]!, '32'], [steps[2]!, '32']] },
      { metric: { load: 'shards_max' }, values: [[steps[0]!, '64'], [steps[1]!, '64'], [steps[2]!, '32']] },
    ],
    W,
    { notAfterMs: Infinity, shardCount: 32, onOtherShardCount: (o) => skipped.push(o) },
  );
  assert.deepEqual(snaps.map((s) => s.windowStartMs), [T0 + 2 * W, T0 + 3 * W]);
  assert.deepEqual(skipped, [
    { windowStartMs: T0, minShards: 64, maxShards: 64 },
    { windowStartMs: T0 + W, minShards: 32, maxShards: 64 },
  ]);
  // Without a shard count to check against, every window is read (as before the check existed).
  assert.equal(snapshotsFromMatrix([{ metric: { load: 'window' }, values: [[steps[0]!, String(sec(T0))]] }, { metric: { load: 'shards_min' }, values: [[steps[0]!, '64']] }], W).length, 1);
});

test('the source reads only windows counted under the S in force, and says so while that holds the policy back', async () => {
  let shardCount = 64;
  let now = T0 + 10 * W;
  const end = (): number => now; // lagMs 0: the last step
  const warnings: string[] = [];
  // Windows T0+4W .. T0+8W, named at the step two windows later; the S gauge moved from 64 to 32
  // at T0 + 7.5W, so the steps from T0+7W on (3-window look-back) see 32 as well.
  const answer = (): string => {
    const result = [
      { metric: { load: 'window' }, values: [] as [number, string][] },
      { metric: { shard: '5' }, values: [] as [number, string][] },
      { metric: { load: 'shards_min' }, values: [] as [number, string][] },
      { metric: { load: 'shards_max' }, values: [] as [number, string][] },
    ];
    for (let t = end() - 4 * W; t <= end(); t += W) {
      result[0]!.values.push([sec(t), String(sec(t - 2 * W))]);
      result[1]!.values.push([sec(t), '100']);
      const sawNew = t > T0 + 7.5 * W;
      const sawOld = t - 3 * W < T0 + 7.5 * W;
      result[2]!.values.push([sec(t), sawNew ? '32' : '64']);
      result[3]!.values.push([sec(t), sawOld ? '64' : '32']);
    }
    return JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } });
  };
  const queries: string[] = [];
  const source = new PrometheusLoadSource({
    url: 'http://prometheus.test',
    lagMs: 0,
    windowMs: () => W,
    shardCount: () => shardCount,
    now: () => now,
    fetch: (async (input: string | URL | Request) => {
      queries.push(new URL(String(input)).searchParams.get('query')!);
      return new Response(answer(), { status: 200 });
    }) as typeof fetch,
    onWarning: (e) => warnings.push(e.message),
  });
  try {
    // Under S = 64 (before this replica's reload): the windows named while 64 alone was exported.
    const before = await source.latest(5);
    assert.match(queries[0]!, /keyway_shardmap_shards/);
    assert.deepEqual(before.map((s) => s.windowStartMs), [T0 + 4 * W, T0 + 5 * W]);
    assert.equal(warnings.length, 1, 'the newest windows were skipped: said');
    // Under S = 32: every step's look-back still holds 64 (the change was under three windows
    // ago), so nothing is read; the newest window skipped is said.
    shardCount = 32;
    warnings.length = 0;
    assert.deepEqual(await source.latest(5, 3), []);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /skipped 1 recent window\(s\) counted while a keyway replica served another shard count \(keyway_shardmap_shards 32, 64; 32 in force\)/);
    // Three windows after the change every step sees 32 alone: the windows counted under it are read.
    now = T0 + 14 * W;
    warnings.length = 0;
    assert.deepEqual((await source.latest(5, 3)).map((s) => s.windowStartMs), [T0 + 9 * W, T0 + 10 * W, T0 + 11 * W, T0 + 12 * W]);
    assert.deepEqual(warnings, []);
  } finally {
    await source.close();
  }
});
