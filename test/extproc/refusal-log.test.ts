/**
 * A gateway sending ProcessingRequests that do not decode, or in an order the protocol forbids, in a
 * loop (docs/gateways.md): each stream ends INVALID_ARGUMENT, and keyway logs it once per burst with
 * the peer and why, then counts the rest. Before, nothing was logged at all (docs/xds-protocol.md
 * said `warn` with the peer), and a keyway fault repeated on every request logged one error each.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { startExtProcServer } from '../../src/extproc/index.js';
import { state } from './three-nodes.js';
import { pool, rawBidi, rawClient } from '../xds/server/fuzz-kit.js';
import { captureLogs } from '../serve/support.js';
import { PROCESS } from './fuzz-messages.js';

test('undecodable ProcessingRequests in a loop: one warn line with the peer and why, then the count', { timeout: 30_000 }, async () => {
  const { logger, records } = captureLogs('info');
  const server = await startExtProcServer({ state, port: 0, host: '127.0.0.1', logger });
  const client = rawClient(server.port);
  await pool(10, 100, async () => {
    const { status } = await rawBidi(client, PROCESS, [new Uint8Array([0x0a, 0x05])], 'half-close', 5_000);
    assert.equal(status?.code, GrpcStatus.INVALID_ARGUMENT);
  });
  client.close();
  await server.close();
  const warns = records.filter((r) => r.level === 40);
  assert.equal(warns.length, 1, JSON.stringify(records));
  assert.match(String(warns[0]!.peer), /127\.0\.0\.1:\d+$/);
  assert.match(String(warns[0]!.error), /is not a valid envoy\.service\.ext_proc\.v3\.ProcessingRequest/);
  assert.deepEqual(records.filter((r) => r.refused !== undefined).map((r) => r.refused), [100]);
});
