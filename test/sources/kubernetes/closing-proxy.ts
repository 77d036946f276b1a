/**
 * A reverse proxy in front of the in-process API server that ends every watch response cleanly
 * soon after it starts, as some load balancers and proxies do to long requests: the client sees a
 * normal end of stream, no error and no ERROR event. Lists pass through untouched.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface ApiServerProxy {
  readonly url: string;
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

export async function closingProxy(target: string, cutAfterMs: number): Promise<ApiServerProxy> {
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    const watch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? '');
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
      if (watch) {
        const timer = setTimeout(() => {
          up.unpipe(res);
          res.end();
          out.destroy();
        }, cutAfterMs);
        res.on('close', () => clearTimeout(timer));
      }
    });
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return listening(server);
}

/** Passes `req` on to `upstream` and its answer back, untouched (the proxies' default path). */
export function forward(upstream: URL, req: IncomingMessage, res: ServerResponse): void {
  const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  out.on('error', () => res.destroy());
  res.on('close', () => out.destroy());
  req.pipe(out);
}

/** `server` listening on loopback, with a kubeconfig that points the Kubernetes client at it. */
export async function listening(server: Server): Promise<ApiServerProxy> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    kubeConfig() {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'proxied', server: url, skipTLSVerify: true }],
        users: [{ name: 'anonymous' }],
        contexts: [{ name: 'proxied', cluster: 'proxied', user: 'anonymous' }],
        currentContext: 'proxied',
      });
      return kc;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
