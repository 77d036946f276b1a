// A snapshot is a function of its content (docs/xds-protocol.md "Snapshots and versions"): the same
// resource set built again, later, gives an equal snapshot, with nothing in it that depends on when
// it was built. A build time kept on every snapshot was read by nothing and made two snapshots of
// one content differ.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { buildSnapshot, ResourceEncoder } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { miniSet } from '../../support/xds-client/resources.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: 'z1', subzone: 'nvl-1' };

test('the same resource set built at two times gives equal snapshots', (t) => {
  mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
  t.after(() => mock.timers.reset());
  const set = miniSet({ clusters: { c0: [9001, 9002], c1: [9003] } });
  const encoder = new ResourceEncoder();
  const first = buildSnapshot(envoy, set, encoder, checkConsistency);
  mock.timers.tick(60_000);
  const second = buildSnapshot(envoy, set, encoder, checkConsistency);
  assert.notEqual(first, second);
  assert.deepStrictEqual(second, first);
  assert.deepStrictEqual(Object.keys(first).sort(), ['classKey', 'kinds', 'proxyClass', 'version']);
});
