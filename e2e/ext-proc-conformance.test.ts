/**
 * keyway's picker against gateway configurations the endpoint picker protocol allows but
 * e2e/ext-proc.test.ts does not run, on real Envoy (pinned and the oldest supported):
 * - a gateway that reads the pick from the dynamic metadata only (`envoy.lb` /
 *   `x-gateway-destination-endpoint`, accepted through the ext_proc filter's
 *   `metadata_options.receiving_namespaces`), with no header source: every shard goes to its
 *   primary, and a shard whose primary is down to its replica (the retry walks the list);
 * - request bodies sent to the picker BUFFERED_PARTIAL, past Envoy's buffer limit (one message to
 *   the picker, the rest past it): a picker that shuts down while such a request's response streams
 *   lets the response finish (held open, the stream was cut at the end of the shutdown grace and
 *   Envoy 1.40 aborted the response; 1.37 let it finish).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { Endpoint } from '../src/core/endpoint.js';
import type { ServingReader, ServingView } from '../src/core/serving.js';
import { DEFAULT_XDS_SETTINGS } from '../src/core/settings.js';
import { pickTable, startExtProcServer, type ExtProcServer } from '../src/extproc/index.js';
import { computeShardMap } from '../src/sharding/index.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { gatewayBootstrap } from './support/ext-proc-gateway.js';
import { freePorts } from './support/ports.js';

const S = 16;
const silent = pino({ level: 'silent' });

/** A reader that always serves the map of `endpoints` (S = 16, R = 2). */
function fixedState(endpoints: Endpoint[]): { reader: ServingReader; view: ServingView } {
  const policy = { shardCount: S, replicas: 2, spread: 'none' as const };
  const view: ServingView = { sequence: 1, map: computeShardMap(endpoints, policy), topology: { policy, xds: DEFAULT_XDS_SETTINGS, endpoints }, updatedAt: new Date(0) };
  return { reader: { current: () => view, onShardMap: () => () => undefined } as unknown as ServingReader, view };
}

function node(i: number, port: number): Endpoint {
  return { id: `n${i}`, address: '127.0.0.1', port, locality: { region: 'r', zone: 'z', subzone: `s${i}` }, weight: 1, ready: true };
}

