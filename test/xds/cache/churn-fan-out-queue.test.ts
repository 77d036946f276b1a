// Streams come and go while rebuilds keep coming (docs/xds-protocol.md "Fan-out in slices"): when
// each rebuild arrives before the previous fan-out has drained (a big fleet, a flip tick every
// second during a rollout), the queue of watcher calls is never empty. The calls already made
// must not stay in it for as long: each holds its watcher, and so the closed stream behind it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency } from '../../../src/xds/translator/index.js';
import type { ProxyClass } from '../../../src/xds/resources.js';
import { miniSet } from '../../support/xds-client/resources.js';
import { collectGarbage } from '../../support/heap.js';

const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('under rebuilds that never let the fan-out drain, streams that closed are released', async () => {
  let port = 9001;
  const cache = new SnapshotCache({ build: () => miniSet({ clusters: { c1: [port] } }), checkConsistency, fanOutSlice: 4 });
  cache.snapshot(envoy);
  const open: (() => void)[] = [];
  const gone: WeakRef<object>[] = [];
  let calls = 0;
  // A stream: its watch holds its session (here a 64 KiB object) through the listener.
  const connect = (): void => {
    const session = { buffer: new Uint8Array(64 * 1024) };
    gone.push(new WeakRef(session));
    open.push(cache.watch(envoy, 'endpoint', () => void (calls += session.buffer.length > 0 ? 1 : 0)));
  };
  for (let i = 0; i < 64; i++) connect();
  let last: Promise<void> | undefined;
  // 2000 streams come and go, one endpoint change per turn: 64 watchers at 4 per turn never drain.
  for (let n = 0; n < 2000; n++) {
    port = 9001 + (n % 50);
    last = cache.rebuild().fanOut ?? last;
    open.shift()!();
    connect();
    await turn();
  }
  assert.ok(calls > 1000, `watchers were called (${calls})`);
  // The first 1000 streams closed long ago; only the live ones (and one backlog) may be held.
  for (const stop of open) stop();
  collectGarbage();
  await turn();
  collectGarbage();
  const held = gone.slice(0, 1000).filter((r) => r.deref() !== undefined).length;
  assert.ok(held <= 64, `${held} of 1000 closed streams still held by the fan-out queue`);
  await last;
});
