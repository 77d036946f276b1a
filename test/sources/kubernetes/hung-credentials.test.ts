/**
 * Credentials that never come (an exec plugin that hangs: `aws eks get-token` or
 * `gke-gcloud-auth-plugin` stuck on the network) must not freeze an informer. The client library
 * awaits them with no bound before each list and watch request, and ListWatch awaits that request:
 * without a bound the informer waits forever, never retried, and a watch renewed at its
 * timeoutSeconds even leaves the source shown healthy while its endpoints go stale.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { eventually } from '../../support/eventually.js';
import { Cluster, startSource } from './harness.js';

/**
 * A KubeConfig whose credentials can be made to hang, for the watch's and for the list's requests;
 * `release()` ends the calls that hang as a plugin that finally exits in failure.
 */
function hangableKubeConfig(kc: KubeConfig): { kc: KubeConfig; hang: { watch: boolean; list: boolean }; hung: () => number; release: () => void } {
  const hang = { watch: false, list: false };
  const pending: ((err: Error) => void)[] = [];
  let hung = 0;
  const stuck = <T>(): Promise<T> => {
    hung++;
    return new Promise<T>((_resolve, reject) => pending.push(reject));
  };
  const toFetch = kc.applyToFetchOptions.bind(kc);
  const toList = kc.applySecurityAuthentication.bind(kc);
  kc.applyToFetchOptions = (opts) => (hang.watch ? stuck() : toFetch(opts));
  kc.applySecurityAuthentication = (ctx) => (hang.list ? stuck() : toList(ctx));
  const release = (): void => {
    hang.watch = hang.list = false;
    for (const reject of pending.splice(0)) reject(new Error('exec plugin exited with status 1'));
  };
  return { kc, hang, hung: () => hung, release };
}

test('credentials that hang when a watch is renewed: the source turns stale within listTimeoutMs, then recovers', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const { kc, hang, hung, release } = hangableKubeConfig(cluster.server.kubeConfig());
  // Watches of 1 to 2 s: the server ends them cleanly and each informer renews its own.
  const { source } = await startSource(cluster.server, {}, { kubeConfig: kc, minWatchTimeoutSeconds: 1, listTimeoutMs: 500 });
  t.after(() => source.stop());
  await eventually('three watches', () => cluster.server.openWatches() === 3);

  hang.watch = true;
  cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
  await eventually('stale, naming the credentials', () => source.status().stale && /credentials/.test(source.status().lastError ?? ''), {
    timeoutMs: 8000,
    describe: () => ({ status: source.status(), hung: hung(), watches: cluster.server.openWatches() }),
  });
  // Retried with backoff, each retry waiting on the one call that hangs rather than starting
  // another: a plugin that never exits would otherwise leave a process behind per retry.
  await eventually('retried', () => source.status().resources.some((r) => r.failures >= 3), { timeoutMs: 8000, describe: () => source.status() });
  assert.equal(hung(), 1, 'one credentials call hangs, not one per retry');

  release();
  await eventually('recovered with the pod added meanwhile', () => source.status().healthy && source.current().length === 2, {
    timeoutMs: 8000,
    describe: () => ({ status: source.status(), endpoints: source.current() }),
  });
});

test('credentials that hang before a list page: the list fails within listTimeoutMs and is retried', async (t) => {
  const cluster = await Cluster.start();
  t.after(() => cluster.close());
  cluster.node('gpu-a1', { region: 'r1', zone: 'z1' });
  cluster.addPod('cache-node-0', { node: 'gpu-a1', ip: '10.0.0.10' });
  const { kc, hang, hung, release } = hangableKubeConfig(cluster.server.kubeConfig());
  const { source } = await startSource(cluster.server, {}, { kubeConfig: kc, listTimeoutMs: 500 });
  t.after(() => source.stop());
  await eventually('three watches', () => cluster.server.openWatches() === 3);

  hang.list = true;
  cluster.server.expireWatches(); // 410: every informer relists
  await eventually('stale, naming the list that did not complete', () => source.status().stale && /within 500 ms/.test(source.status().lastError ?? ''), {
    timeoutMs: 8000,
    describe: () => ({ status: source.status(), hung: hung() }),
  });
  await eventually('retried', () => source.status().resources.some((r) => r.failures >= 3), { timeoutMs: 8000, describe: () => source.status() });
  assert.equal(hung(), 1, 'one credentials call hangs, not one per list or retry');

  release();
  cluster.addPod('cache-node-1', { node: 'gpu-a1', ip: '10.0.0.11' });
  await eventually('recovered with the pod added meanwhile', () => source.status().healthy && source.current().length === 2, {
    timeoutMs: 8000,
    describe: () => ({ status: source.status(), endpoints: source.current() }),
  });
});