/** Upstreams that answer with their own `ip:port`. */
async function namedUpstreams(count: number): Promise<http.Server[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      new Promise<http.Server>((resolve) => {
        const server = http.createServer((_req, res) => res.end(`127.0.0.1:${(server.address() as AddressInfo).port}`));
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
}

/** Reads the request body, then streams `ticks` lines 250 ms apart, the last one `done`. */
async function slowAnswerUpstream(ticks: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let bytes = 0;
    req.on('data', (c: Buffer) => (bytes += c.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let i = 0;
      const timer = setInterval(() => {
        if (++i < ticks) res.write(`tick ${i}\n`);
        else {
          clearInterval(timer);
          res.end(`done ${bytes}\n`);
        }
      }, 250);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function get(port: number, shard: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false, headers: { 'x-cache-shard': String(shard) }, timeout: 10_000 }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

/** The parts of the gateway bootstrap these tests edit. */
interface Doc {
  static_resources: {
    listeners: Array<{
      per_connection_buffer_limit_bytes?: number;
      filter_chains: Array<{
        filters: Array<{
          typed_config: {
            route_config: { virtual_hosts: Array<{ routes: Array<{ route: { timeout: string } }> }> };
            http_filters: Array<{ name: string; typed_config: { processing_mode: Record<string, string>; metadata_options: Record<string, unknown> } }>;
          };
        }>;
      }>;
    }>;
    clusters: Array<{ name: string; load_balancing_policy?: { policies: Array<{ typed_extension_config: { typed_config: { override_host_sources: unknown[] } } }> } }>;
  };
}

function extProcOf(doc: Doc) {
  return doc.static_resources.listeners[0]!.filter_chains[0]!.filters[0]!.typed_config.http_filters.find((f) => f.name === 'envoy.filters.http.ext_proc')!.typed_config;
}

describe('keyway as an endpoint picker under other conforming gateway configurations', { timeout: 120_000 }, () => {
  for (const bin of envoyBinaries()) {
    const version = bin.skip ? 'not installed' : envoyVersion(bin.path);
    describe(`on Envoy ${bin.label} (${version})`, { skip: bin.skip }, () => {
      describe('a gateway that reads the pick from the envoy.lb metadata only', () => {
        let upstreams: http.Server[] = [];
        let picker: ExtProcServer | undefined;
        let envoy: EnvoyProcess | undefined;
        let port = 0;
        let dead = 0;
        let view: ServingView | undefined;

        before(async () => {
          upstreams = await namedUpstreams(3);
          [port, dead] = (await freePorts(2)) as [number, number];
          const fixed = fixedState([...upstreams.map((u) => (u.address() as AddressInfo).port), dead].map((p, i) => node(i, p)));
          view = fixed.view;
          picker = await startExtProcServer({ state: fixed.reader, port: 0, host: '127.0.0.1', logger: silent });
          const doc = gatewayBootstrap({
            listeners: [{ name: 'metadata', port, picker: 'picker' }],
            pickers: { picker: picker.port },
            backends: fixed.view.map.endpoints.map((e) => ({ address: e.address, port: e.port })),
          }) as unknown as Doc;
          // As Istio and Envoy Gateway generate it: the metadata accepted from the picker, and no header source.
          extProcOf(doc).metadata_options.receiving_namespaces = { untyped: ['envoy.lb'] };
          const pool = doc.static_resources.clusters.find((c) => c.name === 'pool')!;
          pool.load_balancing_policy!.policies[0]!.typed_extension_config.typed_config.override_host_sources = [
            { metadata: { key: 'envoy.lb', path: [{ key: 'x-gateway-destination-endpoint' }] } },
          ];
          envoy = await startEnvoy({ bootstrap: doc as unknown as Record<string, unknown>, binary: bin.path });
        });

        after(async () => {
          await envoy?.stop();
          await picker?.close();
          await Promise.all(upstreams.map((u) => new Promise<void>((resolve) => u.close(() => resolve()))));
        });

        test('every shard goes to its first live owner, twice in a row', async () => {
          const table = pickTable(view!);
          for (let shard = 0; shard < S; shard++) {
            const want = table.owners(shard).find((e) => e !== `127.0.0.1:${dead}`);
            for (let i = 0; i < 2; i++) assert.equal(await get(port, shard), `200 ${want}`, `shard ${shard} (owners ${table.owners(shard).join(',')})`);
          }
        });
      });

      test('a picker shutting down lets a response finish whose BUFFERED_PARTIAL request body went past the buffer limit', async () => {
        const upstream = await slowAnswerUpstream(12);
        const upstreamPort = (upstream.address() as AddressInfo).port;
        const fixed = fixedState([node(0, upstreamPort)]);
        const picker = await startExtProcServer({ state: fixed.reader, port: 0, host: '127.0.0.1', logger: silent });
        const [port] = (await freePorts(1)) as [number];
        const doc = gatewayBootstrap({ listeners: [{ name: 'partial', port, picker: 'picker', streamBodies: true }], pickers: { picker: picker.port }, backends: [{ address: '127.0.0.1', port: upstreamPort }] }) as unknown as Doc;
        const listener = doc.static_resources.listeners[0]!;
        // The buffer limit BUFFERED_PARTIAL sends up to: the first 64 KiB go to the picker, the rest past it.
        listener.per_connection_buffer_limit_bytes = 65536;
        listener.filter_chains[0]!.filters[0]!.typed_config.route_config.virtual_hosts[0]!.routes[0]!.route.timeout = '0s';
        Object.assign(extProcOf(doc).processing_mode, { request_body_mode: 'BUFFERED_PARTIAL', response_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP' });
        const envoy = await startEnvoy({ bootstrap: doc as unknown as Record<string, unknown>, binary: bin.path });
        try {
          const total = 1 << 20;
          let firstByte!: () => void;
          const started = new Promise<void>((resolve) => (firstByte = resolve));
          const reply = new Promise<string>((resolve) => {
            const req = http.request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent: false, headers: { 'x-cache-shard': '1', 'content-length': String(total) } }, (res) => {
              let body = '';
              res.on('data', (c: Buffer) => {
                body += c.toString();
                firstByte();
              });
              res.on('end', () => resolve(`${res.statusCode} ${body.trim().split('\n').at(-1)}`));
              res.on('aborted', () => resolve(`aborted after ${body.trim().split('\n').at(-1)}`));
              res.on('error', () => resolve(`aborted after ${body.trim().split('\n').at(-1)}`));
            });
            req.on('error', (err) => resolve(`request failed: ${err.message}`));
            req.end(Buffer.alloc(total, 0x61));
          });
          await started;
          // The response streams for about 3 s, past the picker's 2 s shutdown grace.
          await picker.close();
          assert.equal(await reply, `200 done ${total}`);
        } finally {
          await envoy.stop();
          await picker.close();
          await new Promise<void>((resolve) => upstream.close(() => resolve()));
        }
      });
    });
  }
});
