/**
 * Run by unpaged-list-heap.test.ts in a child process with the shipped heap size: starts the
 * Kubernetes source against the API server at argv[2] with the default list answer bounds, then
 * prints one JSON line (whether every resource synced, the warnings logged) and exits. A process
 * that runs out of heap aborts before printing.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { startSource } from './harness.js';

const url = process.argv[2]!;
const kubeConfig = new KubeConfig();
kubeConfig.loadFromOptions({
  clusters: [{ name: 'parent', server: url, skipTLSVerify: true }],
  users: [{ name: 'anonymous' }],
  contexts: [{ name: 'parent', cluster: 'parent', user: 'anonymous' }],
  currentContext: 'parent',
});
// The server lives in the parent process; startSource reads it only for its kubeConfig.
const server = { kubeConfig: () => kubeConfig } as unknown as KubeApiServer;
const running = await startSource(server, {}, { listPageSize: 500, initialSyncTimeoutMs: 120_000, listTimeoutMs: 120_000 });
const warnings = running.logs.filter((l) => typeof l.level === 'number' && l.level >= 40).map((l) => String(l.error ?? l.msg));
console.log(JSON.stringify({ synced: running.source.status().resources.map((r) => r.synced), endpoints: running.source.current().length, warnings }));
await running.source.stop();
process.exit(0);
