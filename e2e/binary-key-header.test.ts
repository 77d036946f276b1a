/**
 * A key header named `*-bin` (gRPC binary metadata, `routing.keyHeader: x-cache-key-bin`), on real
 * Envoy (the pinned build) and a real `keyway serve`: one key, one node, whichever path it takes.
 * gRPC sends a binary value base64-encoded on the wire, padded by grpc-js and unpadded by grpc-go,
 * and keyway's shard pickers hash the decoded bytes (docs/hashing.md). Checked over HTTP/2, the
 * way a gRPC client behind Envoy sends it:
 * (a) the endpoint picker (ext_proc, behind a gateway Envoy) sends each key, in both encodings, to
 *     the primary of the shard of its bytes, as the shard pickers do (`chooseShard`);
 * (b) a value that is not base64 gets 400 naming the header, and no node is contacted.
 * Then keyway's own listener, which Envoy (the pinned build and the oldest supported,
 * envoyBinaries()) receives over ADS from `keyway serve`, for both `envoy.routeShape` values: its
 * Lua filter decodes the value (src/xds/translator/envoy-key-shard.ts) and sets `x-cache-shard`:
 * (c) each key, padded and unpadded, short keys of every length to 50 bytes (every tail of the
 *     decoder's 16-character steps) and two of 36 KiB (48 KiB of base64, under Envoy's 60 KiB
 *     header limit), reaches the primary of `keyBytesToShard` of its bytes, which receives that shard;
 * (d) a value that is not base64, short or long, gets 400 naming the header, and no node is contacted.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Metadata } from '@grpc/grpc-js';
import { Rng } from '../test/support/seeded-random.js';
import { chooseShard } from '../src/grpc/shard-choice.js';
import { keyBytesToShard } from '../src/sharding/index.js';
import { adsBootstrap } from './support/bootstrap.js';
import { envoyBinaries, envoyVersion, startEnvoy, type EnvoyProcess } from './support/envoy.js';
import { gatewayBootstrap } from './support/ext-proc-gateway.js';
import { startCacheNodes, type CacheNodes } from './support/cache-nodes.js';
import { startKeyway, type KeywayProcess } from './support/keyway.js';
import { freePort, freePorts } from './support/ports.js';
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


const SERVICE = 'keyway-cache';
const SHAPES = ['subset', 'table'] as const;
const BAD_BINARY = `${KEY_HEADER} must be base64 (gRPC binary metadata)\n`;

/**
 * Keys for the Lua filter: the ones above, one of every length from 0 to 50 bytes (so the
 * decoder's 16-character steps end on every tail), and two of 36 KiB (48 KiB of base64, one and two
 * padding characters) that Envoy's 60 KiB header limit lets through.
 */
const LUA_KEYS: readonly Buffer[] = (() => {
  const rand = new Rng(20261207);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rand.int(256)));
  return [...KEYS, ...Array.from({ length: 51 }, (_, n) => bytes(n)), bytes(36 * 1024 + 1), bytes(36 * 1024 + 2)];
})();

/** Values that are not base64: short ones, and a long one with a bad character in a 16-character step. */
const LUA_BAD_VALUES: readonly string[] = (() => {
  const long = Buffer.alloc(36 * 1024, 0x5a).toString('base64');
  return ['a', 'ab=', 'a b', 'YW*=', '====', 'YQ==YQ==', 'YQ-_', `${long.slice(0, 30_000)}*${long.slice(30_001)}`, `${long}A`];
})();

interface ListenerAnswer extends Answer {
  /** The `x-cache-shard` the node received (from the Lua filter), or undefined when Envoy answered by itself. */
  readonly shardSeen: string | null | undefined;
}

/** Requests over one HTTP/2 connection (prior knowledge, as gRPC talks to Envoy). */
class H2Client {
  private readonly session: http2.ClientHttp2Session;

  constructor(port: number) {
    this.session = http2.connect(`http://127.0.0.1:${port}`);
    this.session.on('error', () => undefined); // each request reports its own failure
  }

  request(headers: Record<string, string>): Promise<ListenerAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.session.request({ ':method': 'GET', ':path': '/cache/k', ...headers });
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
        const body = Buffer.concat(chunks).toString('utf8');
        let shardSeen: string | null | undefined;
        try {
          shardSeen = servedBy === undefined ? undefined : (JSON.parse(body) as { shard: string | null }).shard;
        } catch {
          shardSeen = undefined; // a node that does not echo the shard as JSON
        }
        resolve({ status, servedBy, shardSeen, body });
      });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.session.close();
  }
}

/** One HTTP/2 request on a connection of its own. */
function h2Request(port: number, headers: Record<string, string>): Promise<ListenerAnswer> {
  const client = new H2Client(port);
  return client.request(headers).finally(() => client.close());
}

