// Differential tests of what the snapshot cache serves across changes (docs/xds-protocol.md
// "Snapshots and versions"): random sequences of topology changes, each step served by a
// long-lived cache (which keeps earlier encodings, and a translator that keeps earlier messages:
// reuse.ts) and compared with a translation and encoding from scratch; a second replica fed the
// same states with another history and other objects; another process with no history at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildSnapshot, ResourceEncoder, SnapshotCache, type Snapshot } from '../../../src/xds/cache/index.js';
import { checkConsistency, effectiveProxyClass, translate, type TranslatorInput } from '../../../src/xds/translator/index.js';
import { KIND_ORDER, proxyClassKey, type ProxyClass, type ResourceKind } from '../../../src/xds/resources.js';
import { DEFAULT_XDS_SETTINGS } from '../../../src/core/settings.js';
import { Rng, fuzzBudget } from '../../support/seeded-random.js';
import { initialState, inputOf, nextState, proxyClasses, type FleetState } from './differential-inputs.js';

/** Every version a snapshot serves: per kind its version and each resource's, as one comparable record. */
function versionsOf(s: Snapshot | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const kind of KIND_ORDER) {
    out[kind] = s.kinds[kind].version;
    for (const [name, r] of s.kinds[kind].resources) out[`${kind}/${name}`] = r.version;
  }
  return out;
}

/**
 * Makes the translator forget what it kept (reuse.ts keeps only the last translation's values): a
 * translation of an unrelated fleet (another service, S and nodes) for every kind of class.
 */
function forget(classes: readonly ProxyClass[]): void {
  const nodes = [0, 1, 2].map((i) => ({ id: `zz-${i}`, address: `10.9.9.${i + 1}`, port: 9, locality: { region: 'q', zone: 'q', subzone: 'q' }, weight: 1, ready: true }));
  const policy = { shardCount: 7, replicas: 2, spread: 'none' as const };
  const owners = Array.from({ length: 7 }, (_, s) => [`zz-${s % 3}`, `zz-${(s + 1) % 3}`]);
  for (const routeShape of ['subset', 'table'] as const) {
    const input: TranslatorInput = {
      shardMap: { version: 'forget', policy, endpoints: nodes, owners, warnings: [], readers: new Map([[1, 2]]) },
      topology: { policy, endpoints: nodes, xds: { ...DEFAULT_XDS_SETTINGS, service: 'zz-forget', envoy: { ...DEFAULT_XDS_SETTINGS.envoy, routeShape } } },
    };
    for (const c of classes) translate(input, c);
  }
}

/** Snapshots of `input` translated and encoded from scratch, per requested class key. */
function fromScratch(input: TranslatorInput, classes: readonly ProxyClass[]): Map<string, Snapshot> {
  const served = classes.map((c) => effectiveProxyClass(c, input));
  forget(served);
  const encoder = new ResourceEncoder();
  const out = new Map<string, Snapshot>();
  classes.forEach((c, i) => out.set(proxyClassKey(c), buildSnapshot(served[i]!, translate(input, served[i]!), encoder, checkConsistency)));
  return out;
}

/** A cache that serves whatever input it was last given, with a watcher on every kind of every class. */
function servingCache(classes: readonly ProxyClass[]): { cache: SnapshotCache; serve(input: TranslatorInput): ReturnType<SnapshotCache['rebuild']> } {
  let input: TranslatorInput | undefined;
  const cache = new SnapshotCache({
    checkConsistency,
    servedClass: (c) => (input ? effectiveProxyClass(c, input) : c),
  });
  return {
    cache,
    serve(next) {
      input = next;
      const report = cache.rebuild((c) => translate(next, c));
      if (cache.classes().length === 0) for (const c of classes) for (const kind of KIND_ORDER) cache.watch(c, kind, () => {});
      return report;
    },
  };
}

/** A sequence of fleet states from `seed`, with the change that made each. */
function sequence(seed: number, steps: number): { state: FleetState; change: string }[] {
  const rng = new Rng(seed);
  let state = initialState(rng);
  const out = [{ state, change: 'start' }];
  for (let i = 1; i < steps; i++) {
    const next = nextState(rng, state);
    state = next.state;
    out.push(next);
  }
  return out;
}

const CLASSES = proxyClasses();

