/**
 * keyway's endpoint picker on real Envoy with bodies going through it (docs/gateways.md), against
 * the same gateway without ext_proc: each request must end as it would without the picker (status,
 * bytes), keyway must count it once, and no ext_proc stream may stay open afterwards.
 * - a large upload sent slowly to an upstream that answers before reading it (413 and close, or 200
 *   and read on): the response comes while Envoy still streams the request body to keyway;
 * - a long streamed response (SSE, as LLM servers stream tokens), longer than the filter's
 *   `grpc_service` timeout and `message_timeout`;
 * - response trailers; request trailers in headers-only mode (with request bodies through ext_proc,
 *   Envoy sends such a request's body twice, whatever the processor answers: docs/gateways.md "Limits");
 * - a client that aborts mid-body;
 * - many concurrent streams;
 * - the picker cluster's circuit breaker, which bounds the requests in flight (a stream each).
 * Body modes: FULL_DUPLEX_STREAMED (what gateways set), STREAMED, and headers only.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { gatewayBootstrap } from './support/ext-proc-gateway.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePorts } from './support/ports.js';

const S = 8;
const MODES = ['FULL_DUPLEX_STREAMED', 'STREAMED', 'NONE'] as const;
type Mode = (typeof MODES)[number];
const LISTENERS = ['plain', ...MODES] as const;
/** Every listener: the ones above, and `capped` (headers only, through a picker cluster whose circuit breaker allows 3 requests). */
const ALL = [...LISTENERS, 'capped'] as const;
type ListenerName = (typeof ALL)[number];

/** What an upstream saw of one request. */
interface Seen {
  readonly path: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly trailers: Record<string, string>;
  readonly complete: boolean;
}

interface Upstream {
  readonly port: number;
  readonly endpoint: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

const SSE_EVENT = (i: number): string => `data: {"token":${i},"text":"${'x'.repeat(40)}"}\n\n`;
const sseBody = (events: number): string => Array.from({ length: events }, (_, i) => SSE_EVENT(i)).join('');

/**
 * A model server: `/early?status=N` answers at once without reading the body (`close=1`: and
 * closes the connection), `/sse?events=N&interval=MS` streams events, anything else reads the
 * whole body (and trailers) and answers with what it read.
 */
async function startUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  let endpoint = '';
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    const record = (complete: boolean): void => {
      seen.push({ path: url.pathname, bytes, sha256: hash.copy().digest('hex'), trailers: { ...req.trailers } as Record<string, string>, complete });
    };
    req.on('end', () => record(true));
    req.on('aborted', () => record(false));
    if (url.pathname === '/early') {
      const close = url.searchParams.get('close') === '1';
      res.writeHead(Number(url.searchParams.get('status') ?? 200), { 'content-type': 'text/plain', 'x-served-by': endpoint, ...(close ? { connection: 'close' } : {}) });
      res.end('answered before the body\n');
      return;
    }
    if (url.pathname === '/sse') {
      const events = Number(url.searchParams.get('events') ?? 10);
      const interval = Number(url.searchParams.get('interval') ?? 10);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'x-served-by': endpoint });
      let i = 0;
      const tick = (): void => {
        if (res.destroyed) return;
        if (i === events) {
          res.end();
          return;
        }
        res.write(SSE_EVENT(i++));
        setTimeout(tick, interval);
      };
      tick();
      return;
    }
    if (url.pathname === '/trailers-out') {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-served-by': endpoint, trailer: 'x-tokens' });
        res.write('partial ');
        res.write('answer\n');
        res.addTrailers({ 'x-tokens': '2' });
        res.end();
      });
      return;
    }
    req.on('end', () => {
      const body = JSON.stringify({ bytes, sha256: hash.copy().digest('hex'), trailers: req.trailers });
      res.writeHead(200, { 'content-type': 'application/json', 'x-served-by': endpoint });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  endpoint = `127.0.0.1:${port}`;
  return {
    port,
    endpoint,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

interface Outcome {
  readonly status: number;
  readonly body: Buffer;
  /** Response trailers (HTTP/2 client). */
  readonly trailers?: Record<string, string>;
  /** The client's write failed after the response came (the gateway closed the upload). */
  readonly writeError?: string;
}

/** An upload of `total` bytes in `chunk`-byte writes, `intervalMs` apart; stops writing once the response has ended. */
function upload(port: number, urlPath: string, opts: { total: number; chunk: number; intervalMs: number; shard: number; abortAfter?: number }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    let response: { status: number; chunks: Buffer[] } | undefined;
    let writeError: string | undefined;
    let responded = false;
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: urlPath,
      method: 'POST',
      agent: false,
      headers: { 'x-cache-shard': String(opts.shard), 'content-length': String(opts.total) },
    });
    const finish = (): void => {
      if (!response) return;
      responded = true;
      resolve({ status: response.status, body: Buffer.concat(response.chunks), ...(writeError ? { writeError } : {}) });
    };
    req.on('response', (res) => {
      response = { status: res.statusCode ?? 0, chunks: [] };
      res.on('data', (c: Buffer) => response!.chunks.push(c));
      res.on('end', finish);
      res.on('error', () => finish());
    });
    req.on('error', (err) => {
      writeError = err.message;
      if (opts.abortAfter !== undefined) resolve({ status: 0, body: Buffer.alloc(0), writeError });
      else if (!response) reject(err);
    });
    const piece = Buffer.alloc(opts.chunk, 0x61);
    let sent = 0;
    const write = (): void => {
      if (responded || req.destroyed) return;
      if (opts.abortAfter !== undefined && sent >= opts.abortAfter) {
        req.destroy(new Error('client aborted'));
        return;
      }
      const n = Math.min(opts.chunk, opts.total - sent);
      sent += n;
      if (n === opts.chunk) req.write(piece);
      else req.write(piece.subarray(0, n));
      if (sent >= opts.total) req.end();
      else setTimeout(write, opts.intervalMs);
    };
    write();
  });
}

