// Each list request gets an abort signal tied to the informer's lifelong stop signal. Made with
// AbortSignal.any, Node 20 kept an entry in the stop signal for every one of them, for the
// informer's life: a few dozen bytes per list page, without end against an API server that keeps
// failing (every failed watch relists).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig, type KubernetesListObject, type V1Pod } from '@kubernetes/client-node';
import { ResourceInformer, type ListPage } from '../../../src/sources/kubernetes/informer.js';
import { DEFAULT_INFORMER_TIMING } from '../../../src/sources/kubernetes/index.js';
import { heapAfterGc } from '../../support/heap.js';

const PAGES = 40_000;

test(`${PAGES} list pages leave nothing behind in the informer`, async () => {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const informer = new ResourceInformer<V1Pod>(
    kc,
    { name: 'pods', path: '/api/v1/namespaces/cache/pods', list: async () => ({ items: [] }) as unknown as KubernetesListObject<V1Pod> },
    // A short list timeout, so the pages' timeout signals are done and collectable when measured.
    { ...DEFAULT_INFORMER_TIMING, listTimeoutMs: 20 },
    { onObjectChange: () => {} } as never,
  );
  const listPage = (informer as unknown as { listPage(page: ListPage): Promise<unknown> }).listPage.bind(informer);
  const settled = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 100));
  for (let i = 0; i < 1000; i++) await listPage({});
  await settled();
  const before = await heapAfterGc();
  for (let i = 0; i < PAGES; i++) await listPage({});
  await settled();
  const grown = (await heapAfterGc()) - before;
  // Kept per page, this was some 38 bytes each: about 1.5 MiB.
  assert.ok(grown < 768 * 1024, `the heap grew by ${(grown / 1024).toFixed(0)} KiB over ${PAGES} list pages`);
});
