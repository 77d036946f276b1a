// close() cancels the ReportWarm and ReportLoad calls still in flight (docs/ownership.md "The agent
// library"): left to their deadline (`reportDeadlineMs`, 5 s by default), a replica that answers
// slowly kept a closed agent's process alive that long after close() resolved, during a node's
// SIGTERM grace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerUnaryCall } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, startFakeKeyway, type RawStream } from './fake-keyway.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const WARMING = () => ({ role: 1, phase: 2, reader: false, untilUnixMs: BigInt(Date.now() + 600_000), servingOwners: [{ id: 'b', address: '10.0.0.2', port: 8080 }] });

/** A replica that gives shard 1 as WARMING and never answers a report; it counts the calls that reach it and those cancelled. */
async function silentReplica() {
  const calls = { ReportWarm: 0, ReportLoad: 0, cancelled: 0 };
  const fake = await startFakeKeyway(
    (call: RawStream) => {
      call.on('error', () => {});
      call.write(assignmentsResponse([1], 8, 'w1', WARMING()));
    },
    (p: string, call: ServerUnaryCall<Buffer, Buffer>) => {
      calls[p as 'ReportWarm' | 'ReportLoad']++;
      call.on('cancelled', () => calls.cancelled++);
    },
  );
  return { fake, calls };
}

test('close() cancels the warm and load reports in flight instead of leaving them to their deadline', async (t) => {
  const { fake, calls } = await silentReplica();
  t.after(() => fake.close());
  const logs: Record<string, unknown>[] = [];
  const agent = new OwnershipAgent({
    nodeId: 'a',
    servers: [fake.address],
    timing: { reportDeadlineMs: 600_000, loadWindowMs: 100 },
    warm: async () => {},
    log: (r) => logs.push(r),
  });
  t.after(() => agent.close());
  agent.start();
  agent.recordRequest(1);
  await eventually('a warm and a load report in flight', () => ({ ...calls }), { accept: (c) => c.ReportWarm === 1 && c.ReportLoad >= 1, timeoutMs: 10_000 });
  const inFlight = calls.ReportWarm + calls.ReportLoad;
  assert.equal(calls.cancelled, 0);
  await agent.close();
  await eventually('the replica saw every call cancelled', () => calls.cancelled, { accept: (n) => n === inFlight, timeoutMs: 10_000 });
  const line = logs.find((r) => r.msg === 'reports in flight cancelled by close()');
  assert.equal(line?.calls, inFlight);
  // A cancelled report is neither retried nor logged as a failure.
  assert.ok(!logs.some((r) => String(r.msg).startsWith('warm report failed') || String(r.msg).startsWith('load report failed')), JSON.stringify(logs));
});

// The agent in a child process, closed while its warm report waits for an answer that never
// comes (a 10 min deadline): the child must then end on its own, with nothing left to run.
const CHILD = (address: string) => `
import { OwnershipAgent } from ${JSON.stringify(path.join(ROOT, 'src/agent/index.ts'))};
const agent = new OwnershipAgent({ nodeId: 'a', servers: [${JSON.stringify(address)}], timing: { reportDeadlineMs: 600000, loadWindowMs: 0 }, warm: async () => {}, log: () => {} });
agent.start();
process.stdin.once('data', async () => {
  process.stdin.destroy();
  await agent.close();
  process.stdout.write('closed\\n');
});
`;

test('a node process whose agent is closed with a report in flight ends without waiting for the report\'s deadline', { timeout: 60_000 }, async (t) => {
  const { fake, calls } = await silentReplica();
  t.after(() => fake.close());
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD(fake.address)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  // Bounded well below the report's deadline: a child still up then is killed, and the test fails.
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.after(() => clearTimeout(killer));
  await eventually('the child\'s warm report reached the replica', () => calls.ReportWarm, { accept: (n) => n === 1, timeoutMs: 20_000 });
  child.stdin.write('close\n');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  assert.equal(signal, null, `the child was killed, still up 30 s into a 10 min report deadline: ${out}`);
  assert.equal(code, 0);
  assert.match(out, /closed/);
  assert.equal(calls.cancelled, 1, 'the replica saw the report cancelled');
});
