// What a delta stream believes its proxy holds is, after a push, a map shared with the snapshot
// (wildcard) or with every stream of its subscription (held-versions.ts). Sequences where that
// sharing could leak between streams or outlive a change, checked on real delta streams: what
// each stream is sent (resources and removals) is what a map of its own per stream gave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaBarrier, startHarness, type Harness } from '../../support/xds-client/harness.js';
import type { Received, XdsTestClient } from '../../support/xds-client/xds-client.js';
import type { MiniTopology } from '../../support/xds-client/resources.js';

const probes = { p0: [1] };
const V1: MiniTopology = { clusters: { c1: [9001], c2: [9002], c3: [9003] }, extraEndpoints: probes };
/** c1's endpoints change. */
const V1B: MiniTopology = { clusters: { c1: [9101], c2: [9002], c3: [9003] }, extraEndpoints: probes };
/** From V1B: c2's endpoints change; c1 and c3 stay. */
const V2: MiniTopology = { clusters: { c1: [9101], c2: [9102], c3: [9003] }, extraEndpoints: probes };
/** From V1: c2's endpoints change; c1 and c3 stay. */
const V2A: MiniTopology = { clusters: { c1: [9001], c2: [9102], c3: [9003] }, extraEndpoints: probes };
/** c3 is gone; c1 changes (from every version above). */
const V3: MiniTopology = { clusters: { c1: [9201], c2: [9102] }, extraEndpoints: probes };

const sent = (r: Received): string => `${r.resources.map((x) => x.name).sort().join(',')} | removed ${[...r.removed].sort().join(',')}`;

function versionsOf(h: Harness, kind: 'cluster' | 'endpoint'): Record<string, string> {
  const s = h.cache.snapshot({ flavor: 'envoy', zone: '', subzone: '' })!;
  return Object.fromEntries([...s.kinds[kind].resources.values()].map((r) => [r.name, r.version]));
}

/** A delta ADS stream: wildcard CDS, EDS for `names`, both answered and ACKed. */
async function open(h: Harness, id: string, names: readonly string[], initialEndpoints?: Record<string, string>): Promise<{ client: XdsTestClient; eds: Received }> {
  const client = h.client({ node: { id }, protocol: 'delta' });
  if (initialEndpoints) {
    // A resume: it holds every cluster, so none is sent (nor its endpoints resent for warming).
    client.delta('cluster', { initial: versionsOf(h, 'cluster') });
  } else {
    client.delta('cluster');
    client.delta('cluster', { nonce: (await client.expect('cluster')).nonce });
  }
  client.delta('endpoint', { subscribe: names, ...(initialEndpoints ? { initial: initialEndpoints } : {}) });
  const eds = await client.expect('endpoint');
  client.delta('endpoint', { nonce: eds.nonce });
  return { client, eds };
}

test('two streams share a subscription: one unsubscribes, a change comes, it resubscribes; the other is not affected', async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const a = await open(h, 'envoy-a', ['c1', 'c2']);
  const b = await open(h, 'envoy-b', ['c1', 'c2']);
  assert.deepEqual([sent(a.eds), sent(b.eds)], ['c1,c2 | removed ', 'c1,c2 | removed ']);

  // b drops c2: not answered (delta), and a's account is the map both shared.
  b.client.delta('endpoint', { unsubscribe: ['c2'] });
  await deltaBarrier(b.client);

  // c1 changes: both are sent c1 only (a still holds c2 at its version; b no longer asks for it).
  h.set(V1B);
  for (const x of [a, b]) {
    const e = await x.client.expect('endpoint');
    assert.equal(sent(e), 'c1 | removed ');
    x.client.delta('endpoint', { nonce: e.nonce });
  }

  h.set(V2);
  const ea = await a.client.expect('endpoint');
  assert.equal(sent(ea), 'c2 | removed ', 'a holds c2 and is sent its change');
  a.client.delta('endpoint', { nonce: ea.nonce });
  await deltaBarrier(b.client); // b was sent nothing: it holds c1 only, unchanged

  // b subscribes to c2 again: it forgot it on the unsubscribe, so it is sent, at V2's version.
  b.client.delta('endpoint', { subscribe: ['c2'] });
  const eb = await b.client.expect('endpoint');
  assert.equal(sent(eb), 'c2 | removed ');
  assert.equal(eb.resources[0]!.version, versionsOf(h, 'endpoint').c2);
  b.client.delta('endpoint', { nonce: eb.nonce });

  // a drops c1 and subscribes c3; c3 goes away and c1 changes: a is told c3 is removed, b gets c1.
  a.client.delta('endpoint', { unsubscribe: ['c1'], subscribe: ['c3'] });
  const ea2 = await a.client.expect('endpoint');
  assert.equal(sent(ea2), 'c3 | removed ');
  a.client.delta('endpoint', { nonce: ea2.nonce });
  h.set(V3);
  // c3's cluster goes first (make-before-break), then its endpoints.
  for (const x of [a, b]) {
    assert.equal(sent(await x.client.expect('cluster')), ' | removed c3');
    x.client.ack('cluster');
  }
  const ea3 = await a.client.expect('endpoint');
  assert.equal(sent(ea3), ' | removed c3');
  const eb3 = await b.client.expect('endpoint');
  assert.equal(sent(eb3), 'c1 | removed ');
  await deltaBarrier(a.client);
  await deltaBarrier(b.client);
});

