// The age gauges (keyway_shardmap_version_age_seconds, keyway_source_staleness_seconds) run on the
// monotonic clock once keyway has seen the time they count from (src/telemetry/metrics.ts): a wall
// clock stepped forward an hour (an NTP correction, a VM resumed) read as a map and sources an hour
// old, and one stepped back read 0 for an hour, hiding a source that went stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeywayMetrics, KEYWAY_METRICS as N } from '../../src/telemetry/index.js';
import { parseExposition } from './support/exposition.js';

const HOUR = 3_600_000;

for (const step of [-HOUR, HOUR]) {
  test(`after the wall clock stepped ${step < 0 ? 'back' : 'forward'} an hour, the map's age and a source's staleness go on from what they were`, async (t) => {
    const real = Date.now.bind(Date);
    let wallOffset = 0;
    t.mock.method(Date, 'now', () => real() + wallOffset);
    const m = createKeywayMetrics({ sources: ['file'] });
    t.after(() => m.shutdown());
    m.recordShardMapPublished({ version: 'v1', shardCount: 16, movedShards: 0, at: new Date(Date.now() - 2_000) });
    const lastUpdate = new Date(Date.now() - 30_000);
    m.observeSources(() => [{ kind: 'file', stale: true, lastUpdate }]);
    let exp = parseExposition(await m.render());
    assert.ok(Math.abs(exp.value(N.sourceStaleness, { source: 'file' }) - 30) < 1);
    wallOffset = step;
    await sleep(200);
    exp = parseExposition(await m.render());
    const age = exp.value(N.shardMapVersionAge);
    const staleness = exp.value(N.sourceStaleness, { source: 'file' });
    assert.ok(age >= 2.1 && age < 4, `map age ${age} s`);
    assert.ok(staleness >= 30.1 && staleness < 32, `source staleness ${staleness} s`);
  });
}