for (const bin of envoyBinaries()) {
  const binVersion = bin.skip ? bin.path : envoyVersion(bin.path);
  for (const shape of SHAPES) {
    describe(`a -bin key header through keyway's listener over ADS, Envoy ${bin.label} (${binVersion}), routeShape ${shape}`, { skip: bin.skip, timeout: 90_000 }, () => {
      let nodes: CacheNodes;
      let keyway: KeywayProcess;
      let envoy: EnvoyProcess;
      let dir: string;
      let listenerPort = 0;
      let primaryOf: (shard: number) => string;
      const diag = (): string => `\n--- envoy log ---\n${envoy?.logTail(30)}\n--- keyway log ---\n${keyway?.logTail(20)}`;

      before(async () => {
        // HTTP/2 nodes, as gRPC servers are: Node's HTTP/1.1 server answers 431 past 16 KiB of
        // headers, and Envoy passes the key header on, so the long keys would not reach a node.
        nodes = await startCacheNodes(NODE_IDS, { protocol: 'http2' });
        dir = mkdtempSync(path.join(tmpdir(), 'keyway-binkey-lua-e2e-'));
        const topologyPath = path.join(dir, 'topology.yaml');
        listenerPort = await freePort();
        const lines = [
          `shards: ${SHARDS}`,
          'replicas: 2',
          `service: ${SERVICE}`,
          `envoy: {listenerPort: ${listenerPort}, routeShape: ${shape}, upstreamProtocol: http2}`,
          `routing: {keyHeader: ${KEY_HEADER}}`,
          // The stand-in nodes run no ownership agent; nothing moves here anyway.
          'handoff: {enabled: false}',
          'endpoints:',
          ...NODE_IDS.map((id, i) => `  - {id: ${id}, address: 127.0.0.1, port: ${nodes.byId(id).port}, weight: ${10 + i}}`),
        ];
        writeFileSync(topologyPath, `${lines.join('\n')}\n`);
        keyway = await startKeyway({ configPath: topologyPath, logLevel: 'warn', readyTimeoutMs: 45_000 });
        const map = JSON.parse(await (await fetch(`${keyway.httpUrl}/v1/shardmap`)).text()) as ShardMapBody;
        assert.equal(map.shardCount, SHARDS);
        primaryOf = (shard) => map.shards[shard]!.owners[0]!;
        envoy = await startEnvoy({ binary: bin.path, bootstrap: adsBootstrap({ xdsPort: keyway.xdsPort, nodeId: `envoy-binkey-${bin.label}-${shape}` }) });
        // The shape shows in Envoy's clusters: one with every node (subset), or one per node (table).
        const served = async () =>
          (await envoy.clusters()).filter((h) => (shape === 'subset' ? h.cluster === SERVICE : h.cluster.startsWith(`${SERVICE}/node/`) && h.priority === 0));
        await eventually(`every node healthy in Envoy (${shape})`, served, {
          accept: (hosts) => new Set(hosts.map((h) => h.port)).size === NODE_IDS.length && hosts.every((h) => h.healthy),
          timeoutMs: 20_000,
        }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
        await eventually('shard 0 on its primary', () => h2Request(listenerPort, { 'x-cache-shard': '0' }), {
          accept: (a) => a.status === 200 && a.servedBy === primaryOf(0),
          timeoutMs: 15_000,
        }).catch((err: Error) => assert.fail(`${err.message}${diag()}`));
      });

      after(() => stopStack({ envoy, keyway, nodes, dir }));

      test(`(c) ${LUA_KEYS.length} binary keys, padded (grpc-js) and not (grpc-go), up to 36 KiB, reach the primary of the shard of their bytes`, async () => {
        const client = new H2Client(listenerPort);
        try {
          const shardsHit = new Set<number>();
          for (const key of LUA_KEYS) {
            const shard = keyBytesToShard(key, SHARDS);
            shardsHit.add(shard);
            const shown = key.length > 64 ? `${key.subarray(0, 8).toString('hex')}... (${key.length} bytes)` : key.toString('hex');
            for (const [clientName, wire] of [
              ['grpc-js', grpcJsWire(key)],
              ['grpc-go', grpcGoWire(key)],
            ] as const) {
              const a = await client.request({ [KEY_HEADER]: wire });
              assert.deepEqual(
                { status: a.status, servedBy: a.servedBy, shardSeen: a.shardSeen },
                { status: 200, servedBy: primaryOf(shard), shardSeen: String(shard) },
                `key ${shown} as ${clientName} sends it (${wire.length} characters): shard ${shard}; ${a.body.slice(0, 200)}${diag()}`,
              );
            }
          }
          // The keys spread: an answer that ignored the key would not pass for all of them.
          assert.ok(shardsHit.size > 50, `${shardsHit.size} shards`);
        } finally {
          client.close();
        }
      });

      test('(d) a binary key header that is not base64 gets 400 naming it, and no node sees the request', async () => {
        const client = new H2Client(listenerPort);
        try {
          const servedBefore = nodes.nodes.map((n) => n.requests());
          for (const bad of LUA_BAD_VALUES) {
            const a = await client.request({ [KEY_HEADER]: bad });
            const shown = bad.length > 40 ? `${bad.slice(0, 20)}... (${bad.length} characters)` : JSON.stringify(bad);
            assert.deepEqual([a.status, a.servedBy, a.body], [400, undefined, BAD_BINARY], `value ${shown}`);
          }
          assert.deepEqual(nodes.nodes.map((n) => n.requests()), servedBefore, 'requests the nodes served');
        } finally {
          client.close();
        }
      });
    });
  }
}
