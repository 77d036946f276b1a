/**
 * Make-before-break for a class whose clients lag behind several changes (src/app/grpc-stager.ts;
 * docs/xds.md "Make-before-break for stock gRPC clients"). A change that arrives during another
 * starts from the staged set in force, less the clusters no client may still route to. A client
 * may still route with the routes of any set served since the class was last in sync, not only
 * with those one step back: changes that only drop clusters switch the routes without waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import type { ResourceSet } from '../../src/xds/resources.js';
import { checkConsistency } from '../../src/xds/translator/index.js';
import { routeClusters } from '../../src/xds/references.js';
import { GrpcStager } from '../../src/app/grpc-stager.js';
import type { RouteConfiguration } from '../../src/xds/proto.js';
import { STAGING_HEADER } from '../../src/app/grpc-staged-sets.js';
import { grpcSet } from './grpc-sets.js';

/** The clusters the set's real routes (not its staging routes) send calls to. */
function routed(set: ResourceSet): string[] {
  const config = set.route[0]!.message as RouteConfiguration;
  const real = config.virtualHosts.map((vh) => ({ ...vh, routes: vh.routes.filter((r) => !r.match?.headers.some((h) => h.name === STAGING_HEADER)) }));
  return routeClusters({ ...config, virtualHosts: real } as RouteConfiguration);
}
const names = (set: ResourceSet): Set<string> => new Set(set.cluster.map((c) => c.name));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * One class K driven like the xDS stage drives it, with one client that is in sync when it
 * ACKed the latest set. Each set served is checked as a gRPC client meets it: its routes name
 * only clusters of the set the client last ACKed, and it keeps every cluster that the routes of
 * that set, or of any set served after it, send calls to.
 */
function model(first: ResourceSet) {
  const served: ResourceSet[] = [];
  let acked = 0;
  let target = first;
  const serve = (): void => {
    const out = stager.build('K', target);
    if (served.at(-1) !== out) {
      served.push(out);
      const i = served.length - 1;
      assert.deepEqual(checkConsistency(out), [], `set ${i} is consistent`);
      const held = names(served[acked]!);
      for (const c of routed(out)) assert.ok(held.has(c), `set ${i} routes to ${c}, which the client (at set ${acked}) does not hold`);
      const now = names(out);
      for (let k = acked; k < i; k++) {
        for (const c of routed(served[k]!)) assert.ok(now.has(c), `set ${i} drops ${c}, which set ${k} routes to (the client ACKed set ${acked})`);
      }
    }
    stager.rebuilt(new Set(['K']));
  };
  const stager: GrpcStager = new GrpcStager({ timeoutMs: 600_000, lingerMs: 0, logger: pino({ level: 'silent' }), synced: () => acked === served.length - 1, rebuild: serve });
  serve();
  return {
    stager,
    served,
    change(next: ResourceSet) {
      target = next;
      serve();
    },
    async ack() {
      acked = served.length - 1;
      stager.check();
      await tick();
      await tick();
    },
  };
}

test('a change during a change keeps the clusters of the routes the client ACKed last, however many changes came since', async (t) => {
  const m = model(grpcSet(['p', 'q'])); // shard 0 -> p, shard 1 -> q
  t.after(() => m.stager.close());
  m.change(grpcSet(['p', 'r'])); // add r: routes p q, clusters p q r
  await m.ack(); // in sync with them: switch, routes p r (the client has not ACKed it)
  assert.deepEqual(routed(m.served.at(-1)!), ['p', 'r']);
  m.change(grpcSet(['p', 'p'])); // drops only: switch at once, routes p p
  m.change(grpcSet(['s', 'p'])); // adds s: the routes stay, but the client may still send shard 1 to q
  assert.ok(names(m.served.at(-1)!).has('q'), 'q, which the client routes shard 1 to, is kept');
});

test('seeded sequences of changes and ACKs: no route before its cluster, no cluster gone under a route the client may use', async () => {
  const pool = ['a', 'b', 'c', 'd', 'e'];
  for (let seed = 1; seed <= 60; seed++) {
    let s = seed;
    const rand = (n: number): number => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return (s >>> 16) % n;
    };
    const m = model(grpcSet(['a', 'b']));
    try {
      for (let step = 0; step < 40; step++) {
        if (rand(3) === 0) m.change(grpcSet([pool[rand(5)]!, pool[rand(5)]!, pool[rand(5)]!]));
        else await m.ack();
      }
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`);
    } finally {
      m.stager.close();
    }
  }
});
