/**
 * A watch whose request cannot even be built (credentials that fail: an exec plugin or token file
 * that errors, no current cluster) is an API error like any other: retried with backoff and shown
 * as stale, never a rejected promise nobody awaits (which would end the process).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKubernetesSource, parseKubernetesSourceConfig } from '../../../src/sources/kubernetes/index.js';
import { eventually } from '../../support/eventually.js';
import { Cluster, TEST_SETTINGS } from './harness.js';

test('credentials failing while a watch is set up: retried and shown as stale, no unhandled rejection', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));

  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });

  const kc = cluster.server.kubeConfig();
  const apply = kc.applyToFetchOptions.bind(kc);
  let failAuth = false;
  kc.applyToFetchOptions = async (opts) => {
    if (failAuth) throw new Error('exec plugin: token refresh failed');
    return apply(opts);
  };
  const config = parseKubernetesSourceConfig(
    { value: TEST_SETTINGS, locate: (path) => ({ field: `kubernetes.${path.join('.')}` }) },
    { env: {}, serviceAccountNamespace: () => undefined },
  );
  const source = createKubernetesSource(config, {
    kubeConfig: kc,
    startTimeoutMs: 5000,
    startMaxMs: 5000,
    timing: { backoff: { initialMs: 20, maxMs: 100 }, listTimeoutMs: 2000, minWatchTimeoutSeconds: 60, watchGraceMs: 1000 },
  });
  t.after(() => source.stop());
  const errors: Error[] = [];
  source.onError((e) => errors.push(e));
  await source.start();
  await eventually('three watches', () => cluster.server.openWatches() === 3);

  failAuth = true;
  cluster.server.failWatches(500, 'InternalError', 'watch cache reset'); // every informer re-watches
  await eventually('stale with the credential error', () => source.status().stale && (source.status().lastError ?? '').includes('token refresh failed'), {
    describe: () => ({ status: source.status(), unhandled }),
  });
  await eventually('retried', () => errors.filter((e) => e.message.includes('token refresh failed')).length >= 3);
  assert.deepEqual(unhandled, [], 'no rejected promise left unhandled');
  assert.equal(source.current().length, 1, 'the last known endpoints stay in force');

  failAuth = false;
  await eventually('recovered', () => source.status().healthy && cluster.server.openWatches() === 3, { describe: () => source.status() });
  assert.deepEqual(unhandled, []);
});
