/**
 * Fuzzes the admin REST API over real sockets (docs/api.md): random and mutated requests to every
 * route of its OpenAPI document, answered by apps over a real shard map (with and without the admin
 * token) and over none (503). Each answer must meet rest-fuzz-oracle.ts: no 5xx, no hang, the
 * documented status, body and error code, and no /v1 or /debug answer without the token.
 *
 * Seeded and small by default (a few seconds). A longer campaign:
 * `KEYWAY_FUZZ_ITERATIONS=20000 KEYWAY_FUZZ_SEED=7 node --import tsx --test test/admin/rest-fuzz.test.ts`;
 * a failure names its seed and index, and `KEYWAY_FUZZ_SEED=<seed> KEYWAY_FUZZ_ONLY=<index>` replays it.
 */
import { after, before, describe, test } from 'node:test';
import { fuzzBudget } from '../support/seeded-random.js';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { loadConfigFile } from '../../src/config/index.js';
import type { ProxyStatusReader } from '../../src/core/proxy.js';
import { computeShardMap, diffShardMaps } from '../../src/sharding/index.js';
import { proxyRegistry } from '../cli/commands/proxy-fixture.js';
import { bodyValidator } from './openapi/openapi-shape.js';
import { rawRequest } from './rest-fuzz-client.js';
import { fuzzRequest, type FuzzTarget } from './rest-fuzz-gen.js';
import { documentedCodes, routedPath, violations, type OracleContext } from './rest-fuzz-oracle.js';

const TOKEN = 'fuzz-token';
/** Longest an answer may take; the apps' request timeout (408) is shorter. */
const BOUND_MS = 5_000;
const REQUEST_TIMEOUT_MS = 1_500;

function budget(): { iterations: number; seed: number; only?: number } {
  const only = process.env.KEYWAY_FUZZ_ONLY === undefined ? undefined : Number(process.env.KEYWAY_FUZZ_ONLY);
  return { ...fuzzBudget(800), ...(only !== undefined ? { only } : {}) };
}

/** The example topology's map after one change that moved shards, so /v1/changes has content. */
async function exampleState(): Promise<ServingState> {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const state = new ServingState();
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0) }]);
  const base = { topology: cfg.topology, xdsTiming: cfg.xdsTiming };
  const full = computeShardMap(cfg.topology.endpoints, cfg.topology.policy);
  const fewer = computeShardMap(cfg.topology.endpoints.filter((e) => e.id !== 'gpu-b4'), cfg.topology.policy);
  state.publish({ ...base, map: fewer });
  state.publish({ ...base, map: full, diff: diffShardMaps(fewer, full) });
  return state;
}

/** The xDS stage's own proxy rows, with a config dump for each connected id. */
function proxies(): ProxyStatusReader {
  const registry = proxyRegistry({ agent: { nack: 'bad assignment' } });
  return {
    proxies: (o) => registry.proxies(o),
    proxy: (id, o) => registry.proxy(id, o),
    nodeIds: (flavor) => registry.nodeIds(flavor),
    configDump: (id) => (registry.proxy(id) ? { configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump' }] } : undefined),
  };
}

interface Served {
  readonly app: FastifyInstance;
  readonly port: number;
  readonly tokenRequired: boolean;
}

async function serve(state: ServingState, token?: string): Promise<Served> {
  const app = await buildAdminApp(state, {
    readers: [{ proxies: proxies(), metrics: { contentType: 'text/plain; version=0.0.4; charset=utf-8', render: async () => 'keyway_up 1\n' } }],
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    ...(token !== undefined ? { token } : {}),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, port: (app.server.address() as AddressInfo).port, tokenRequired: token !== undefined };
}

describe('the admin REST API under fuzzing', () => {
  let servers: Served[];
  let doc: OpenApiDocument;
  let target: FuzzTarget;
  let ctx: Omit<OracleContext, 'tokenRequired'>;

  before(async () => {
    const state = await exampleState();
    // With the token, open, and before any map (503): the same requests meet each.
    servers = [await serve(state, TOKEN), await serve(state), await serve(new ServingState())];
    const main = servers[0]!.app;
    doc = (await main.inject('/openapi.json')).json() as OpenApiDocument;
    const etag = (await main.inject({ url: '/v1/shardmap', headers: { authorization: `Bearer ${TOKEN}` } })).headers.etag as string;
    const routes = Object.entries(doc.paths).map(([path, item]) => ({
      path,
      query: ((item.get?.parameters as { name: string; in: string }[] | undefined) ?? []).filter((p) => p.in === 'query').map((p) => p.name),
    }));
    target = { routes, token: TOKEN, etag, ids: ['gpu-a1', 'gpu-a2', 'gpu-b3', 'gpu-b4', 'envoy-1', 'grpc-7', 'gpu-x'] };
    ctx = { doc, check: bodyValidator(doc), codes: documentedCodes() };
  });
  after(async () => {
    for (const s of servers ?? []) await s.app.close();
  });

  test('every answer to random and mutated requests is documented, bounded and keeps the token', async () => {
    const { iterations, seed, only } = budget();
    const escaped: unknown[] = [];
    const onEscape = (err: unknown): void => void escaped.push(err);
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    const reached = new Set<string>();
    try {
      const indexes = only !== undefined ? [only] : Array.from({ length: iterations }, (_, i) => i);
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < indexes.length && failures.length < 20) {
          const index = indexes[next++]!;
          const req = fuzzRequest(seed, index, target);
          const server = servers[index % servers.length]!;
          const answer = await rawRequest(server.port, req.wire, BOUND_MS, req.method === 'HEAD');
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          const routed = routedPath(req.target, Object.keys(doc.paths)).path;
          if (answer.status === 200 && routed !== undefined) reached.add(routed);
          const bad = violations({ ...ctx, tokenRequired: server.tokenRequired }, req, answer);
          if (bad.length > 0) {
            failures.push(
              `seed ${seed} index ${index} (server ${index % servers.length}): ${bad.join('; ')}\n  request: ${JSON.stringify(req.wire.slice(0, 400))}\n  answer: ${answer.status} ${JSON.stringify(answer.body.slice(0, 300))}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
    } finally {
      process.off('uncaughtException', onEscape);
      process.off('unhandledRejection', onEscape);
    }
    assert.deepEqual(failures, [], failures.join('\n'));
    assert.deepEqual(escaped, [], 'errors escaped to the process');
    // The campaign reached the routes, not only the refusals.
    if (only === undefined) {
      for (const status of [200, 304, 400, 401, 404, 414, 431, 503]) assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} among ${JSON.stringify([...statuses])}`);
      assert.deepEqual(Object.keys(doc.paths).filter((p) => !reached.has(p)), [], 'routes no request reached with a 200');
    }
    // Every server still answers.
    for (const s of servers) assert.equal((await s.app.inject('/healthz')).statusCode, 200);
  });
});
