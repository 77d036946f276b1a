/** The `kubernetes:` section: defaults, the namespace fallback chain, and located errors. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/config/index.js';
import { KeywayErrors } from '../../../src/core/errors.js';
import { parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/config.js';
import { assertLinear } from '../../config/scaling.js';

const noEnv = { env: {}, serviceAccountNamespace: () => undefined };

function section(value: unknown): { value: unknown; locate: (p: readonly (string | number)[]) => { field: string } } {
  return { value, locate: (p) => ({ field: ['kubernetes', ...p].join('.') }) };
}

function errorsOf(fn: () => unknown): { field?: string; message: string; code: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err.errors.map((e) => ({ field: e.location.field, message: e.message, code: e.code }));
  }
  assert.fail('expected the section to be rejected');
}

test('every setting given: taken as written', () => {
  const cfg = parseKubernetesSourceConfig(
    section({
      namespace: 'cache',
      services: ['cache-node', 'cache-node-b'],
      portName: 'cache',
      identity: 'label:keyway.io/id',
      subzoneLabel: 'example.com/fabric',
      subzoneFrom: 'pod',
      weightAnnotation: 'example.com/weight',
      weightFromGpuLabels: false,
      defaultWeight: 2.5,
      holdOffMs: 100,
      maxDelayMs: 1000,
      terminating: 'while-serving',
      startTimeoutMs: 120_000,
      startMaxMs: 1_800_000,
    }),
    noEnv,
  );
  assert.deepEqual(cfg, {
    namespace: 'cache',
    services: ['cache-node', 'cache-node-b'],
    portName: 'cache',
    identity: { from: 'label', key: 'keyway.io/id' },
    subzoneLabel: 'example.com/fabric',
    subzoneFrom: 'pod',
    weightAnnotation: 'example.com/weight',
    weightFromGpuLabels: false,
    defaultWeight: 2.5,
    holdOffMs: 100,
    maxDelayMs: 1000,
    terminating: 'while-serving',
    startTimeoutMs: 120_000,
    startMaxMs: 1_800_000,
  });
});

test('only services given: documented defaults, namespace "default" outside a cluster', () => {
  assert.deepEqual(parseKubernetesSourceConfig(section({ services: ['cache-node'] }), noEnv), {
    namespace: 'default',
    services: ['cache-node'],
    identity: { from: 'pod-name' },
    subzoneLabel: 'nvidia.com/gpu.clique',
    subzoneFrom: 'node',
    weightAnnotation: 'keyway.io/weight',
    weightFromGpuLabels: true,
    defaultWeight: 1,
    holdOffMs: 500,
    maxDelayMs: 5000,
    terminating: 'release',
    startTimeoutMs: 60_000,
    startMaxMs: 600_000,
  });
});

test('namespace fallback: KEYWAY_NAMESPACE, then the service-account file, then default', () => {
  const ns = (env: Record<string, string>, file?: string): string =>
    parseKubernetesSourceConfig(section({ services: ['a'] }), { env, serviceAccountNamespace: () => file }).namespace;
  assert.equal(ns({ KEYWAY_NAMESPACE: 'from-env' }, 'from-file'), 'from-env');
  assert.equal(ns({}, 'from-file'), 'from-file');
  assert.equal(ns({}), 'default');
  assert.equal(parseKubernetesSourceConfig(section({ services: ['a'], namespace: 'given' }), { env: { KEYWAY_NAMESPACE: 'x' } }).namespace, 'given');
  const bad = errorsOf(() => ns({ KEYWAY_NAMESPACE: 'Not_A_Namespace' }));
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.message, /KEYWAY_NAMESPACE="Not_A_Namespace"/);
});

test('identity forms', () => {
  const id = (identity: string): unknown => parseKubernetesSourceConfig(section({ services: ['a'], identity }), noEnv).identity;
  assert.deepEqual(id('pod-name'), { from: 'pod-name' });
  assert.deepEqual(id('label:statefulset.kubernetes.io/pod-name'), { from: 'label', key: 'statefulset.kubernetes.io/pod-name' });
  assert.deepEqual(id('annotation:keyway.io/id'), { from: 'annotation', key: 'keyway.io/id' });
  for (const bad of ['pod', 'label:', 'label:bad key', 'annotation:/x', 'uid']) {
    assert.equal(errorsOf(() => id(bad))[0]?.field, 'kubernetes.identity', bad);
  }
});

test('every problem is reported at once, each at its field', () => {
  const errs = errorsOf(() =>
    parseKubernetesSourceConfig(
      section({
        namespace: 'Cache',
        services: ['cache-node', 'Bad_Name', 'cache-node'],
        portName: 7,
        subzoneFrom: 'rack',
        weightFromGpuLabels: 'yes',
        defaultWeight: -1,
        holdOffMs: 1.5,
        terminating: 'never',
        servcies: [],
      }),
      noEnv,
    ),
  );
  assert.deepEqual(
    errs.map((e) => e.field),
    [
      'kubernetes.servcies',
      'kubernetes.namespace',
      'kubernetes.services.1',
      'kubernetes.services.2',
      'kubernetes.portName',
      'kubernetes.subzoneFrom',
      'kubernetes.weightFromGpuLabels',
      'kubernetes.defaultWeight',
      'kubernetes.holdOffMs',
      'kubernetes.terminating',
    ],
  );
  assert.ok(errs.every((e) => e.code === 'CONFIG_INVALID'));
  assert.match(errs[3]!.message, /cache-node is listed twice/);
});

test('services is required and non-empty; maxDelayMs not below holdOffMs', () => {
  assert.deepEqual(errorsOf(() => parseKubernetesSourceConfig(section({}), noEnv)).map((e) => e.field), ['kubernetes.services']);
  assert.deepEqual(errorsOf(() => parseKubernetesSourceConfig(section({ services: [] }), noEnv)).map((e) => e.field), ['kubernetes.services']);
  assert.deepEqual(errorsOf(() => parseKubernetesSourceConfig(section(null), noEnv)).map((e) => e.field), ['kubernetes']);
  const e = errorsOf(() => parseKubernetesSourceConfig(section({ services: ['a'], holdOffMs: 800, maxDelayMs: 700 }), noEnv));
  assert.equal(e[0]?.field, 'kubernetes.maxDelayMs');
  // A long hold-off without maxDelayMs raises the default max delay instead of failing.
  assert.equal(parseKubernetesSourceConfig(section({ services: ['a'], holdOffMs: 8000 }), noEnv).maxDelayMs, 8000);
});

test('through the real topology-file loader: errors carry file and line', () => {
  const text = ['shards: 64', 'kubernetes:', '  namespace: cache', '  services: [cache-node]', '  subzoneFrom: rack', '  defaultWeight: -2', ''].join('\n');
  const loaded = parseConfig(text, 'topology.yaml');
  assert.ok(loaded.kubernetes);
  try {
    parseKubernetesSourceConfig(loaded.kubernetes, noEnv);
    assert.fail('expected errors');
  } catch (err) {
    assert.ok(err instanceof KeywayErrors);
    assert.deepEqual(
      err.errors.map((e) => [e.location.file, e.location.line, e.location.field]),
      [
        ['topology.yaml', 5, 'kubernetes.subzoneFrom'],
        ['topology.yaml', 6, 'kubernetes.defaultWeight'],
      ],
    );
    assert.match(err.message, /^topology\.yaml:5:\d+: kubernetes\.subzoneFrom: must be one of node, pod, got "rack"/);
  }
});

test('namespace written with no value (`namespace:`, a blanked template value): the fallback chain applies, as for every null setting', () => {
  const text = ['kubernetes:', '  namespace:', '  services: [cache-node]', ''].join('\n');
  const loaded = parseConfig(text, 'k.yaml');
  const ns = (env: Record<string, string>): string =>
    parseKubernetesSourceConfig(loaded.kubernetes!, { env, serviceAccountNamespace: () => undefined }).namespace;
  assert.equal(ns({ KEYWAY_NAMESPACE: 'cache' }), 'cache');
  assert.equal(ns({}), 'default');
  assert.equal(parseKubernetesSourceConfig(section({ services: ['a'], namespace: null }), { env: {}, serviceAccountNamespace: () => 'from-file' }).namespace, 'from-file');
});

test('a long services list is checked for repeats in linear time (a 1 MiB file lists about 80,000 names)', () => {
  const repeated = errorsOf(() => parseKubernetesSourceConfig(section({ services: ['a', 'b', 'a', 'c', 'b'] }), noEnv));
  assert.deepEqual(repeated.map((e) => [e.field, e.message]), [
    ['kubernetes.services.2', 'kubernetes.services.2: a is listed twice'],
    ['kubernetes.services.4', 'kubernetes.services.4: b is listed twice'],
  ]);
  assertLinear('the services list', (n) => {
    const services = Array.from({ length: n }, (_, i) => `s${i}`);
    return () => assert.equal(parseKubernetesSourceConfig(section({ services }), noEnv).services.length, n);
  }, 5000);
});

test('startTimeoutMs and startMaxMs: bounded, the cap not below the timeout, raised with it when not given', () => {
  const e = errorsOf(() => parseKubernetesSourceConfig(section({ services: ['a'], startTimeoutMs: 500, startMaxMs: 'long' }), noEnv));
  assert.deepEqual(
    e.map((x) => x.message),
    ['kubernetes.startTimeoutMs: must be an integer from 1000 to 3600000 (milliseconds), got 500', 'kubernetes.startMaxMs: must be an integer from 1000 to 3600000 (milliseconds), got "long"'],
  );
  const below = errorsOf(() => parseKubernetesSourceConfig(section({ services: ['a'], startTimeoutMs: 90_000, startMaxMs: 60_000 }), noEnv));
  assert.deepEqual(below.map((x) => x.message), ['kubernetes.startMaxMs: must be at least startTimeoutMs (90000), got 60000']);
  const raised = parseKubernetesSourceConfig(section({ services: ['a'], startTimeoutMs: 900_000 }), noEnv);
  assert.deepEqual([raised.startTimeoutMs, raised.startMaxMs], [900_000, 900_000]);
});