function get(port: number, urlPath: string, shard: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { 'x-cache-shard': String(shard) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A POST over HTTP/2 (h2c) with a body and request trailers. */
function withTrailers(port: number, shard: number, body: Buffer, trailers: Record<string, string> | undefined, urlPath = '/echo'): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': urlPath, 'x-cache-shard': String(shard) }, { waitForTrailers: trailers !== undefined });
    if (trailers) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    let got: Record<string, string> | undefined;
    stream.on('trailers', (t) => (got = Object.fromEntries(Object.entries(t).filter(([k]) => k.startsWith('x-'))) as Record<string, string>));
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      session.close();
      resolve({ status, body: Buffer.concat(chunks), ...(got ? { trailers: got } : {}) });
    });
    stream.on('error', (err) => {
      session.destroy();
      reject(err);
    });
    stream.end(body);
  });
}

async function metric(keyway: KeywayProcess, series: string): Promise<number> {
  const text = await (await fetch(`${keyway.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : 0;
}

/** The picker counters this suite checks. */
async function counters(keyway: KeywayProcess): Promise<{ route: number; primary: number; replica: number; elsewhere: number }> {
  return {
    route: await metric(keyway, 'keyway_picker_decisions_total{outcome="route"}'),
    primary: await metric(keyway, 'keyway_picker_served_total{by="primary"}'),
    replica: await metric(keyway, 'keyway_picker_served_total{by="replica"}'),
    elsewhere: await metric(keyway, 'keyway_picker_served_total{by="elsewhere"}'),
  };
}

/** The gateway bootstrap with one listener per body mode and one without ext_proc (`plain`); no route timeout (streams last). */
/** The parts of the gateway bootstrap this suite edits. */
interface Filter {
  name: string;
  typed_config: { processing_mode: Record<string, string> };
}
interface Hcm {
  route_config: { virtual_hosts: Array<{ routes: Array<{ route: { timeout: string } }> }> };
  http_protocol_options?: Record<string, unknown>;
  http_filters: Filter[];
}
interface Doc {
  static_resources: { listeners: Array<{ name: string; filter_chains: Array<{ filters: Array<{ typed_config: Hcm }> }> }>; clusters: Array<Record<string, unknown> & { name: string }> };
}

function bootstrap(ports: Record<ListenerName, number>, picker: number, backends: readonly Upstream[]): Record<string, unknown> {
  const doc = gatewayBootstrap({
    listeners: ALL.map((name) => ({ name, port: ports[name], picker: name === 'capped' ? 'picker-capped' : 'picker', streamBodies: name === 'FULL_DUPLEX_STREAMED' || name === 'STREAMED' })),
    pickers: { picker, 'picker-capped': picker },
    backends: backends.map((b) => ({ address: '127.0.0.1', port: b.port })),
    servedHeader: 'x-served-by',
  }) as unknown as Doc;
  for (const l of doc.static_resources.listeners) {
    const hcm = l.filter_chains[0]!.filters[0]!.typed_config;
    // No route timeout: the long streams below outlast the bootstrap's 10 s.
    hcm.route_config.virtual_hosts[0]!.routes[0]!.route.timeout = '0s';
    hcm.http_protocol_options = { enable_trailers: true };
    if (l.name === 'plain') hcm.http_filters = hcm.http_filters.filter((f) => f.name !== 'envoy.filters.http.ext_proc');
    if (l.name === 'STREAMED') {
      const ext = hcm.http_filters.find((f) => f.name === 'envoy.filters.http.ext_proc')!;
      ext.typed_config.processing_mode.request_body_mode = 'STREAMED';
      ext.typed_config.processing_mode.response_body_mode = 'STREAMED';
    }
  }
  doc.static_resources.clusters.find((c) => c.name === 'picker-capped')!.circuit_breakers = { thresholds: [{ max_requests: 3 }] };
  const pool = doc.static_resources.clusters.find((c) => c.name === 'pool')!;
  pool.typed_extension_protocol_options = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      // Below the upstreams' keep-alive timeout (Node's 5 s): Envoy (default 1 h) reused a connection
      // the upstream was closing, and a request whose body is past Envoy's retry buffer (1 MiB, the
      // early-answer uploads) failed 503 UC with no served endpoint to count (envoyproxy/envoy#2324).
      common_http_protocol_options: { idle_timeout: '1s' },
      explicit_http_config: { http_protocol_options: { enable_trailers: true } },
    },
  };
  return doc as unknown as Record<string, unknown>;
}

describe('keyway as an endpoint picker with bodies through it, behind Envoy', { timeout: 300_000 }, () => {
  let dir = '';
  const upstreams: Upstream[] = [];
  let keyway: KeywayProcess | undefined;
  let pickerPort = 0;

  before(async () => {
    for (let i = 0; i < 2; i++) upstreams.push(await startUpstream());
    [pickerPort] = (await freePorts(1)) as [number];
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-extproc-bodies-'));
    const file = path.join(dir, 'topology.yaml');
    const lines = [`shards: ${S}`, 'replicas: 2', 'spread: none', 'endpoints:'];
    upstreams.forEach((u, i) => lines.push(`  - {id: node-${i}, address: 127.0.0.1, port: ${u.port}, locality: {region: r, zone: z, subzone: s${i}}, weight: 1}`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    keyway = await startKeyway({ configPath: file, logLevel: 'warn', args: ['--ext-proc-port', String(pickerPort)] });
  });

  after(async () => {
    await keyway?.stop();
    await Promise.all(upstreams.map((u) => u.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const bin of envoyBinaries()) {
    const version = bin.skip ? bin.path : envoyVersion(bin.path);
    describe(`on Envoy ${bin.label} (${version})`, { skip: bin.skip }, () => {
      let envoy: EnvoyProcess | undefined;
      const ports = {} as Record<ListenerName, number>;

      before(async () => {
        const free = await freePorts(ALL.length);
        ALL.forEach((name, i) => (ports[name] = free[i]!));
        envoy = await startEnvoy({ binary: bin.path, bootstrap: bootstrap(ports, pickerPort, upstreams) });
      });
      after(async () => {
        await envoy?.stop();
      });

      /** Runs `scenario` through the plain listener and every picker listener; checks each outcome against the plain one, the counters and the open streams. */
      async function alike(what: string, scenario: (port: number) => Promise<Outcome>, check: (o: Outcome) => void, opts: { modes?: readonly Mode[] } = {}): Promise<void> {
        const plain = await scenario(ports.plain);
        check(plain);
        const wrong: string[] = [];
        for (const mode of opts.modes ?? MODES) {
          const before = await counters(keyway!);
          const got = await scenario(ports[mode]);
          if (got.status !== plain.status || !got.body.equals(plain.body) || JSON.stringify(got.trailers) !== JSON.stringify(plain.trailers)) {
            wrong.push(`${mode}: ${got.status} ${got.body.toString().slice(0, 300)} ${JSON.stringify(got.trailers)}; without the picker: ${plain.status} ${plain.body.toString().slice(0, 300)} ${JSON.stringify(plain.trailers)}`);
          }
          await noStreamOpen(`${what} in ${mode}`);
          const afterCounts = await counters(keyway!);
          assert.equal(afterCounts.route - before.route, 1, `${what} in ${mode}: one routing decision`);
          const served = afterCounts.primary + afterCounts.replica + afterCounts.elsewhere - (before.primary + before.replica + before.elsewhere);
          assert.equal(served, 1, `${what} in ${mode}: one served response counted (status ${got.status}; without the picker ${plain.status})`);
        }
        assert.deepEqual(wrong, [], `${what}: as without the picker`);
      }

      async function noStreamOpen(what: string, cluster = 'picker'): Promise<void> {
        await envoy!.waitForStat(`cluster.${cluster}.upstream_rq_active`, (v) => v === 0, { what: `${what}: no ext_proc stream open`, timeoutMs: 10_000 });
      }

      test('an upstream answers 413 and closes before reading a slow upload', async () => {
        await alike('413 and close', (port) => upload(port, '/early?status=413&close=1', { total: 4 << 20, chunk: 65536, intervalMs: 20, shard: 1 }), (o) => {
          assert.equal(o.status, 413);
          assert.equal(o.body.toString(), 'answered before the body\n');
        });
      });

      test('an upstream answers 200 before reading a slow upload, then reads it', async () => {
        await alike('200 early', (port) => upload(port, '/early?status=200', { total: 4 << 20, chunk: 65536, intervalMs: 20, shard: 2 }), (o) => {
          assert.equal(o.status, 200);
        });
      });

      test('a long SSE response, longer than the filter timeouts, arrives whole', async () => {
        const events = 35;
        await alike('SSE', (port) => get(port, `/sse?events=${events}&interval=200`, 3), (o) => {
          assert.equal(o.status, 200);
          assert.equal(o.body.toString(), sseBody(events));
        });
      });

      // Headers only: with request bodies through ext_proc (FULL_DUPLEX_STREAMED, STREAMED), Envoy
      // 1.37 and 1.40 send a request that has trailers upstream with its body twice, whatever the
      // processor answers (docs/gateways.md "Limits").
      test('request trailers reach the upstream (headers-only mode)', async () => {
        const body = Buffer.alloc(200_000, 0x62);
        const sha256 = createHash('sha256').update(body).digest('hex');
        await alike('trailers', (port) => withTrailers(port, 4, body, { 'x-checksum': sha256 }), (o) => {
          assert.equal(o.status, 200, o.body.toString());
          const answer = JSON.parse(o.body.toString()) as { bytes: number; sha256: string; trailers: Record<string, string> };
          assert.equal(answer.bytes, body.length);
          assert.equal(answer.sha256, sha256);
          assert.equal(answer.trailers['x-checksum'], sha256);
        }, { modes: ['NONE'] });
      });

      test('response trailers reach the client', async () => {
        await alike('response trailers', (port) => withTrailers(port, 6, Buffer.from('q'), undefined, '/trailers-out'), (o) => {
          assert.equal(o.status, 200);
          assert.equal(o.body.toString(), 'partial answer\n');
          assert.deepEqual(o.trailers, { 'x-tokens': '2' });
        });
      });

      test('a client that aborts mid-body leaves no stream open', async () => {
        for (const mode of MODES) {
          const before = await counters(keyway!);
          const o = await upload(ports[mode], '/echo', { total: 4 << 20, chunk: 65536, intervalMs: 10, shard: 5, abortAfter: 10 * 65536 });
          assert.equal(o.status, 0);
          await noStreamOpen(`abort in ${mode}`);
          assert.equal((await counters(keyway!)).route - before.route, 1, `abort in ${mode}: one decision`);
        }
      });

      test('many concurrent streams complete, and none stays open', async () => {
        for (const mode of LISTENERS) {
          const before = await counters(keyway!);
          const n = 120;
          const jobs = Array.from({ length: n }, (_, i) =>
            i % 3 === 0
              ? get(ports[mode], '/sse?events=20&interval=20', i % S).then((o) => assert.equal(o.body.toString(), sseBody(20), `SSE ${i} in ${mode}`))
              : i % 3 === 1
                ? upload(ports[mode], '/echo', { total: 300_000, chunk: 32768, intervalMs: 5, shard: i % S }).then((o) => {
                    assert.equal(o.status, 200, `upload ${i} in ${mode}: ${o.body.toString().slice(0, 200)}`);
                    assert.equal((JSON.parse(o.body.toString()) as { bytes: number }).bytes, 300_000);
                  })
                : upload(ports[mode], '/early?status=413', { total: 1 << 20, chunk: 65536, intervalMs: 5, shard: i % S }).then((o) => assert.equal(o.status, 413, `early ${i} in ${mode}: ${o.body.toString().slice(0, 200)}`)),
          );
          const results = await Promise.allSettled(jobs);
          // Before the counters: a request the gateway failed (its own 503) has no served endpoint to count.
          const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${mode} ${i}: ${String(r.reason)}`] : []));
          assert.deepEqual(failed, [], `${mode}: every stream completes`);
          if (mode === 'plain') continue;
          await noStreamOpen(`concurrent in ${mode}`);
          const afterCounts = await counters(keyway!);
          assert.equal(afterCounts.route - before.route, n, `${mode}: one decision per request`);
          assert.equal(afterCounts.primary + afterCounts.replica + afterCounts.elsewhere - (before.primary + before.replica + before.elsewhere), n, `${mode}: one served count per response`);
        }
      });

      test("the picker cluster's circuit breaker caps the gateway's in-flight requests (max_requests, default 1024)", async () => {
        // `capped` goes to a picker cluster with max_requests 3: one ext_proc stream per request in flight.
        const outcomes = await Promise.all(Array.from({ length: 6 }, () => get(ports.capped, '/sse?events=5&interval=200', 1)));
        assert.deepEqual(outcomes.map((o) => o.status).sort(), [200, 200, 200, 500, 500, 500]);
        // 1.40 counts them as upstream_rq_active_overflow; 1.37 under another overflow counter.
        const overflow = [...(await envoy!.stats('cluster\\.picker-capped\\.upstream_rq_.*overflow')).values()].reduce<number>((a, v) => a + Number(v), 0);
        assert.equal(overflow, 3);
        await noStreamOpen('capped', 'picker-capped');
      });

      test('keyway logged no error', () => {
        const errors = keyway!.logs().filter((l) => typeof l.level === 'number' && l.level >= 50);
        assert.deepEqual(errors, []);
      });
    });
  }
});
