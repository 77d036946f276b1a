// SotW: the first answer to a response is its ACK or NACK; a later request with the same nonce (a
// repeated NACK, a subscription change) is neither counted nor logged again, and a request with the
// latest nonce but an older version_info and no error is no ACK (src/xds/server/sotw-session.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from '../../support/xds-client/harness.js';
import type { XdsServerEvents } from '../../../src/xds/server/index.js';

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const answers: string[] = [];
  const events: XdsServerEvents = { acked: (e) => answers.push(`ack ${e.kind}`), nacked: (e) => answers.push(`nack ${e.kind}`) };
  const h = await startHarness({ clusters: { c0: [9001], c1: [9002] } }, { holdOff: { holdOffMs: 0, maxDelayMs: 0 }, events });
  t.after(() => h.close());
  return { h, answers };
}

/** Lets the server read what the client wrote: a request answered proves the earlier ones were handled. */
async function settle(c: ReturnType<Awaited<ReturnType<typeof startHarness>>['client']>): Promise<void> {
  c.request('listener', []);
  await c.expect('listener');
}

test('a NACK repeated with the same nonce is one NACK', async (t) => {
  const { h, answers } = await setup(t);
  const c = h.client({ node: { id: 'envoy-nack-twice' } });
  c.request('endpoint', ['c0']);
  await c.expect('endpoint');
  c.nack('endpoint', 'bad endpoints');
  c.nack('endpoint', 'bad endpoints');
  await settle(c);
  assert.deepEqual(answers.filter((a) => a.endsWith('endpoint')), ['nack endpoint']);
});

test('an ACK repeated with the same nonce (a subscription change) is one ACK', async (t) => {
  const { h, answers } = await setup(t);
  const c = h.client({ node: { id: 'envoy-ack-twice' } });
  c.request('endpoint', ['c0']);
  const r1 = await c.expect('endpoint');
  c.ack('endpoint');
  c.request('endpoint', ['c0', 'c1'], { nonce: r1.nonce, version: r1.version });
  await c.expect('endpoint');
  await settle(c);
  assert.deepEqual(answers.filter((a) => a.endsWith('endpoint')), ['ack endpoint']);
});

test('the latest nonce with an older version_info and no error is not an ACK', async (t) => {
  const { h, answers } = await setup(t);
  const c = h.client({ node: { id: 'envoy-old-version' } });
  c.request('endpoint', ['c0']);
  const r1 = await c.expect('endpoint');
  c.request('endpoint', ['c0', 'c1'], { nonce: r1.nonce, version: '' });
  await c.expect('endpoint');
  await settle(c);
  assert.deepEqual(answers.filter((a) => a.endsWith('endpoint')), []);
});
