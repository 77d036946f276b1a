/**
 * A change whose push writes no response (a view that changes nothing proxies receive) does not
 * supersede the change still waiting for its answers: the proxies will still ACK that one's
 * responses, so it converges and its convergence is recorded, once. A change that does write a
 * response supersedes it, as before.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ServingView } from '../../src/core/serving.js';
import type { KeywayMetrics } from '../../src/telemetry/index.js';
import { pushTelemetry } from '../../src/app/push-telemetry.js';

let seq = 0;
const view = (version: string): ServingView => ({ sequence: ++seq, map: { version }, updatedAt: new Date() }) as unknown as ServingView;

function setup() {
  const convergence: number[] = [];
  const metrics = { recordPush: () => {}, recordConvergence: (s: number) => void convergence.push(s) } as unknown as KeywayMetrics;
  const t = pushTelemetry({ metrics, logger: pino({ level: 'silent' }), connected: () => true });
  const send = (version: string) => t.events.sent!({ nodeId: 'a', streamId: 's', kind: 'endpoint', version, nonce: version, resources: 1, at: Date.now() });
  const ack = (version: string) => t.events.acked!({ nodeId: 'a', streamId: 's', kind: 'endpoint', version, sentAt: Date.now(), at: Date.now() });
  return { t, send, ack, convergence };
}

test('a push of no response leaves the change in flight to converge on its answers', async () => {
  const { t, send, ack, convergence } = setup();
  const p = view('p');
  t.published(p, 'file');
  t.pushing(() => send('p'));
  t.published(view('q'), 'file');
  t.pushing(() => undefined); // q changes nothing the proxy receives
  ack('p');
  assert.deepEqual(convergence.length, 1, "p's change converged on the proxy's ACK");
  t.close();
});

test('a push that writes a response supersedes the change in flight', async () => {
  const { t, send, ack, convergence } = setup();
  t.published(view('p'), 'file');
  t.pushing(() => send('p'));
  t.published(view('q'), 'file');
  t.pushing(() => send('q'));
  ack('q');
  assert.deepEqual(convergence.length, 1, "q's change converged; p's was superseded");
  t.close();
});