test('at every step of random change sequences, each class is served what a translation and encoding from scratch give, consistent', () => {
  const { iterations, seed } = fuzzBudget(3);
  for (let run = 0; run < iterations; run++) {
    const steps = sequence(seed * 1000 + run, 40);
    const { cache, serve } = servingCache(CLASSES);
    steps.forEach(({ state, change }, step) => {
      const input = inputOf(state);
      const report = serve(input);
      for (const c of report.classes) assert.equal(c.error, undefined, `seed ${seed * 1000 + run} step ${step} (${change}): class ${c.classKey} rejected: ${c.error?.message}`);
      const scratch = fromScratch(inputOf(state), CLASSES);
      for (const c of CLASSES) {
        const key = proxyClassKey(c);
        assert.deepEqual(versionsOf(cache.snapshot(c)), versionsOf(scratch.get(key)), `seed ${seed * 1000 + run} step ${step} (${change}): class ${key}`);
      }
    });
  }
});

test('a kind\'s version changes exactly when its content does, and an Envoy\'s listener, route and cluster only with the settings', () => {
  const { iterations, seed } = fuzzBudget(6);
  for (let run = 0; run < iterations; run++) {
    const steps = sequence(seed * 1000 + run + 500, 40);
    const { cache, serve } = servingCache(CLASSES);
    let before = new Map<string, Snapshot | undefined>();
    steps.forEach(({ state, change }, step) => {
      const report = serve(inputOf(state));
      const where = `seed ${seed * 1000 + run + 500} step ${step} (${change})`;
      for (const c of report.classes) {
        const now = cache.classes().find((x) => x.classKey === c.classKey)?.snapshot;
        const was = before.get(c.classKey);
        if (!was || !now) continue;
        const contentChanged = KIND_ORDER.filter((k) => bytesOf(was, k) !== bytesOf(now, k));
        assert.deepEqual([...c.changed], contentChanged, `${where}: class ${c.classKey}`);
      }
      const prev = step > 0 ? steps[step - 1]!.state : undefined;
      if (prev && sameSettings(prev, state)) {
        const envoy: ProxyClass = { flavor: 'envoy', zone: '', subzone: '' };
        const was = before.get(proxyClassKey(envoy));
        const now = cache.snapshot(envoy);
        for (const kind of ['listener', ...(state.xds.envoy.routeShape === 'subset' ? ['cluster', 'route'] : [])] as ResourceKind[]) {
          assert.equal(now?.kinds[kind].version, was?.kinds[kind].version, `${where}: Envoy ${kind} changed without a settings change`);
        }
      }
      before = new Map(cache.classes().map((c) => [c.classKey, c.snapshot]));
    });
  }
});

function bytesOf(s: Snapshot, kind: ResourceKind): string {
  return [...s.kinds[kind].resources.values()].map((r) => `${r.name}=${Buffer.from(r.bytes).toString('base64')}`).join('\n');
}

function sameSettings(a: FleetState, b: FleetState): boolean {
  return JSON.stringify(a.xds) === JSON.stringify(b.xds) && a.shardCount === b.shardCount;
}

test('two replicas fed the same states with different histories serve the same versions; so does another process from scratch', () => {
  const steps = sequence(4242, 30);
  const a = servingCache(CLASSES);
  const b = servingCache(CLASSES);
  const rng = new Rng(7);
  const checked: { step: number; versions: Record<string, Record<string, string>> }[] = [];
  steps.forEach(({ state }, step) => {
    a.serve(inputOf(state));
    // Replica b skips some states (it was restarted, or coalesced a burst) and sees every other
    // one twice, through new objects: only the state in force may decide what it serves.
    if (rng.chance(0.4)) return;
    b.serve(inputOf(shuffled(state, rng)));
    if (rng.chance(0.5)) b.serve(inputOf(steps[rng.int(steps.length)]!.state));
    b.serve(inputOf(state));
    const versions: Record<string, Record<string, string>> = {};
    for (const c of CLASSES) {
      const key = proxyClassKey(c);
      versions[key] = versionsOf(a.cache.snapshot(c));
      assert.deepEqual(versionsOf(b.cache.snapshot(c)), versions[key], `step ${step}: class ${key}`);
    }
    checked.push({ step, versions });
  });
  assert.ok(checked.length > 10);
  // Another process: no history, no shared memo, the states as JSON.
  const last = checked.slice(-3);
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./differential-replica.ts', import.meta.url))], {
    input: JSON.stringify(last.map((c) => steps[c.step]!.state)),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(child.status, 0, child.stderr);
  const theirs = JSON.parse(child.stdout) as Record<string, Record<string, string>>[];
  last.forEach((c, i) => assert.deepEqual(theirs[i], c.versions, `step ${c.step}, in another process`));
});

/** The same state in another order: the nodes listed differently (the topology file's order is not content). */
function shuffled(state: FleetState, rng: Rng): FleetState {
  const nodes = [...state.nodes];
  for (let i = nodes.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [nodes[i], nodes[j]] = [nodes[j]!, nodes[i]!];
  }
  const readers = [...state.readers].reverse();
  return { ...state, nodes, readers };
}
