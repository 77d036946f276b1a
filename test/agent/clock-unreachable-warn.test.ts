// A run of failed ownership streams is timed on the monotonic clock (src/agent/server-link.ts): a
// wall clock that steps (an NTP correction, a VM resumed) neither holds the `keyway unreachable`
// warning back by the size of a step back nor makes it fire at once, naming the step's length,
// after a step forward.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { FAILING_REPORT_AFTER_MS, ServerLink } from '../../src/agent/server-link.js';
import { eventually } from '../support/eventually.js';

const HOUR = 3_600_000;
const TIMING = { backoffInitialMs: 20, backoffMaxMs: 50, dropAfterMs: 60_000, reportDeadlineMs: 1_000 };

/** A port that refuses every connection: a listener closed at once. */
async function refusingPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A link to `port` failing its streams, on a monotonic clock the test moves; once its first failure is logged. */
async function failingLink(t: TestContext, port: number): Promise<{ logs: Record<string, unknown>[]; advance: (ms: number) => void }> {
  let mono = 1_000;
  const logs: Record<string, unknown>[] = [];
  const link = new ServerLink(`127.0.0.1:${port}`, 'n', TIMING, () => {}, (r) => logs.push(r), undefined, {}, () => mono);
  t.after(() => link.close());
  link.connect();
  await eventually('a failed stream', () => logs.length > 0);
  return { logs, advance: (ms) => void (mono += ms) };
}

// The wall clock is moved only forward here: moved back by a mock of Date.now alone, it disagrees
// with `new Date()`, which grpc-js times connectivity watches by, and their deadlines pass at once.
test('a wall clock stepped forward an hour does not make the unreachable warning fire at once, naming the step', { timeout: 20_000 }, async (t) => {
  const port = await refusingPort();
  const real = Date.now.bind(Date);
  let wallOffset = 0;
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const { logs, advance } = await failingLink(t, port);
  wallOffset = HOUR;
  await eventually('more failed streams', () => logs.length > 5);
  assert.deepEqual(logs.filter((l) => l.level === 'warn'), [], 'no warning before FAILING_REPORT_AFTER_MS');
  advance(FAILING_REPORT_AFTER_MS);
  const warns = await eventually('warned', () => logs.filter((l) => l.level === 'warn'), { accept: (w) => w.length > 0, timeoutMs: 3_000 });
  assert.match(String(warns[0]!.msg), /^keyway unreachable for 10 s; still retrying/);
});

test('the unreachable warning comes FAILING_REPORT_AFTER_MS into a run of failures on the monotonic clock, whatever the wall clock says', { timeout: 20_000 }, async (t) => {
  const port = await refusingPort();
  const { logs, advance } = await failingLink(t, port);
  advance(FAILING_REPORT_AFTER_MS);
  const warns = await eventually('warned', () => logs.filter((l) => l.level === 'warn'), { accept: (w) => w.length > 0, timeoutMs: 3_000 });
  assert.match(String(warns[0]!.msg), /^keyway unreachable for 10 s; still retrying/);
  assert.equal(warns.length, 1);
});
