/**
 * keyway as the endpoint picker of an inference gateway (docs/gateways.md), on real Envoy (pinned
 * and the oldest supported) configured as the gateways configure it: the ext_proc filter calls keyway, the
 * override_host policy routes to the `ip:port` list it returns. Two keyway replicas (`keyway serve
 * --ext-proc-port`) serve one topology of four nodes, one of them down (nothing listens on its port).
 * - every shard whose primary is up is served by its primary, named by `x-cache-shard` or by the
 *   key header, and both replicas' gateways route every shard alike;
 * - shards whose primary is down are served by their replica (the retry walks the ordered list),
 *   and keyway counts them as served by a replica;
 * - a malformed shard gets 400 and a shard with no eligible owner (a subset hint that excludes its
 *   owners) gets 503, both from keyway's ImmediateResponse;
 * - request and response bodies arrive intact when the gateway streams them through the picker
 *   (FULL_DUPLEX_STREAMED);
 * - the gRPC health services the protocol names answer SERVING on both replicas.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials, makeClientConstructor, status as GrpcStatus } from '@grpc/grpc-js';
import { keyToShard } from '../src/sharding/index.js';
import { HEALTH_SERVICE, ServingStatus } from '../src/extproc/index.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { gatewayBootstrap } from './support/ext-proc-gateway.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { patternBody, startModelServer, type ModelServer, type ModelServerAnswer } from './support/model-servers.js';
import { freePorts } from './support/ports.js';

const S = 16;

interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly answer: ModelServerAnswer | undefined;
}

/** One request through the gateway; `body` is sent in 64 KiB writes. */
function send(port: number, opts: { path?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: opts.path ?? '/', method: opts.body ? 'POST' : 'GET', headers: opts.headers, agent: false, timeout: 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const raw = res.headers['x-answer'];
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), answer: typeof raw === 'string' ? (JSON.parse(raw) as ModelServerAnswer) : undefined });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`request to :${port} timed out`)));
    req.on('error', reject);
    if (opts.body) for (let off = 0; off < opts.body.length; off += 65536) req.write(opts.body.subarray(off, off + 65536));
    req.end();
  });
}

function healthCheck(port: number, service: string): Promise<ServingStatus> {
  const Client = makeClientConstructor(HEALTH_SERVICE, 'grpc.health.v1.Health');
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  return new Promise<ServingStatus>((resolve, reject) => {
    (client as unknown as { Check: (req: { service: string }, cb: (err: Error | null, s?: ServingStatus) => void) => void }).Check({ service }, (err, s) => {
      client.close();
      if (err) reject(err);
      else resolve(s ?? ServingStatus.UNKNOWN);
    });
  });
}

