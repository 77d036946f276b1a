// A dns:/// entry's waits run on the monotonic clock (src/agent/replica-names.ts): a wall clock
// stepped back (an NTP correction, a VM resumed) does not hold off the re-resolve a link failure
// asks for, which on the wall clock waited as long as the clock went back (up to the next refresh).
import { test } from 'node:test';
import { ReplicaName, parseDnsTarget, type DnsTarget } from '../../src/agent/replica-names.js';
import { eventually } from '../support/eventually.js';

test('a link failure re-resolves soon after the wall clock stepped back an hour', async (t) => {
  let lookups = 0;
  let mono = 1_000;
  let wallOffset = 0;
  const real = Date.now.bind(Date);
  t.mock.method(Date, 'now', () => real() + wallOffset);
  const target = parseDnsTarget('dns:///keyway:18000') as DnsTarget;
  const name = new ReplicaName(
    target,
    () => {
      lookups++;
      return Promise.resolve(['10.0.0.1']);
    },
    { dnsRefreshMs: 600_000, backoffInitialMs: 10, backoffMaxMs: 100 },
    () => {},
    () => {},
    () => mono,
  );
  t.after(() => name.close());
  name.start();
  await eventually('resolved', () => (lookups === 1 ? true : undefined));
  // A minute later by both clocks, and the wall clock stepped back an hour meanwhile.
  mono += 60_000;
  wallOffset = 60_000 - 3_600_000;
  name.soon(10);
  await eventually('resolved again', () => (lookups === 2 ? true : undefined), { timeoutMs: 2_000 });
});
