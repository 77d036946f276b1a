/**
 * Thousands of proxies cut in the middle of a change (a network partition, a load balancer reset):
 * each one's close drops only its own open pushes. It scanned every proxy's, so the closes cost
 * time quadratic in the proxies: 13.6 s of event loop at 10 000 on 2 cores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beginChangeTrace } from '../../src/telemetry/index.js';

const TYPES = ['cluster', 'endpoint', 'listener', 'route'];

/**
 * Counts the elements Map and Set iterations visit until `stop()`, throwing once past `budget` (so a
 * quadratic scan fails at once instead of running for seconds).
 */
function countIterationVisits(budget: number): { readonly count: number; stop(): void } {
  const state = { count: 0 };
  const restore: (() => void)[] = [];
  for (const proto of [Map.prototype, Set.prototype] as unknown as Record<PropertyKey, unknown>[]) {
    for (const name of ['entries', 'keys', 'values', Symbol.iterator] as PropertyKey[]) {
      const original = proto[name] as (this: unknown) => Iterator<unknown>;
      proto[name] = function (this: unknown): Iterator<unknown> {
        const it = original.call(this);
        const next = it.next.bind(it);
        return Object.assign(Object.create(it) as Iterator<unknown>, {
          next(): IteratorResult<unknown> {
            if (++state.count > budget) throw new Error(`more than ${budget} elements visited`);
            return next();
          },
          [Symbol.iterator]() {
            return this;
          },
        });
      };
      restore.push(() => void (proto[name] = original));
    }
    const forEach = proto.forEach as (this: unknown, f: (...a: unknown[]) => void) => void;
    proto.forEach = function (this: unknown, f: (...a: unknown[]) => void): void {
      forEach.call(this, (...a: unknown[]) => {
        if (++state.count > budget) throw new Error(`more than ${budget} elements visited`);
        f(...a);
      });
    };
    restore.push(() => void (proto.forEach = forEach));
  }
  return {
    get count() {
      return state.count;
    },
    stop: () => restore.forEach((r) => r()),
  };
}

test('10 000 proxies gone mid-change: the change ends converged over those that stayed, without a pass per proxy over all', async () => {
  const n = 10_000;
  const converged: number[] = [];
  const change = beginChangeTrace({ source: 'file', reason: 'mass disconnect', onConverged: (s) => converged.push(s) });
  for (let i = 0; i < n; i++) for (const type of TYPES) change.pushed(`envoy-${i}`, type);
  change.sealed();
  // One proxy ACKs everything; the rest vanish.
  for (const type of TYPES) assert.equal(change.proxyAcked('envoy-0', type), true);
  // Counted, not timed: every element any Map or Set iteration visits during the closes. The scan
  // per close visited about 2 x 10^8 (13.6 s); the budget is ten per close, and throws when passed.
  const visits = countIterationVisits(10 * n);
  try {
    for (let i = 1; i < n; i++) change.proxyGone(`envoy-${i}`);
  } finally {
    visits.stop();
  }
  const outcome = await change.settled;
  assert.equal(outcome.outcome, 'converged');
  assert.deepEqual({ pushes: outcome.pushes, acked: outcome.acked, pending: outcome.pending }, { pushes: 4, acked: 4, pending: 0 });
  assert.equal(converged.length, 1);
  assert.ok(visits.count <= 10 * n, `${visits.count} elements visited`);
});

test('a proxy gone drops only its own pushes, not those of a proxy whose id it prefixes', async () => {
  const change = beginChangeTrace({ source: 'file', reason: 'prefix' });
  change.pushed('a', 'cluster');
  change.pushed('a\0b', 'cluster');
  change.pushed('ab', 'cluster');
  change.sealed();
  change.proxyGone('a');
  assert.equal(change.ended, false, 'a\\0b and ab still owe their ACKs');
  assert.equal(change.proxyAcked('a\0b', 'cluster'), true);
  assert.equal(change.proxyAcked('ab', 'cluster'), true);
  const outcome = await change.settled;
  assert.deepEqual({ outcome: outcome.outcome, pushes: outcome.pushes, acked: outcome.acked }, { outcome: 'converged', pushes: 2, acked: 2 });
});
