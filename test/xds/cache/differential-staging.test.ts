// Differential test of the snapshots served while make-before-break staging runs (docs/xds.md
// "Make-before-break for stock gRPC clients"): random change sequences through the translator,
// the stager (through src/app/xds-stage.ts's stagedSet, as keyway serve wires it) and the snapshot cache. Every snapshot the
// cache publishes must pass the consistency check (no class keeps an older snapshot for being
// rejected), and once the stager is done each class serves what a translation from scratch gives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SnapshotCache, type RebuildReport } from '../../../src/xds/cache/index.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { KIND_ORDER, proxyClassKey, resourcesOf, type ProxyClass } from '../../../src/xds/resources.js';
import { GrpcStager } from '../../../src/app/grpc-stager.js';
import { stagedSet } from '../../../src/app/xds-stage.js';
import { Rng, fuzzBudget } from '../../support/seeded-random.js';
import { initialState, inputOf, nextState, proxyClasses } from './differential-inputs.js';

const CLASSES = proxyClasses();

test('while changes are staged, every published snapshot is consistent, and the last one equals a fresh translation', async () => {
  const { iterations, seed } = fuzzBudget(4);
  for (let run = 0; run < iterations; run++) {
    const rng = new Rng(seed * 7919 + run);
    let state = initialState(rng);
    let input: TranslatorInput = inputOf(state);
    let where = 'start';
    const reports: RebuildReport[] = [];
    const cache = new SnapshotCache({ checkConsistency, servedClass: (c) => effectiveProxyClass(c, input) });
    const stager = new GrpcStager({
      timeoutMs: 60_000,
      lingerMs: 0,
      logger: pino({ level: 'silent' }),
      synced: () => rng.chance(0.7),
      rebuild: () => rebuild(),
    });
    // One translation per class and input, as xds-stage.ts: the stager tells a new change by the set's identity.
    let sets = new Map<string, ReturnType<typeof translate>>();
    let setsOf: TranslatorInput | undefined;
    const build = (c: ProxyClass): ReturnType<typeof translate> => {
      if (setsOf !== input) [sets, setsOf] = [new Map(), input];
      const key = proxyClassKey(c);
      let set = sets.get(key);
      if (!set) sets.set(key, (set = translate(input, c)));
      return stagedSet(stager, c, set);
    };
    const rebuild = (): void => {
      const report = cache.rebuild(build);
      reports.push(report);
      stager.rebuilt(new Set(report.classes.map((c) => c.classKey)));
      for (const c of report.classes) assert.equal(c.error, undefined, `run ${run} ${where}: class ${c.classKey} rejected: ${c.error?.message}`);
    };
    rebuild();
    for (const c of CLASSES) for (const kind of KIND_ORDER) cache.watch(c, kind, () => {});
    for (let step = 0; step < 40; step++) {
      const next = nextState(rng, state);
      state = next.state;
      where = `step ${step} (${next.change})`;
      input = inputOf(state);
      rebuild();
      // Some phases move on before the next change arrives, some do not.
      for (let i = rng.int(4); i > 0; i--) {
        stager.check();
        await new Promise((r) => setImmediate(r));
      }
    }
    // Let every change finish, then compare with a translation from scratch.
    for (let i = 0; i < 50 && stager.inProgress().length > 0; i++) {
      stager.check();
      await new Promise((r) => setImmediate(r));
    }
    assert.deepEqual(stager.inProgress().filter((c) => c.phase !== 'done'), [], 'every change finished');
    for (const c of CLASSES) {
      const served = cache.snapshot(c)!;
      const fresh = translate(input, effectiveProxyClass(c, input));
      for (const kind of KIND_ORDER) assert.deepEqual([...served.kinds[kind].resources.keys()], resourcesOf(fresh, kind).map((r) => r.name), `run ${run}: ${proxyClassKey(c)} ${kind}`);
    }
    stager.close();
    assert.ok(reports.length > 40);
  }
});
