/**
 * The translator's warnings in `keyway serve`'s log (docs/observability.md "Logs"): a warning that
 * stands across map changes (a weight capped for the proxies, an endpoint sharing another's
 * address) is logged when it appears, again when it changes, after it went away and came back, and
 * as a reminder at most once an hour while it stands; not at every map change (with a change every
 * 10 s, the hot-shard policy or pod churn, that was thousands of identical lines a day).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Endpoint } from '../../src/core/endpoint.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { endpoint, topologyOf } from '../xds/translator/fixtures.js';

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const policy = { shardCount: 64, replicas: 1, spread: 'none' as const };

interface Line {
  readonly level: number;
  readonly msg: string;
  readonly shardMapVersion?: string;
  readonly reminder?: boolean;
}

/** A state, the log lines of a logger writing into `lines`, and a publish that waits for the view's push. */
function setup() {
  const lines: Line[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Line);
        done();
      },
    }),
  );
  const state = new ServingState();
  const publish = async (eps: Endpoint[]): Promise<void> => {
    const map = computeShardMap(eps, policy);
    const pushed = (): boolean => lines.some((l) => l.msg === 'xDS snapshots pushed' && l.shardMapVersion === map.version);
    const before = state.current()?.map.version;
    state.publish({ map, topology: topologyOf(eps, policy) });
    if (before === undefined) return;
    for (let i = 0; i < 300 && !pushed(); i++) await pause(10);
    assert.ok(pushed(), `the view of ${map.version} was pushed`);
  };
  return { lines, logger, state, publish };
}

/** gpu-0 weighs past the proxies' cap (8589.93), gpu-2 shares gpu-1's address; gpu-3's weight makes each map differ. */
function fleet(step: number, opts: { heavy?: number; shared?: boolean } = {}): Endpoint[] {
  return [
    endpoint('gpu-0', '10.0.5.1', { weight: opts.heavy ?? 10_000 }),
    endpoint('gpu-1', '10.0.5.2', { weight: 3000 }),
    ...(opts.shared === false ? [] : [endpoint('gpu-2', '10.0.5.2', { weight: 3000 })]),
    endpoint('gpu-3', '10.0.5.4', { weight: 1000 + step }),
  ];
}

const translationLines = (lines: readonly Line[]): string[] => lines.filter((l) => l.msg.startsWith('translation: ')).map((l) => l.msg);

test('a standing translator warning is logged once over many map changes, again when it goes away and comes back, and once an hour', async () => {
  let clock = 1_000_000;
  const s = setup();
  await s.publish(fleet(0));
  const stage = await startXdsStage({ state: s.state, logger: s.logger, xdsPort: 0, host: '127.0.0.1' }, { now: () => clock });
  try {
    stage.cache.watch({ flavor: 'envoy', zone: '', subzone: '' }, 'endpoint', () => {});
    stage.cache.watch({ flavor: 'grpc', zone: '', subzone: '' }, 'endpoint', () => {});
    const first = translationLines(s.lines);
    assert.equal(first.length, 2, `the two warnings at start: ${JSON.stringify(first)}`);
    assert.ok(first.some((m) => m.includes('weigh more than')));
    assert.ok(first.some((m) => m.includes('shares address')));

    // Ten map changes, ten seconds apart: the same two warnings stand.
    for (let step = 1; step <= 10; step++) {
      clock += 10_000;
      await s.publish(fleet(step));
    }
    assert.equal(translationLines(s.lines).length, 2, `no line repeats: ${JSON.stringify(translationLines(s.lines))}`);

    // Only its figures change (the heaviest weight): the same warning, not logged again.
    clock += 10_000;
    await s.publish(fleet(11, { heavy: 12_000 }));
    assert.equal(translationLines(s.lines).length, 2, 'a changed figure is the same warning');

    // The shared address goes away for one map and comes back: logged again.
    clock += 10_000;
    await s.publish(fleet(12, { shared: false }));
    clock += 10_000;
    await s.publish(fleet(13));
    const back = translationLines(s.lines).slice(2);
    assert.equal(back.length, 1, `the warning that came back, alone: ${JSON.stringify(back)}`);
    assert.match(back[0]!, /gpu-2 shares address/);

    // A new warning is logged at once (a different text), beside the standing ones.
    clock += 10_000;
    await s.publish([...fleet(14), endpoint('gpu-4', 'cache-4.example', { weight: 1000 })]);
    const fresh = translationLines(s.lines).slice(3);
    assert.equal(fresh.length, 1, `the new warning only: ${JSON.stringify(fresh)}`);
    assert.match(fresh[0]!, /gpu-4 has address cache-4\.example/);

    // An hour after each was last logged, the standing ones are logged once more, as a reminder.
    clock += 3_600_000; // WARNING_REMINDER_MS, the documented hour
    await s.publish(fleet(15));
    const reminded = translationLines(s.lines).slice(4);
    assert.equal(reminded.length, 2, `one reminder of each standing warning: ${JSON.stringify(reminded)}`);
    assert.deepEqual(
      s.lines.filter((l) => l.msg.startsWith('translation: ')).map((l) => l.reminder === true),
      [false, false, false, false, true, true],
      'only the reminders are marked so',
    );
    clock += 10_000;
    await s.publish(fleet(16));
    assert.equal(translationLines(s.lines).length, 6, 'then quiet again');
  } finally {
    await stage.close();
  }
});

test('a translator warning that names another endpoint is another warning, also when ids are numbers', async () => {
  let clock = 1_000_000;
  const s = setup();
  // Ids of digits are valid ids (ENDPOINT_ID_PATTERN): "2" and "3" share "1"'s address.
  const sharing = (ids: readonly string[]): Endpoint[] => [
    endpoint('1', '10.0.6.1'),
    ...ids.map((id) => endpoint(id, '10.0.6.1')),
    endpoint('gpu-9', '10.0.6.9', { weight: 2 }),
  ];
  await s.publish(sharing(['2', '3']));
  const stage = await startXdsStage({ state: s.state, logger: s.logger, xdsPort: 0, host: '127.0.0.1' }, { now: () => clock });
  try {
    stage.cache.watch({ flavor: 'envoy', zone: '', subzone: '' }, 'endpoint', () => {});
    const first = translationLines(s.lines);
    assert.equal(first.length, 2, `one line per endpoint left out: ${JSON.stringify(first)}`);
    assert.ok(first.some((m) => m.includes('endpoint 2 shares address')));
    assert.ok(first.some((m) => m.includes('endpoint 3 shares address')));

    // "3" is replaced by "4" (a pod renamed): a warning about another endpoint, logged at once.
    clock += 10_000;
    await s.publish(sharing(['2', '4']));
    const next = translationLines(s.lines).slice(2);
    assert.equal(next.length, 1, `the new endpoint's warning only: ${JSON.stringify(next)}`);
    assert.match(next[0]!, /endpoint 4 shares address 10\.0\.6\.1:8080 with 1/);
  } finally {
    await stage.close();
  }
});
