// A keyway replica that refuses an ownership stream at a stream cap (RESOURCE_EXHAUSTED, `already
// holds N xDS streams`, docs/security.md "xDS streams") did not refuse the names the stream
// announced: the next stream announces them again, so keyway resends nothing unchanged while it
// is overloaded. Only the names cap's own refusal makes the agent announce nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { OwnershipAgent } from '../../src/agent/index.js';
import { eventually } from '../support/eventually.js';
import { assignmentsResponse, decodeRequest, refuse, startFakeKeyway } from './fake-keyway.js';

const FAST = { backoffInitialMs: 20, backoffMaxMs: 100 };

/** keyway's refusals at its stream caps (src/xds/server), word for word. */
const STREAM_CAP_REFUSALS = [
  'LIMIT_EXCEEDED: this keyway replica already holds 10000 xDS streams (the limit is 10000, KEYWAY_XDS_MAX_STREAMS); retry later or on another replica',
  'LIMIT_EXCEEDED: connection 127.0.0.1:5000 already holds 100 xDS streams (the limit is 100, KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION)',
  'LIMIT_EXCEEDED: node "a" already holds 16 xDS streams (the limit is 16, KEYWAY_XDS_MAX_STREAMS_PER_NODE)',
];

for (const details of STREAM_CAP_REFUSALS) {
  test(`refused at a stream cap after announcing, the next stream announces again (${details.slice(16, 60)}…)`, async (t) => {
    const announced: number[] = [];
    const fake = await startFakeKeyway((call, n) => {
      call.on('error', () => {});
      call.once('data', (b: Buffer) => {
        announced.push(Object.keys(decodeRequest(b).initialResourceVersions).length);
        if (n === 1) {
          call.write(assignmentsResponse([0, 1, 2], 8, 'n1'));
          setTimeout(() => refuse(call, status.UNAVAILABLE, 'connection reset'), 50);
        } else if (n === 2) {
          refuse(call, status.RESOURCE_EXHAUSTED, details);
        } else {
          // In sync: keyway has nothing to send a stream that announced the current versions.
          if (Object.keys(decodeRequest(b).initialResourceVersions).length === 0) call.write(assignmentsResponse([0, 1, 2], 8, `n${n}`));
        }
      });
    });
    t.after(() => fake.close());
    const agent = new OwnershipAgent({ nodeId: 'a', servers: [fake.address], timing: FAST });
    t.after(() => agent.close());
    agent.start();
    await eventually('a third stream', () => announced.length, { accept: (k) => k >= 3, describe: () => announced });
    assert.deepEqual(announced.slice(0, 3), [0, 3, 3], 'the stream after the refusal announces what the node holds');
    assert.deepEqual([...agent.assignments().keys()].sort(), [0, 1, 2]);
  });
}
