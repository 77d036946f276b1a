/**
 * Large list answers for the list answer budget tests (docs/kubernetes-discovery.md "Memory"): a
 * cluster whose pods and nodes lists are megabytes (annotations keyway trims away), and the whole
 * answer of a request from the in-process API server, for a proxy in front of it to send as it likes.
 */
import { get, type IncomingMessage } from 'node:http';
import { KubeApiServer } from '../../support/kube-apiserver/index.js';
import { nodeObject, populate } from './fixtures.js';

/** The whole answer of `req` from `upstream`. */
export function fetchWhole(upstream: URL, req: IncomingMessage): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get({ host: upstream.hostname, port: upstream.port, path: req.url, headers: req.headers }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => resolve({ status: up.statusCode ?? 502, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

/** A server with `pods` cache pods and `nodes` more nodes, each collection's list answer about `podBytes` and `nodeBytes`. */
export async function bigCluster(podBytes: number, nodeBytes: number, pods = 12, nodes = 10): Promise<KubeApiServer> {
  const server = await KubeApiServer.start();
  populate(server, pods);
  for (let i = 0; i < pods; i++) {
    const name = `cache-node-${String(i).padStart(3, '0')}`;
    const pod = server.get('Pod', 'cache', name)!;
    server.upsert({ ...pod, metadata: { ...pod.metadata, annotations: { big: 'p'.repeat(Math.floor(podBytes / pods)) } } });
  }
  for (let i = 0; i < nodes; i++) {
    const node = nodeObject(`other-${String(i).padStart(2, '0')}`, { region: 'r', zone: 'z' });
    server.upsert({ ...node, metadata: { ...node.metadata, annotations: { big: 'n'.repeat(Math.floor(nodeBytes / nodes)) } } });
  }
  return server;
}
