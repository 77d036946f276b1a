/**
 * `rebuildSliceMs` is a code option of the xDS stage (docs/ownership.md "Cost"): NaN would never
 * end a slice (the whole change in one turn of the event loop) and a negative number would quietly
 * mean 0, so both are refused by name before anything starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { endpoint, topologyOf } from '../xds/translator/fixtures.js';

test('rebuildSliceMs of NaN, a negative number or Infinity is a TypeError naming the option; 0 starts', async () => {
  const eps = [endpoint('gpu-0', '10.0.4.1'), endpoint('gpu-1', '10.0.4.2')];
  const policy = { shardCount: 16, replicas: 1, spread: 'none' as const };
  const state = new ServingState();
  state.publish({ map: computeShardMap(eps, policy), topology: topologyOf(eps, policy) });
  const ctx = { state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' };
  for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
    await assert.rejects(startXdsStage(ctx, { rebuildSliceMs: bad }), (err: unknown) => {
      assert.ok(err instanceof TypeError, `${bad}: a TypeError`);
      assert.match(err.message, /rebuildSliceMs/);
      assert.ok(err.message.includes(String(bad)), `${bad}: the value is named: ${err.message}`);
      return true;
    });
  }
  const stage = await startXdsStage(ctx, { rebuildSliceMs: 0 });
  await stage.close();
});
