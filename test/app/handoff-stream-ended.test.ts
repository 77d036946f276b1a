// The xDS stage tells the handoff driver at once when a node's last ownership stream ends, not
// only when the reconnect grace is over (docs/ownership.md "Two-phase moves"): a flip tick within
// the grace must not flip shards to a node that restarted cold on the warm report it sent before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnershipAgent } from '../../src/agent/index.js';
import { HandoffDriver } from '../../src/app/handoff-driver.js';
import { eventually } from '../support/eventually.js';
import { startKeywayInProcess } from '../support/keyway-in-process.js';

test("a node's last ownership stream ending reaches the handoff driver before the grace's re-plan", async (t) => {
  const calls: string[] = [];
  const proto = HandoffDriver.prototype;
  const { ownershipStreamEnded, ownershipStreamClosed } = proto;
  proto.ownershipStreamEnded = function (this: HandoffDriver, node: string) {
    calls.push(`ended ${node}`);
    return ownershipStreamEnded.call(this, node);
  };
  proto.ownershipStreamClosed = function (this: HandoffDriver, node: string) {
    calls.push(`closed ${node}`);
    return ownershipStreamClosed.call(this, node);
  };
  t.after(() => Object.assign(proto, { ownershipStreamEnded, ownershipStreamClosed }));

  const lines = ['shards: 16', 'replicas: 1', 'handoff: {warmTimeoutMs: 60000}', 'endpoints:'];
  ['n0', 'n1'].forEach((id, i) => lines.push(`  - id: ${id}`, `    address: 10.0.0.${i + 1}`, '    port: 8080'));
  const { server } = await startKeywayInProcess(t, `${lines.join('\n')}\n`);
  const agent = new OwnershipAgent({ nodeId: 'n1', servers: [`127.0.0.1:${server.listening.xdsPort!}`], timing: { backoffInitialMs: 20, backoffMaxMs: 200 } });
  agent.start();
  t.after(() => agent.close());
  const url = `http://127.0.0.1:${server.httpPort}/v1/proxies`;
  await eventually('the agent connected', async () => ((await (await fetch(url)).json()) as { proxies: { flavor: string }[] }).proxies, {
    accept: (rows) => rows.some((p) => p.flavor === 'agent'),
  });

  await agent.close();
  await eventually("the driver told of the node's last stream", () => calls.slice(), { accept: (c) => c.includes('ended n1') });
  // The re-plan comes only when the grace (2 s) is over; the stream's end was told first.
  await eventually('the grace over', () => calls.slice(), { accept: (c) => c.includes('closed n1'), timeoutMs: 10_000 });
  assert.deepEqual(calls, ['ended n1', 'closed n1']);
});
