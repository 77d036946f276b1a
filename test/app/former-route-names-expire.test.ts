// Former route names that no proxy asks for any more are dropped (docs/xds.md "A renamed service"):
// a former name, served by a rename or learned from an Envoy's RDS subscription, stays while a
// stream subscribes to it and for the grace after the last one lets go; then it is dropped, logged,
// and its slot (and the encoding of its alias at every change) freed. An injected clock and the
// server's `routeSubscribed` as a set of names: no timer, no wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import { FORMER_ROUTE_GRACE_MS, FormerRouteNames, MAX_FORMER_ROUTE_NAMES } from '../../src/app/former-route-names.js';

function logged(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

const GRACE = 1_000;
const asking = (listened: string[]) => ({ flavor: 'envoy' as const, listened: new Set(listened) });
const dropLines = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('no proxy has subscribed to it for the grace')).map((l) => l.routeConfiguration);

function clocked(): { former: FormerRouteNames; lines: Record<string, unknown>[]; clock: { now: number } } {
  const { logger, lines } = logged();
  const clock = { now: 0 };
  return { former: new FormerRouteNames(logger, { graceMs: GRACE, now: () => clock.now }), lines, clock };
}

test('the default grace is 60 s', () => {
  assert.equal(FORMER_ROUTE_GRACE_MS, 60_000);
});

test("a hostile client's made-up names are dropped once it disconnected and the grace passed; the genuine former name its bound refused is then learned", () => {
  const { former, lines, clock } = clocked();
  former.served('svc-b');
  const made = Array.from({ length: MAX_FORMER_ROUTE_NAMES }, (_, i) => `made-up-${i}`);
  const subscribed = new Set(['svc-b', ...made]);
  assert.equal(former.learn(asking(['svc-b']), made), true);
  // The genuine Envoy, draining a listener of the former service: refused, the bound is full.
  assert.equal(former.learn(asking(['svc-b']), ['keyway-cache']), false);
  subscribed.add('keyway-cache');
  assert.deepEqual(former.formerNames, made);
  // The hostile client disconnects: each name's last subscriber gone.
  clock.now = 5_000;
  for (const n of made) {
    subscribed.delete(n);
    assert.equal(former.released(n), true);
  }
  assert.equal(former.nextCheck(), 5_000 + GRACE);
  clock.now = 5_000 + GRACE - 1;
  assert.equal(former.expire((n) => subscribed.has(n)), false, 'within the grace: kept');
  assert.deepEqual(former.formerNames, made);
  clock.now = 5_000 + GRACE;
  const generation = former.generation;
  assert.equal(former.expire((n) => subscribed.has(n)), true);
  assert.notEqual(former.generation, generation, 'the sets made before still carry the aliases');
  assert.deepEqual(dropLines(lines), made, 'each drop logged at info');
  assert.deepEqual(former.formerNames, ['keyway-cache'], 'the refused name, still asked for, learned in a freed slot');
  // A later Envoy asking for a dropped name learns it again.
  assert.equal(former.learn(asking(['svc-b']), ['made-up-0']), true);
  assert.deepEqual(former.formerNames, ['keyway-cache', 'made-up-0']);
});

test('a name still asked for is never dropped, however long', () => {
  const { former, lines, clock } = clocked();
  former.served('svc-b');
  assert.equal(former.learn(asking(['svc-b']), ['keyway-cache']), true);
  for (let i = 1; i <= 50; i++) {
    clock.now = i * GRACE * 3;
    former.expire(() => true);
  }
  assert.deepEqual(former.formerNames, ['keyway-cache']);
  assert.equal(former.nextCheck(), undefined, 'no timer while it is asked for: the next check comes with its release');
  assert.deepEqual(dropLines(lines), []);
  // Released, and asked for again within the grace: still kept at the check.
  former.released('keyway-cache');
  clock.now += GRACE;
  assert.equal(former.expire(() => true), false);
  assert.deepEqual(former.formerNames, ['keyway-cache']);
});

test("a rename's name is kept for the grace though no Envoy asked yet, then while a stream holds it, and dropped the grace after the last lets go", () => {
  const { former, lines, clock } = clocked();
  former.served('keyway-cache');
  assert.equal(former.released('keyway-cache'), false, 'the name in force is never a former name');
  clock.now = 100;
  former.served('svc-b');
  assert.deepEqual(former.formerNames, ['keyway-cache']);
  assert.equal(former.nextCheck(), 100 + GRACE);
  clock.now = 100 + GRACE - 1;
  assert.equal(former.expire(() => false), false, 'no stream yet, but within the grace');
  // Draining Envoys reconnect and hold it past the grace.
  clock.now = 100 + GRACE;
  assert.equal(former.expire((n) => n === 'keyway-cache'), false);
  clock.now = 100 + 10 * GRACE;
  assert.equal(former.expire((n) => n === 'keyway-cache'), false);
  assert.deepEqual(former.formerNames, ['keyway-cache']);
  // The last draining connection closed.
  clock.now = 20_000;
  former.released('keyway-cache');
  clock.now = 20_000 + GRACE;
  assert.equal(former.expire(() => false), true);
  assert.deepEqual(former.formerNames, []);
  assert.deepEqual(dropLines(lines), ['keyway-cache']);
  assert.equal(former.nextCheck(), undefined);
});

test('a rename back to a former name serves it as itself, with no check left on it', () => {
  const { former, clock } = clocked();
  former.served('a');
  former.served('b');
  former.served('a');
  assert.deepEqual(former.formerNames, ['b']);
  clock.now = GRACE;
  assert.equal(former.expire(() => false), true);
  assert.deepEqual(former.formerNames, [], "b dropped; a, in force, stays");
});
