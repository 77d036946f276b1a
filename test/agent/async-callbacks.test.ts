// The agent with the callbacks a hurried developer writes (docs/ownership.md "The agent library"):
// an `async` onChange or log that rejects is caught as a throwing one is, not left as an unhandled
// rejection (which ends a Node process); options of the wrong type are a TypeError that says what
// was passed; waitForHandoff without a number is a TypeError, not an endless 1 ms timer loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { OwnershipAgent } from '../../src/agent/index.js';
import { assignmentsResponse, startFakeKeyway } from './fake-keyway.js';
import { eventually } from '../support/eventually.js';

/** Records unhandled rejections while `t` runs (the listener also keeps one from ending the run). */
function unhandledRejections(t: { after: (fn: () => void) => void }): unknown[] {
  const seen: unknown[] = [];
  const listener = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', listener);
  t.after(() => process.off('unhandledRejection', listener));
  return seen;
}

test('an async onChange that rejects is logged as onChange failed, with no unhandled rejection', async (t) => {
  const unhandled = unhandledRejections(t);
  const fake = await startFakeKeyway((call) => {
    call.on('error', () => {});
    call.write(assignmentsResponse([1, 2], 8, 'n1'));
  });
  t.after(() => fake.close());
  const logged: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [fake.address],
    onChange: async () => {
      await sleep(1);
      throw new Error('cache not ready');
    },
    log: (r) => void logged.push(r),
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('onChange failed to be logged', () => logged.some((r) => r['msg'] === 'onChange failed'));
  await sleep(20);
  assert.deepEqual(unhandled.map(String), []);
  assert.match(String(logged.find((r) => r['msg'] === 'onChange failed')?.['err']), /cache not ready/);
  assert.deepEqual([...agent.assignments().keys()], [1, 2], 'the change stands');
});

test('an async log that rejects becomes one process warning, with no unhandled rejection', async (t) => {
  const unhandled = unhandledRejections(t);
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  // Nothing listens there: each failed stream is logged (at debug), several before the close.
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: ['127.0.0.1:1'],
    timing: { backoffInitialMs: 5, backoffMaxMs: 10 },
    log: async () => {
      throw new Error('log sink down');
    },
  });
  t.after(() => agent.close());
  agent.start();
  await sleep(300);
  await agent.close();
  await eventually('the warning', () => warnings.some((w) => /log threw/.test(w.message)));
  await sleep(20);
  assert.deepEqual(unhandled.map(String), []);
  assert.equal(warnings.filter((w) => /log threw/.test(w.message)).length, 1, 'warned once');
});

test('waitForHandoff without a number of ms is a TypeError, not an endless wait re-armed every millisecond', async (t) => {
  const agent = new OwnershipAgent({ nodeId: 'n', servers: ['127.0.0.1:1'] });
  t.after(() => agent.close());
  const wait = agent.waitForHandoff as (timeoutMs?: unknown) => Promise<boolean>;
  assert.throws(() => wait.call(agent), { name: 'TypeError', message: /timeoutMs must be a number of milliseconds .*got undefined/ });
  assert.throws(() => wait.call(agent, '60s'), { name: 'TypeError', message: /got "60s"/ });
  assert.equal(await agent.waitForHandoff(0), false);
});

test('a nodeId or servers of the wrong type is a TypeError that names what was passed', () => {
  const make = (opts: unknown): OwnershipAgent => new OwnershipAgent(opts as ConstructorParameters<typeof OwnershipAgent>[0]);
  assert.throws(() => make({ servers: ['127.0.0.1:1'] }), { name: 'TypeError', message: /nodeId must be .*a non-empty string\), got undefined/ });
  assert.throws(() => make({ nodeId: 42, servers: ['127.0.0.1:1'] }), { name: 'TypeError', message: /nodeId .*got number 42/ });
  assert.throws(() => make({ nodeId: 'n' }), { name: 'TypeError', message: /servers must be an array .*got undefined/ });
  assert.throws(() => make({ nodeId: 'n', servers: 'keyway:18000' }), { name: 'TypeError', message: /servers must be an array .*got "keyway:18000"/ });
});

test('close() from inside onChange: the warm-ups that change started are not called after the close', async (t) => {
  const fake = await startFakeKeyway((call) => {
    call.on('error', () => {});
    const until = BigInt(Date.now() + 60_000);
    call.write(assignmentsResponse([3, 5], 8, 'w1', { role: 1, phase: 2, reader: false, untilUnixMs: until, servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] }));
  });
  t.after(() => fake.close());
  let closed = false;
  const warmedAfterClose: number[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'n',
    servers: [fake.address],
    warm: async (a) => {
      if (closed) warmedAfterClose.push(a.shard);
    },
    onChange: () => {
      // The node is shutting down: a hurried shutdown path closes the agent from its callback.
      closed = true;
      void agent.close();
    },
  });
  t.after(() => agent.close());
  agent.start();
  await eventually('the first change', () => closed);
  await sleep(50);
  assert.deepEqual(warmedAfterClose, [], 'warm was called after close()');
});

test('a host:port server with a port outside 1..65535 is a TypeError, as a dns:/// one is, not a stream failing for ever', () => {
  for (const bad of ['keyway:0', 'keyway:99999', '[::1]:70000']) {
    assert.throws(() => new OwnershipAgent({ nodeId: 'n', servers: [bad] }), { name: 'TypeError', message: /is not host:port or dns:\/\/\/HOST:PORT \(a port in 1\.\.65535\)/ }, bad);
  }
  for (const good of ['keyway:1', 'keyway:65535', '[::1]:18000']) void new OwnershipAgent({ nodeId: 'n', servers: [good] }).close();
});
