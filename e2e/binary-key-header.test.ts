/**
 * A key header named `*-bin` (gRPC binary metadata, `routing.keyHeader: x-cache-key-bin`), on real
 * Envoy (the pinned build) and a real `keyway serve`: one key, one node, whichever path it takes.
 * gRPC sends a binary value base64-encoded on the wire, padded by grpc-js and unpadded by grpc-go,
 * and keyway's shard pickers hash the decoded bytes (docs/hashing.md). Checked over HTTP/2, the
 * way a gRPC client behind Envoy sends it:
 * (a) the endpoint picker (ext_proc, behind a gateway Envoy) sends each key, in both encodings, to
 *     the primary of the shard of its bytes, as the shard pickers do (`chooseShard`);
 * (b) a value that is not base64 gets 400 naming the header, and no node is contacted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { chooseShard } from '../src/grpc/shard-choice.js';
import { keyBytesToShard } from '../src/sharding/index.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { gatewayBootstrap } from './support/ext-proc-gateway.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePorts } from './support/ports.js';
import { stopStack } from './support/teardown.js';
import { eventually } from '../test/support/eventually.js';
import type { ShardMapBody } from '../test/support/rest-bodies.js';

const SHARDS = 1024;
const KEY_HEADER = 'x-cache-key-bin';
const NODE_IDS = ['node-0', 'node-1', 'node-2', 'node-3'];

/** Keys of every length mod 3 (so both padding forms occur), UTF-8 and not, with a {tag}. */
const KEYS: readonly Buffer[] = [
  'a',
  'ab',
  'abc',
  'user:1000',
  'user:1001',
  '{user1000}.following',
  'session:7f3a',
  'кэш',
  '',
].map((s) => Buffer.from(s, 'utf8')).concat([Buffer.from([0x63, 0xe9, 0x66]), Buffer.from([0xff, 0xfe, 0x41, 0x00]), Buffer.from([0x7b, 0x80, 0x7d, 0x31])]);

/** The header value grpc-js writes for binary metadata (padded base64). */
function grpcJsWire(key: Buffer): string {
  const md = new Metadata();
  md.set(KEY_HEADER, key);
  const v = md.toHttp2Headers()[KEY_HEADER];
  return String(Array.isArray(v) ? v[0] : v);
}

/** The header value grpc-go writes (base64.RawStdEncoding: unpadded). */
function grpcGoWire(key: Buffer): string {
  return key.toString('base64').replace(/=+$/, '');
}

interface Answer {
  readonly status: number;
  readonly servedBy: string | undefined;
  readonly body: string;
}

/** One HTTP/2 request (prior knowledge, as gRPC talks to Envoy). */
function h2Request(port: number, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'GET', ':path': '/cache/k', ...headers });
    req.setTimeout(5_000, () => req.close(http2.constants.NGHTTP2_CANCEL));
    let status = 0;
    let servedBy: string | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      status = Number(h[':status']);
      const by = h['x-served-by'];
      servedBy = typeof by === 'string' ? by : undefined;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      session.close();
      resolve({ status, servedBy, body: Buffer.concat(chunks).toString('utf8') });
    });
    req.on('error', (err) => {
      session.close();
      reject(err);
    });
    req.end();
  });
}

const pinned = envoyBinaries()[0]!;
const version = pinned.skip ? pinned.path : envoyVersion(pinned.path);

describe(`a -bin key header on Envoy ${version}`, { skip: pinned.skip, timeout: 60_000 }, () => {
  let nodes: CacheNodes;
  let keyway: KeywayProcess;
  let gateway: EnvoyProcess;
  let dir: string;
  let gatewayPort = 0;
  let primaryOf: (shard: number) => string;

  before(async () => {
    nodes = await startCacheNodes(NODE_IDS);
    dir = mkdtempSync(path.join(tmpdir(), 'keyway-binkey-e2e-'));
    const topologyPath = path.join(dir, 'topology.yaml');
    const [extProcPort, gw] = await freePorts(2);
    gatewayPort = gw!;
    const lines = [
      `shards: ${SHARDS}`,
      'replicas: 2',
      'service: keyway-cache',
      `routing: {keyHeader: ${KEY_HEADER}}`,
      'endpoints:',
      ...NODE_IDS.map((id, i) => `  - {id: ${id}, address: 127.0.0.1, port: ${nodes.byId(id).port}, weight: ${10 + i}}`),
    ];
    writeFileSync(topologyPath, `${lines.join('\n')}\n`);
    keyway = await startKeyway({ configPath: topologyPath, logLevel: 'warn', args: ['--ext-proc-port', String(extProcPort)], readyTimeoutMs: 45_000 });
    const map = JSON.parse(await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).text()) as ShardMapBody;
    assert.equal(map.shardCount, SHARDS);
    primaryOf = (shard) => map.shards[shard]!.owners[0]!;
    gateway = await startEnvoy({
      binary: pinned.path,
      bootstrap: gatewayBootstrap({
        listeners: [{ name: 'gw', port: gatewayPort, picker: 'picker' }],
        pickers: { picker: extProcPort! },
        backends: nodes.nodes.map((n) => ({ address: n.host, port: n.port })),
      }),
    });
    await eventually('the gateway routes a shard', () => h2Request(gatewayPort, { 'x-cache-shard': '0' }), {
      accept: (a) => a.status === 200 && a.servedBy === primaryOf(0),
      timeoutMs: 20_000,
    });
  });

  after(async () => {
    await gateway?.stop();
    await stopStack({ keyway, nodes, dir });
  });

  test('(a) the endpoint picker routes a binary key, padded (grpc-js) or not (grpc-go), by its bytes, as the shard pickers do', async () => {
    const config = { shardCount: SHARDS, shardHeader: 'x-cache-shard', keyHeader: KEY_HEADER, missingHeader: 'any' } as const;
    for (const key of KEYS) {
      const shard = keyBytesToShard(key, SHARDS);
      // The shard pickers (grpc-js here; grpc-go's is held to the same rules) hash the metadata's bytes.
      assert.deepEqual(chooseShard(config as never, (name) => (name === KEY_HEADER ? [key] : undefined)), { kind: 'shard', shard });
      for (const [client, wire] of [
        ['grpc-js', grpcJsWire(key)],
        ['grpc-go', grpcGoWire(key)],
      ] as const) {
        const a = await h2Request(gatewayPort, { [KEY_HEADER]: wire });
        assert.deepEqual([a.status, a.servedBy], [200, primaryOf(shard)], `key ${key.toString('hex')} as ${client} sends it (${wire}): shard ${shard}; ${a.body}`);
      }
    }
  });

  test('(b) a binary key header that is not base64 gets 400 naming it', async () => {
    for (const bad of ['a', 'ab=', 'a b', 'YW*=', '====', 'YQ==YQ==']) {
      const a = await h2Request(gatewayPort, { [KEY_HEADER]: bad });
      assert.deepEqual([a.status, a.servedBy, a.body], [400, undefined, `${KEY_HEADER} must be base64 (gRPC binary metadata)\n`], `value ${JSON.stringify(bad)}`);
    }
  });
});