test('a NACKed version counts as held; a resume with initial versions is answered with the stale ones only; "*" added to names', async (t) => {
  const h = await startHarness(V1, { holdOff: { holdOffMs: 0, maxDelayMs: 0 } });
  t.after(() => h.close());
  const a = await open(h, 'envoy-a', ['c1', 'c2']);
  const b = await open(h, 'envoy-b', ['c1', 'c2']);

  // a NACKs V2A's c2: not resent to a while it is deemed to hold it, even on a new subscription.
  h.set(V2A);
  const ea = await a.client.expect('endpoint');
  assert.equal(sent(ea), 'c2 | removed ');
  a.client.nack('endpoint', 'rejected');
  const eb = await b.client.expect('endpoint');
  assert.equal(sent(eb), 'c2 | removed ');
  b.client.ack('endpoint');
  a.client.delta('endpoint', { subscribe: ['c3'] });
  const ea2 = await a.client.expect('endpoint');
  assert.equal(sent(ea2), 'c3 | removed ', 'the NACKed c2 is not resent; c3 is new');
  a.client.ack('endpoint');

  // A stream resuming with c1 current and c2 stale is sent c2 only; one in sync but for a name keyway
  // does not serve is told of that name only.
  const v = versionsOf(h, 'endpoint');
  const c = await open(h, 'envoy-c', ['c1', 'c2'], { c1: v.c1!, c2: 'stale' });
  assert.equal(sent(c.eds), 'c2 | removed ');
  const { client: d, eds: ed } = await open(h, 'envoy-d', ['c1', 'c2', 'gone'], { c1: v.c1!, c2: v.c2!, gone: 'x' });
  assert.equal(sent(ed), ' | removed gone', 'only the name it holds that keyway does not serve');

  // d adds "*": it is sent what it did not hold (c3 and the probe), not c1 and c2 again.
  d.delta('endpoint', { subscribe: ['*'] });
  const ed2 = await d.expect('endpoint');
  assert.equal(sent(ed2), 'c3,p0 | removed ');
  d.delta('endpoint', { nonce: ed2.nonce });
  // While "*" stays, dropping c1 is answered with c1 (the wildcard holds it); then c3 goes.
  d.delta('endpoint', { unsubscribe: ['c1'] });
  const ed3 = await d.expect('endpoint');
  assert.equal(sent(ed3), 'c1 | removed ');
  d.delta('endpoint', { nonce: ed3.nonce });
  h.set(V3);
  assert.equal(sent(await d.expect('cluster')), ' | removed c3');
  d.ack('cluster');
  const ed4 = await d.expect('endpoint');
  assert.equal(sent(ed4), 'c1 | removed c3');
  // c, which resumed on its own account then pushed, follows the same change: c1 changed.
  assert.equal(sent(await c.client.expect('cluster')), ' | removed c3');
  const ec = await c.client.expect('endpoint');
  assert.equal(sent(ec), 'c1 | removed ');
});
