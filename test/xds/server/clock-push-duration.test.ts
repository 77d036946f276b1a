// A push's duration (response written to its ACK or NACK, keyway_xds_push_duration_seconds) is
// measured on the monotonic clock (src/xds/server/session.ts): a wall clock that steps (an NTP
// correction, a VM resumed) between a response and its answer recorded a negative duration, which
// the histogram drops, or one as long as the step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';
import type { AnswerEvent, XdsServerEvents } from '../../../src/xds/server/index.js';
import { eventually } from '../../support/eventually.js';

const V1: MiniTopology = { clusters: { c0: [9001, 9002], c1: [9003] } };
const HOUR = 3_600_000;

for (const step of [-HOUR, HOUR]) {
  test(`an ACK and a NACK after the wall clock stepped ${step < 0 ? 'back' : 'forward'} an hour give the time the proxy took`, { timeout: 10_000 }, async (t) => {
    const answers: AnswerEvent[] = [];
    const events: XdsServerEvents = { acked: (e) => answers.push(e), nacked: (e) => answers.push(e) };
    const h = await startHarness(V1, { events });
    t.after(() => h.close());
    const real = Date.now.bind(Date);
    let wallOffset = 0;
    t.mock.method(Date, 'now', () => real() + wallOffset);
    const client = h.client({ node: { id: `envoy-step-${step}` } });
    client.request('cluster', []);
    await client.expect('cluster');
    client.request('listener', []);
    await client.expect('listener');
    wallOffset = step;
    client.ack('cluster');
    client.nack('listener', 'rejected');
    await eventually('both answered', () => answers.length === 2);
    for (const e of answers) {
      const ms = e.at - e.sentAt;
      assert.ok(ms >= 0 && ms < 5_000, `${e.kind}: ${ms} ms from response to answer`);
    }
  });
}
