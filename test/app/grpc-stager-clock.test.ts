/**
 * The make-before-break bound runs on a monotonic clock (src/app/grpc-stager.ts): a phase nobody
 * ACKs ends at its bound even when the wall clock steps back meanwhile (an NTP correction, a VM
 * resumed). On the wall clock the phase waited for as long as the clock went back, and with it
 * every change arriving in the meantime (a change during an `add` phase keeps that deadline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResourceSet } from '../../src/xds/resources.js';
import { eventually } from '../support/eventually.js';
import { grpcSet, oneClassStager } from './grpc-sets.js';

test('a phase ends at its bound when the wall clock steps back an hour', async (t) => {
  let target: ResourceSet = grpcSet(['a']);
  const stager = oneClassStager({ timeoutMs: 50, synced: () => false, target: () => target });
  t.after(() => stager.close());
  stager.build('K', target);
  target = grpcSet(['b']);
  stager.build('K', target);
  stager.rebuilt(new Set(['K']));
  assert.deepEqual(stager.inProgress(), [{ classKey: 'K', phase: 'add' }]);
  const realNow = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => realNow() - 3_600_000);
  await eventually('done', () => (stager.inProgress().length === 0 ? true : undefined), { timeoutMs: 3000 });
});
