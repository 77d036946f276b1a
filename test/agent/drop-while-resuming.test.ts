// The drop clock (dropAfterMs) running out while a resumed stream waits to count as up
// (STREAM_SETTLE_MS): that stream announced what the link held, so keyway holds those versions as
// the node's and sends nothing for them. Dropping them then left the node with nothing from this
// replica for as long as the stream lived, while keyway believed it in sync.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, decodeRequest, startFakeKeyway } from './fake-keyway.js';

test('assignments dropped while a resumed stream settles are asked for again, not lost while keyway thinks the node holds them', async (t) => {
  const fake = await startFakeKeyway((call, n) => {
    call.on('error', () => {});
    call.once('data', (b: Buffer) => {
      const announced = Object.keys(decodeRequest(b).initialResourceVersions).length;
      // As keyway: a stream that announced the current versions gets nothing; one that announced
      // nothing gets the whole set.
      if (announced === 0) call.write(assignmentsResponse([0, 3], 8, `n${n}`));
      // The first stream ends soon after its answer (a replica restarting, a connection aged out).
      if (n === 1) setTimeout(() => call.emit('error', { code: status.UNAVAILABLE, details: 'connection reset' }), 50);
    });
  });
  t.after(() => fake.close());
  // The drop falls inside the second stream's settle window (reconnect after 10-20 ms, settle 1 s).
  const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: { backoffInitialMs: 20, backoffMaxMs: 100, reportRetryMs: 20, dropAfterMs: 400 } });
  t.after(() => agent.close());
  agent.start();
  await eventually('assignments', () => agent.assignments().size, { accept: (n) => n === 2 });
  await eventually('resumed', () => fake.streams >= 2);
  await sleep(1_600); // past the drop and the settle
  assert.equal(agent.connected(), true, 'the link is up');
  await eventually('the node holds its assignments again', () => agent.assignments().size, { accept: (n) => n === 2, timeoutMs: 2_000 });
});
