/**
 * Stand-in cache nodes for the e2e tier: local HTTP servers that answer every path with who they
 * are, so a test sees which node a request reached. Contract (what the tests read):
 * - any path: 200, header `x-served-by: <id>`, body JSON `{node, shard, protocol, path, requestId,
 *   envoyHeaders}` where `shard` is the request's `x-cache-shard` (or null), `protocol` the HTTP
 *   version seen, `requestId` its `x-request-id` (or null) and `envoyHeaders` the names of its
 *   `x-envoy-*` headers, sorted (what the proxy added);
 * - `/healthz`: 200 `ok` (503 after `setHealthy(false)`), the path Envoy's active health check uses;
 * - `setDelay(ms)`: every answer but `/healthz`'s comes that much later (a slow node: requests pile up in flight);
 * - `stop()` closes the port and every open connection (a node that is down: connection refused),
 *   `start()` listens again on the same port (the node is back).
 * `protocol: 'http2'` serves cleartext HTTP/2 only (h2c, prior knowledge), as a gRPC upstream does.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';

export type NodeProtocol = 'http1' | 'http2';

export interface CacheNodeOptions {
  readonly id: string;
  /** Port to listen on (default 0: ephemeral; the bound port is kept for restarts). */
  readonly port?: number;
  readonly protocol?: NodeProtocol;
}

export interface CacheNodeAnswer {
  readonly node: string;
  readonly shard: string | null;
  readonly protocol: string;
  readonly path: string;
  readonly requestId: string | null;
  readonly envoyHeaders: readonly string[];
}

export interface CacheNode {
  readonly id: string;
  readonly host: '127.0.0.1';
  /** The bound port, the same across stop/start. */
  readonly port: number;
  readonly protocol: NodeProtocol;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  running(): boolean;
  /** Requests served other than `/healthz`, since the node was created. */
  requests(): number;
  /** `/healthz` requests answered, since the node was created. */
  healthChecks(): number;
  /** Requests served per `x-cache-shard` value (`''` when absent). */
  shardsSeen(): ReadonlyMap<string, number>;
  /** Makes `/healthz` answer 503 (`false`) or 200 (`true`) while the node keeps serving. */
  setHealthy(ok: boolean): void;
  /** Answers every request but `/healthz` `ms` later (0: at once, the default). */
  setDelay(ms: number): void;
  /** Closes the listener and every connection. Idempotent. */
  stop(): Promise<void>;
  /** Listens again on the same port. Idempotent. */
  start(): Promise<void>;
}

/** Starts one cache node on 127.0.0.1. */
export async function startCacheNode(opts: CacheNodeOptions): Promise<CacheNode> {
  const protocol = opts.protocol ?? 'http1';
  let port = opts.port ?? 0;
  let healthy = true;
  let delayMs = 0;
  let served = 0;
  let checks = 0;
  const perShard = new Map<string, number>();
  let server: http.Server | http2.Http2Server | undefined;
  const sockets = new Set<Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();

  const handle = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
    const url = req.url ?? '/';
    if (url === '/healthz' || url.startsWith('/healthz?')) {
      checks++;
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(healthy ? 'ok' : 'unhealthy');
      return;
    }
    served++;
    const raw = req.headers['x-cache-shard'];
    const shard = Array.isArray(raw) ? raw.join(',') : raw;
    perShard.set(shard ?? '', (perShard.get(shard ?? '') ?? 0) + 1);
    const requestId = req.headers['x-request-id'];
    const answer: CacheNodeAnswer = {
      node: opts.id,
      shard: shard ?? null,
      protocol: req.httpVersion,
      path: url,
      requestId: typeof requestId === 'string' ? requestId : null,
      envoyHeaders: Object.keys(req.headers).filter((h) => h.startsWith('x-envoy-')).sort(),
    };
    const answerNow = (): void => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': opts.id });
      res.end(JSON.stringify(answer));
    };
    if (delayMs > 0) setTimeout(answerNow, delayMs);
    else answerNow();
  };

  const listen = async (): Promise<void> => {
    if (server) return;
    const s =
      protocol === 'http2'
        ? http2.createServer(handle as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
        : http.createServer(handle as (req: http.IncomingMessage, res: http.ServerResponse) => void);
    s.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    if (protocol === 'http2') {
      (s as http2.Http2Server).on('session', (session) => {
        sessions.add(session);
        session.once('close', () => sessions.delete(session));
      });
    }
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        s.off('error', reject);
        resolve();
      });
    });
    port = (s.address() as AddressInfo).port;
    server = s;
  };

  await listen();
  const node: CacheNode = {
    id: opts.id,
    host: '127.0.0.1',
    get port() {
      return port;
    },
    protocol,
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    running: () => server !== undefined,
    requests: () => served,
    healthChecks: () => checks,
    shardsSeen: () => new Map(perShard),
    setHealthy(ok) {
      healthy = ok;
    },
    setDelay(ms) {
      delayMs = ms;
    },
    async stop() {
      const s = server;
      if (!s) return;
      server = undefined;
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    start: listen,
  };
  return node;
}

export interface CacheNodes {
  readonly nodes: readonly CacheNode[];
  /** The node with this id. @throws Error for an unknown id */
  byId(id: string): CacheNode;
  /** Stops every node. */
  stopAll(): Promise<void>;
}

/**
 * Starts one node per id (or `count` nodes named `node-0`, `node-1`, ...), each on its own
 * ephemeral port. If one fails to start, the others are stopped before the error is thrown.
 */
export async function startCacheNodes(ids: number | readonly string[], opts: { protocol?: NodeProtocol } = {}): Promise<CacheNodes> {
  const names = typeof ids === 'number' ? Array.from({ length: ids }, (_, i) => `node-${i}`) : ids;
  const nodes: CacheNode[] = [];
  try {
    for (const id of names) nodes.push(await startCacheNode({ id, protocol: opts.protocol ?? 'http1' }));
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
  return {
    nodes,
    byId(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no cache node ${JSON.stringify(id)} (have ${nodes.map((x) => x.id).join(', ')})`);
      return n;
    },
    stopAll: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}
