// The agent's API at its edges (docs/ownership.md "The agent library"): waitForHandoff for a node
// that holds nothing, long and endless waits, and timing settings the timers cannot honour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { OwnershipAgent } from '../../src/agent/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { startXdsStage } from '../../src/app/xds-stage.js';
import { endpoint, handInput } from '../xds/translator/fixtures.js';
import { eventually } from '../support/eventually.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 200 };

test('waitForHandoff: a node keyway assigns nothing is handed off as soon as keyway answers, not at the timeout', async (t) => {
  const base = handInput([endpoint('a', '10.0.0.1'), endpoint('b', '10.0.0.2')], [['a', 'b'], ['b', 'a']]);
  const state = new ServingState();
  state.publish({ map: base.shardMap, topology: base.topology });
  const s = await startXdsStage({ state, logger: pino({ level: 'silent' }), xdsPort: 0, host: '127.0.0.1' });
  t.after(() => s.close());
  const agent = new OwnershipAgent({ nodeId: 'not-in-the-map', servers: [`127.0.0.1:${s.server.port}`], timing: FAST });
  t.after(() => agent.close());
  agent.start();
  const started = Date.now();
  // Called before keyway's first (empty) answer: that answer changes no assignment, yet it is the handoff.
  assert.equal(await agent.waitForHandoff(10_000), true);
  assert.ok(Date.now() - started < 5_000, `resolved after ${Date.now() - started} ms`);
  assert.equal(agent.assignments().size, 0);
});

test('waitForHandoff(Infinity) or a wait past setTimeout’s limit waits (until close), instead of ending at once with false', async (t) => {
  const agent = new OwnershipAgent({ nodeId: 'n', servers: ['127.0.0.1:1'], timing: FAST });
  t.after(() => agent.close());
  let settled: boolean | undefined;
  const endless = agent.waitForHandoff(Infinity).then((r) => (settled = r));
  const long = agent.waitForHandoff(30 * 24 * 3600 * 1000);
  await sleep(50);
  assert.equal(settled, undefined, 'still waiting');
  assert.equal(await agent.waitForHandoff(0), false, 'a timeout of 0 answers at once');
  await agent.close();
  assert.deepEqual(await Promise.all([endless, long]), [false, false], 'close ends every wait with false');
  assert.throws(() => agent.waitForHandoff(NaN), /waitForHandoff: timeoutMs must be a number/);
});

test('timing settings the timers cannot honour are a TypeError naming the setting', () => {
  const make = (timing: Record<string, number>) => () => new OwnershipAgent({ nodeId: 'n', servers: ['127.0.0.1:1'], timing });
  // Infinity used to drop a server's assignments 1 ms after its stream ended; 0 reconnected in a busy loop.
  assert.throws(make({ dropAfterMs: Infinity }), /timing\.dropAfterMs must be a whole number of ms from 0 to 2147483647, got Infinity/);
  assert.throws(make({ backoffInitialMs: 0 }), /timing\.backoffInitialMs must be .* from 1 /);
  assert.throws(make({ backoffMaxMs: NaN }), /timing\.backoffMaxMs/);
  assert.throws(make({ reportDeadlineMs: -5 }), /timing\.reportDeadlineMs/);
  assert.throws(make({ loadWindowMs: 1.5 }), /timing\.loadWindowMs must be a whole number/);
  assert.throws(make({ reportAttempts: 0 }), /timing\.reportAttempts must be a whole number >= 1/);
  assert.doesNotThrow(make({ loadWindowMs: 0, dropAfterMs: 0, reportRetryMs: 0 }));
});

test('a log function that throws does not crash the process: the agent carries on and warns once', async (t) => {
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.message);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  let calls = 0;
  // Nothing listens on port 1: every stream ends, and each end is logged from gRPC's status event.
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: ['127.0.0.1:1'],
    timing: FAST,
    log: () => {
      calls++;
      throw new TypeError('logger[record.level] is not a function');
    },
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('several stream ends logged', () => calls, { accept: (n) => n >= 3 });
  await eventually('warned', () => warnings.filter((w) => w.startsWith('OwnershipAgent: log threw')), { accept: (w) => w.length === 1 });
});

test('waitForHandoff times out after timeoutMs even when the wall clock steps back an hour meanwhile', async (t) => {
  const agent = new OwnershipAgent({ nodeId: 'n', servers: ['127.0.0.1:1'], timing: FAST });
  t.after(() => agent.close());
  const waiting = agent.waitForHandoff(300);
  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() - 3_600_000);
  const result = await Promise.race([waiting, sleep(3_000).then(() => 'still waiting' as const)]);
  assert.equal(result, false, 'ended at its timeout');
});
