// A port the xDS server cannot take stops the start with a message that names the xDS server and
// its address: grpc-js alone says "No address added out of total 1 resolved", which does not say
// which of keyway's ports is taken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { startXdsServer } from '../../../src/xds/server/index.js';
import { miniSet } from '../../support/xds-client/resources.js';

test('an xDS port in use fails the start naming the xDS server and its address', async (t) => {
  const holder = createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const { port } = holder.address() as AddressInfo;
  await assert.rejects(startXdsServer({ cache: new SnapshotCache({ build: () => miniSet({ clusters: { c0: [9001] } }), checkConsistency: () => [] }), port, host: '127.0.0.1' }), (err: Error) => {
    assert.match(err.message, new RegExp(`^xDS server cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
    return true;
  });
});