async function metricValue(keyway: KeywayProcess, series: string): Promise<number> {
  const text = await (await fetch(`${keyway.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

describe('keyway as an endpoint picker (ext_proc) behind Envoy', { timeout: 120_000 }, () => {
  let dir = '';
  const servers: ModelServer[] = [];
  let down = '';
  const replicas: { keyway: KeywayProcess; extProcPort: number }[] = [];
  let owners: string[][] = [];

  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startModelServer());
    const [downPort, ...pickerPorts] = await freePorts(3);
    down = `127.0.0.1:${downPort}`;
    const nodes = [...servers.map((s) => s.port), downPort!];
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-extproc-'));
    const file = path.join(dir, 'topology.yaml');
    const lines = [`shards: ${S}`, 'replicas: 2', 'spread: none', 'endpoints:'];
    nodes.forEach((port, i) => lines.push(`  - {id: node-${i}, address: 127.0.0.1, port: ${port}, locality: {region: r, zone: z, subzone: s${i}}, weight: 1}`));
    writeFileSync(file, `${lines.join('\n')}\n`);
    for (const extProcPort of pickerPorts) {
      replicas.push({ keyway: await startKeyway({ configPath: file, logLevel: 'warn', args: ['--ext-proc-port', String(extProcPort)] }), extProcPort: extProcPort! });
    }
    const map = (await (await fetch(`${replicas[0]!.keyway.httpUrl}/v1/shardmap`)).json()) as { shards: { shard: number; owners: string[] }[]; endpoints: { id: string; port: number }[] };
    const addr = new Map(map.endpoints.map((e) => [e.id, `127.0.0.1:${e.port}`]));
    owners = map.shards.map((s) => s.owners.map((id) => addr.get(id)!));
    assert.equal(owners.length, S);
    assert.ok(owners.some((o) => o[0] === down) && owners.some((o) => o[0] !== down), 'the down node leads some shards, not all');
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.keyway.stop()));
    await Promise.all(servers.map((s) => s.close()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the gRPC health services of the protocol answer SERVING on every replica (no leader)', async () => {
    for (const { extProcPort } of replicas) {
      for (const service of ['', 'liveness', 'readiness', 'envoy.service.ext_proc.v3.ExternalProcessor']) {
        assert.equal(await healthCheck(extProcPort, service), ServingStatus.SERVING, `${service} on :${extProcPort}`);
      }
      await assert.rejects(healthCheck(extProcPort, 'no-such-service'), (err: { code?: number }) => err.code === GrpcStatus.NOT_FOUND);
    }
  });

  for (const bin of envoyBinaries()) {
    const version = bin.skip ? bin.path : envoyVersion(bin.path);
    describe(`on Envoy ${bin.label} (${version})`, { skip: bin.skip }, () => {
      let envoy: EnvoyProcess | undefined;
      const port: Record<'a' | 'b' | 'streamed' | 'subset', number> = { a: 0, b: 0, streamed: 0, subset: 0 };

      before(async () => {
        const [a, b, streamed, subset] = await freePorts(4);
        Object.assign(port, { a, b, streamed, subset });
        envoy = await startEnvoy({
          binary: bin.path,
          bootstrap: gatewayBootstrap({
            listeners: [
              { name: 'a', port: a!, picker: 'picker-a' },
              { name: 'b', port: b!, picker: 'picker-b' },
              { name: 'streamed', port: streamed!, picker: 'picker-a', streamBodies: true },
              { name: 'subset', port: subset!, picker: 'picker-a', subsetHint: [servers[0]!.endpoint] },
            ],
            pickers: { 'picker-a': replicas[0]!.extProcPort, 'picker-b': replicas[1]!.extProcPort },
            backends: [...servers.map((s) => ({ address: s.address, port: s.port })), { address: '127.0.0.1', port: Number(down.split(':')[1]) }],
            servedHeader: 'x-served-by',
          }),
        });
      });
      after(async () => {
        await envoy?.stop();
      });

      test('every shard reaches its primary, by shard or by key, and both replicas route it alike', async () => {
        for (let shard = 0; shard < S; shard++) {
          const expected = owners[shard]!;
          for (const via of ['a', 'b'] as const) {
            const r = await send(port[via], { headers: { 'x-cache-shard': String(shard) } });
            assert.equal(r.status, 200, `shard ${shard} via ${via}: ${r.body.toString()}`);
            // The ordered owner list reaches the upstream as the header, primary first.
            assert.equal(r.answer?.destination, expected.join(','), `shard ${shard} via ${via}`);
            assert.equal(r.answer?.servedBy, expected[0] === down ? expected[1] : expected[0], `shard ${shard} via ${via}`);
          }
        }
        for (const key of ['user:1', 'user:2', '{tenant}:a', 'cart:77']) {
          const shard = keyToShard(key, S);
          const r = await send(port.a, { headers: { 'x-cache-key': key } });
          assert.equal(r.answer?.destination, owners[shard]!.join(','), key);
        }
      });

      test('a down primary: the gateway falls to the replica through the ordered list; keyway counts it', async () => {
        const shards = owners.flatMap((o, shard) => (o[0] === down ? [shard] : []));
        const before = await metricValue(replicas[0]!.keyway, 'keyway_picker_served_total{by="replica"}');
        for (const shard of shards) {
          const r = await send(port.a, { headers: { 'x-cache-shard': String(shard) } });
          assert.equal(r.status, 200, r.body.toString());
          assert.equal(r.answer?.servedBy, owners[shard]![1], `shard ${shard}: served by its replica`);
        }
        const afterValue = await metricValue(replicas[0]!.keyway, 'keyway_picker_served_total{by="replica"}');
        assert.ok(afterValue >= before + shards.length, `replica-served count ${before} -> ${afterValue}`);
        assert.ok((await metricValue(replicas[0]!.keyway, 'keyway_picker_served_total{by="primary"}')) > 0);
      });

      test('a malformed shard gets 400 and a shard with no eligible owner gets 503, from keyway', async () => {
        for (const bad of ['abc', String(S), '01', '-1', '1.0']) {
          const r = await send(port.a, { headers: { 'x-cache-shard': bad } });
          assert.equal(r.status, 400, `x-cache-shard: ${bad}`);
          assert.equal(r.body.toString(), `x-cache-shard must be an integer in [0, ${S})\n`);
        }
        // The subset hint allows only servers[0]: its shards route, every other shard has no eligible owner.
        for (let shard = 0; shard < S; shard++) {
          const r = await send(port.subset, { headers: { 'x-cache-shard': String(shard) } });
          if (owners[shard]!.includes(servers[0]!.endpoint)) {
            assert.equal(r.status, 200, `shard ${shard}`);
            assert.equal(r.answer?.servedBy, servers[0]!.endpoint);
          } else {
            assert.equal(r.status, 503, `shard ${shard}`);
            assert.match(r.body.toString(), new RegExp(`no owner of shard ${shard} is in the subset hint`));
          }
        }
      });

      test('bodies arrive intact both ways when the gateway streams them through keyway (FULL_DUPLEX_STREAMED)', async () => {
        const shard = owners.findIndex((o) => o[0] !== down);
        for (const size of [0, 1, 300_000, 2_000_000]) {
          const body = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff));
          const r = await send(port.streamed, { path: `/?size=${size}`, headers: { 'x-cache-shard': String(shard) }, body });
          assert.equal(r.status, 200, r.body.toString().slice(0, 200));
          assert.equal(r.answer?.servedBy, owners[shard]![0]);
          assert.equal(r.answer?.bodyLength, size, 'request body length upstream');
          assert.equal(r.answer?.bodySha256, createHash('sha256').update(body).digest('hex'), 'request body upstream');
          assert.ok(r.body.equals(patternBody(size)), `response body of ${size} bytes intact (got ${r.body.length})`);
        }
      });
    });
  }
});
