/**
 * `GET /openapi.json`: valid OpenAPI 3.1, describes every route fastify serves and no other, and
 * what the routes answer matches the documented schemas (checked on live answers).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../../src/admin/index.js';
import { ROUTE_DOCS, UNDOCUMENTED, type OpenApiDocument } from '../../../src/admin/openapi/index.js';
import { MAX_REST_PARAM_LENGTH } from '../../../src/admin/request-limits.js';
import { loadConfigFile } from '../../../src/config/index.js';
import { ServingState } from '../../../src/app/serving-state.js';
import type { SourceStatus } from '../../../src/core/serving.js';
import type { SourceProblem } from '../../../src/sources/kubernetes/problem.js';
import { computeShardMap, diffShardMaps } from '../../../src/sharding/index.js';
import { connectProxy, proxyRegistry } from '../../cli/commands/proxy-fixture.js';
import { topologyText } from '../../serve/support.js';
import { eventually } from '../../support/eventually.js';
import { bodyValidator, openApiProblems, routesFromTree } from './openapi-shape.js';
import { startKeywayInProcess } from '../../support/keyway-in-process.js';
import { CLI } from '../../cli/support.js';
import { OwnershipAgent } from '../../../src/agent/index.js';

/** A serving state holding the example topology's map (and, with `moved`, one change that moved shards). */
async function exampleState(moved = false): Promise<ServingState> {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const state = new ServingState();
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date() }]);
  const base = { topology: cfg.topology, xdsTiming: cfg.xdsTiming };
  const full = computeShardMap(cfg.topology.endpoints, cfg.topology.policy);
  if (!moved) {
    state.publish({ ...base, map: full });
    return state;
  }
  const fewer = computeShardMap(cfg.topology.endpoints.filter((e) => e.id !== 'gpu-b4'), cfg.topology.policy);
  state.publish({ ...base, map: fewer });
  state.publish({ ...base, map: full, diff: diffShardMaps(fewer, full) });
  return state;
}

const operations = (doc: OpenApiDocument): [string, Record<string, unknown>][] =>
  Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op] as [string, Record<string, unknown>]));

describe('the document of the admin app', () => {
  let app: FastifyInstance;
  let doc: OpenApiDocument;
  before(async () => {
    app = await buildAdminApp(await exampleState(true));
    await app.ready();
    const res = await app.inject('/openapi.json');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    doc = res.json();
  });
  after(() => app?.close());

  test('is valid OpenAPI 3.1: structure, unique operation ids, resolvable $refs, compilable schemas', () => {
    assert.deepEqual(openApiProblems(doc), []);
    const check = bodyValidator(doc);
    for (const name of Object.keys(doc.components.schemas)) {
      // Compiling each component under Ajv's strict 2020-12 mode rejects unknown keywords and bad shapes.
      assert.notEqual(check({ $ref: `#/components/schemas/${name}` }, Symbol('not json')), undefined, name);
    }
  });

  test('describes exactly the routes fastify serves, each from the catalog', () => {
    const served = routesFromTree(app.printRoutes({ commonPrefix: false }));
    const described = operations(doc).map(([key]) => key).sort();
    assert.deepEqual(described, served);
    for (const [key, op] of operations(doc)) {
      assert.equal(op[UNDOCUMENTED], undefined, `${key} has no entry in src/admin/openapi/catalog.ts`);
      assert.equal(op.summary, ROUTE_DOCS[key]!.summary);
    }
    // The core routes are all there (a broken route recorder would describe nothing and pass the above).
    for (const key of ['GET /v1/shardmap', 'GET /v1/shards/{shard}', 'GET /v1/lookup', 'GET /v1/changes', 'GET /healthz', 'GET /readyz', 'GET /openapi.json', 'GET /']) {
      assert.ok(described.includes(key), key);
    }
  });

  test('parameters come from the route schemas: shard is a digit-string path parameter, key a required query', () => {
    const shard = (doc.paths['/v1/shards/{shard}']!.get!.parameters as Record<string, unknown>[])[0]!;
    assert.deepEqual([shard.name, shard.in, shard.required, shard.schema], ['shard', 'path', true, { type: 'string', pattern: '^[0-9]+$' }]);
    const key = (doc.paths['/v1/lookup']!.get!.parameters as Record<string, unknown>[])[0]!;
    assert.deepEqual([key.name, key.in, key.required], ['key', 'query', true]);
    const moves = (doc.paths['/v1/changes']!.get!.parameters as Record<string, unknown>[])[0]!;
    assert.deepEqual([moves.name, moves.in, moves.required, moves.schema], ['moves', 'query', false, { type: 'string', pattern: '^[0-9]+$' }]);
  });

  test('live answers match the documented schemas, errors included', async () => {
    const check = bodyValidator(doc);
    const cases: [string, string, number][] = [
      ['GET /v1/shardmap', '/v1/shardmap', 200],
      ['GET /v1/shards/{shard}', '/v1/shards/5', 200],
      ['GET /v1/shards/{shard}', '/v1/shards/x', 400],
      ['GET /v1/shards/{shard}', '/v1/shards/4096', 404],
      ['GET /v1/shards/{shard}', `/v1/shards/${'1'.repeat(MAX_REST_PARAM_LENGTH + 1)}`, 414],
      ['GET /v1/lookup', `/v1/lookup?key=${encodeURIComponent('user:{42}:emb')}`, 200],
      ['GET /v1/lookup', '/v1/lookup', 400],
      ['GET /v1/changes', '/v1/changes', 200],
      ['GET /v1/changes', '/v1/changes?moves=0', 200],
      ['GET /v1/changes', '/v1/changes?moves=3', 200],
      ['GET /v1/changes', '/v1/changes?moves=1e3', 400],
      ['GET /healthz', '/healthz', 200],
      ['GET /readyz', '/readyz', 200],
      ['GET /openapi.json', '/openapi.json', 200],
    ];
    for (const [key, url, status] of cases) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, status, `${url}: ${res.body.slice(0, 200)}`);
      const [method, path] = key.split(' ') as [string, string];
      const response = (doc.paths[path]![method.toLowerCase()]!.responses as Record<string, { content: Record<string, { schema: unknown }> }>)[String(status)];
      assert.ok(response, `${key} documents no ${status}`);
      assert.equal(check(response.content['application/json']!.schema, res.json()), undefined, `${url} answer does not match the document`);
    }
    assert.ok((await app.inject('/v1/changes')).json().changes.length > 0, 'a change was validated');
    assert.ok((await app.inject('/v1/changes?moves=0')).json().changes[0].primaries.length > 0, 'primary hand-overs were validated');
    // The schema bites: a fourth hand-over, or one without its count, is refused.
    const bounded = (await app.inject('/v1/changes?moves=0')).json();
    const changes = (doc.paths['/v1/changes']!.get!.responses as Record<string, { content: Record<string, { schema: unknown }> }>)['200']!.content['application/json']!.schema;
    const primaries = bounded.changes[0].primaries;
    assert.notEqual(check(changes, { changes: [{ ...bounded.changes[0], primaries: [...primaries, ...primaries, ...primaries, ...primaries].slice(0, 4) }] }), undefined);
    assert.notEqual(check(changes, { changes: [{ ...bounded.changes[0], primaries: [{ from: 'a', to: 'b' }] }] }), undefined);
    // The documented error for a missing shard map.
    const empty = await buildAdminApp(new ServingState());
    try {
      for (const [url, key] of [
        ['/v1/shardmap', 'GET /v1/shardmap'],
        ['/readyz', 'GET /readyz'],
      ] as const) {
        const res = await empty.inject(url);
        assert.equal(res.statusCode, 503);
        const path = key.slice(4);
        const schema = (doc.paths[path]!.get!.responses as Record<string, { content: Record<string, { schema: unknown }> }>)['503']!.content['application/json']!.schema;
        assert.equal(check(schema, res.json()), undefined, url);
      }
    } finally {
      await empty.close();
    }
  });

  test('the catalog examples are valid, and those for shard 5 and the lookup are the example topology\'s real answers', async () => {
    const check = bodyValidator(doc);
    for (const [key, route] of Object.entries(ROUTE_DOCS)) {
      for (const [status, r] of Object.entries(route.responses)) {
        const c = r.content?.['application/json'];
        if (c?.example !== undefined) assert.equal(check(c.schema, c.example), undefined, `${key} ${status} example`);
      }
    }
    const shard = ROUTE_DOCS['GET /v1/shards/{shard}']!.responses['200']!.content!['application/json']!.example;
    assert.deepEqual((await app.inject('/v1/shards/5')).json(), shard);
    const lookup = ROUTE_DOCS['GET /v1/lookup']!.responses['200']!.content!['application/json']!.example;
    assert.deepEqual((await app.inject(`/v1/lookup?key=${encodeURIComponent('user:{42}:emb')}`)).json(), lookup);
  });
});

test('a stale Kubernetes source (staleSince, problems) and a shard without owners answer what the document says', async () => {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const problems: SourceProblem[] = [
    { reason: 'bad-weight-annotation', kind: 'Pod', namespace: 'cache', name: 'gpu-a1-0', field: 'metadata.annotations["keyway.io/weight"]', value: 'heavy', message: 'not a number >= 0' },
    { reason: 'node-not-found', kind: 'Node', name: 'n7', message: 'node n7 of pod gpu-a2-0 is not known' },
    { reason: 'no-port', kind: 'Service', namespace: 'cache', name: 'cache-node', field: 'ports', message: 'kubernetes.portName is cache, and 2 of the 2 slices of Service cache-node have no usable port' },
  ];
  const kubernetes: SourceStatus = { kind: 'kubernetes', healthy: false, stale: true, lastError: 'pods: connect ECONNREFUSED', lastUpdate: new Date(0), staleSince: new Date(1000), problems };
  const full = new ServingState();
  full.setSourceStatus(() => [kubernetes]);
  full.publish({ topology: cfg.topology, map: computeShardMap(cfg.topology.endpoints, cfg.topology.policy) });
  // No endpoint ready: every shard without owners, so none of them reads it either.
  const down = cfg.topology.endpoints.map((e) => ({ ...e, ready: false }));
  const ownerless = new ServingState();
  ownerless.setSourceStatus(() => [kubernetes]);
  ownerless.publish({ topology: { ...cfg.topology, endpoints: down }, map: computeShardMap(down, cfg.topology.policy) });
  const apps = [await buildAdminApp(full), await buildAdminApp(ownerless)];
  try {
    const doc = (await apps[0]!.inject('/openapi.json')).json() as OpenApiDocument;
    const check = bodyValidator(doc);
    const schemaOf = (path: string, status: number): unknown =>
      (doc.paths[path]!.get!.responses as Record<string, { content: Record<string, { schema: unknown }> }>)[String(status)]!.content['application/json']!.schema;
    for (const [app, url, path] of [
      [apps[0]!, '/readyz', '/readyz'],
      [apps[0]!, '/v1/shardmap', '/v1/shardmap'],
      [apps[1]!, '/readyz', '/readyz'],
      [apps[1]!, '/v1/shardmap', '/v1/shardmap'],
      [apps[1]!, '/v1/shards/3', '/v1/shards/{shard}'],
      [apps[1]!, '/v1/lookup?key=k', '/v1/lookup'],
    ] as const) {
      const res = await app.inject(url);
      assert.equal(check(schemaOf(path, res.statusCode), res.json()), undefined, `${url} (${res.statusCode}): ${res.body.slice(0, 300)}`);
      const source = res.json().sources?.[0];
      if (source) assert.deepEqual([source.staleSince, source.problems?.length], [new Date(1000).toISOString(), problems.length], url);
    }
    const shard = (await apps[1]!.inject('/v1/shards/3')).json();
    assert.deepEqual([shard.owners, shard.readers], [[], 0], 'readers counts owners: none');
    assert.equal((await apps[0]!.inject('/v1/shards/3')).json().readers, 1);
  } finally {
    for (const app of apps) await app.close();
  }
});

test('rows of the xDS stage\'s proxy registry match the documented /v1/proxies schema', async () => {
  const app = await buildAdminApp(new ServingState());
  try {
    const doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
    const body = { proxies: proxyRegistry().proxies() };
    assert.equal(body.proxies.length, 2);
    assert.equal(bodyValidator(doc)({ $ref: '#/components/schemas/Proxies' }, body), undefined);
    // The schema bites: a status outside the four documented ones is rejected.
    const bad = JSON.parse(JSON.stringify(body));
    bad.proxies[0].types.route.status = 'ACKED';
    assert.notEqual(bodyValidator(doc)({ $ref: '#/components/schemas/Proxies' }, bad), undefined);
  } finally {
    await app.close();
  }
});

test('with real proxies connected, /v1/proxies and /debug/config_dump answer what the document says', async (t) => {
  const { server, clients } = await startKeywayInProcess(t, topologyText({ shards: 32 }));
  clients.push(await connectProxy(server.listening.xdsPort!, 'envoy-1'));
  clients.push(await connectProxy(server.listening.xdsPort!, 'envoy-2', { nackRoutes: 'rejected on purpose' }));
  // A cache node's ownership agent (docs/ownership.md): its row lists the assignment kind only.
  const agent = new OwnershipAgent({ nodeId: 'e0', servers: [`127.0.0.1:${server.listening.xdsPort!}`] });
  agent.start();
  t.after(() => agent.close());
  const doc = (await server.admin.inject('/openapi.json')).json() as OpenApiDocument;
  const check = bodyValidator(doc);
  const schemaOf = (path: string, status: string): unknown =>
    (doc.paths[path]!.get!.responses as Record<string, { content: Record<string, { schema: unknown }> }>)[status]!.content['application/json']!.schema;
  const proxies = await eventually('both proxies and the agent answered every type', async () => {
    const body = (await server.admin.inject('/v1/proxies')).json() as { proxies: { id: string; types: Record<string, { status: string }> }[] };
    return body.proxies.length === 3 && body.proxies.every((p) => Object.values(p.types).every((x) => x.status !== 'STALE' && x.status !== 'NOT_SENT')) ? body : undefined;
  });
  assert.equal(check(schemaOf('/v1/proxies', '200'), proxies), undefined, JSON.stringify(proxies).slice(0, 300));
  const row = (id: string) => proxies.proxies.find((p) => p.id === id)!;
  assert.equal(row('envoy-2').types.route!.status, 'NACKED');
  assert.deepEqual(Object.keys(row('e0').types), ['assignment']);
  for (const id of ['e0', 'envoy-1', 'envoy-2']) {
    const dump = await server.admin.inject(`/debug/config_dump?proxy=${id}`);
    assert.equal(dump.statusCode, 200);
    assert.equal(check(schemaOf('/debug/config_dump', '200'), dump.json()), undefined, dump.body.slice(0, 300));
    if (id !== 'e0') assert.equal(dump.json().configs.length, 4);
    else assert.ok(dump.json().configs.length > 0, 'the agent dump lists its assignments');
  }
  const missing = await server.admin.inject('/debug/config_dump?proxy=nobody');
  assert.equal(missing.statusCode, 404);
  assert.equal(check(schemaOf('/debug/config_dump', '404'), missing.json()), undefined);
});

test('the shape check finds an undeclared path parameter, a dangling $ref and a response without description', async () => {
  const app = await buildAdminApp(new ServingState());
  try {
    const doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
    const op = doc.paths['/v1/shards/{shard}']!.get!;
    delete op.parameters;
    (op.responses as Record<string, unknown>)['200'] = { content: { 'application/json': { schema: { $ref: '#/components/schemas/Nope' } } } };
    const problems = openApiProblems(doc);
    assert.ok(problems.some((p) => p.includes('path parameter {shard} must be declared')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('$ref #/components/schemas/Nope does not resolve')), problems.join('\n'));
    assert.ok(problems.some((p) => p.includes('200: description is required')), problems.join('\n'));
  } finally {
    await app.close();
  }
});

test('routes added by later stages are recorded; one without a catalog entry is flagged', async () => {
  const app = await buildAdminApp(await exampleState(), {
    routes: [
      async (a: FastifyInstance) => {
        a.get('/v1/proxies', async () => ({ proxies: [] }));
        a.get<{ Params: { id: string } }>(
          '/v1/widgets/:id',
          { schema: { params: { type: 'object', properties: { id: { type: 'string' } } }, querystring: { type: 'object', properties: { verbose: { type: 'boolean' } }, required: ['verbose'] } } },
          async () => ({}),
        );
      },
    ],
  });
  try {
    const doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
    assert.equal(doc.paths['/v1/proxies']!.get!.summary, ROUTE_DOCS['GET /v1/proxies']!.summary);
    const widget = doc.paths['/v1/widgets/{id}']!.get!;
    assert.equal(widget[UNDOCUMENTED], true);
    assert.deepEqual(
      (widget.parameters as Record<string, unknown>[]).map((p) => [p.name, p.in, p.required]),
      [
        ['id', 'path', true],
        ['verbose', 'query', true],
      ],
    );
    assert.deepEqual(openApiProblems(doc), []);
  } finally {
    await app.close();
  }
});

test('docs/api.md has a section for every route of the catalog', async () => {
  const md = await readFile('docs/api.md', 'utf8');
  for (const key of Object.keys(ROUTE_DOCS)) {
    assert.ok(md.includes(`### \`${key}\``), `docs/api.md lacks a "### \`${key}\`" section`);
  }
});

test('`keyway serve` as run by users: every route it serves is documented and every documented route is served', async (t) => {
  const child = spawn(
    process.execPath,
    [...CLI, 'serve', '--config', 'examples/topology.yaml', '--http-port', '0', '--xds-port', '0', '--host', '127.0.0.1', '--log-level', 'info'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 30 s; stderr: ${stderr}`)), 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; httpPort?: number };
      if (rec.msg === 'listening') {
        clearTimeout(timer);
        resolve(rec.httpPort!);
      }
    });
    child.on('exit', (code) => reject(new Error(`keyway exited early with ${code}; stderr: ${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const doc = (await (await fetch(`${base}/openapi.json`)).json()) as OpenApiDocument;
  assert.deepEqual(openApiProblems(doc), []);
  const undocumented = operations(doc).filter(([, op]) => op[UNDOCUMENTED]).map(([key]) => key);
  assert.deepEqual(undocumented, [], 'routes served by keyway serve without a catalog entry');
  // The stages `keyway serve` runs add their routes, and they are described.
  for (const key of ['GET /v1/proxies', 'GET /debug/config_dump', 'GET /metrics']) {
    assert.ok(operations(doc).some(([k]) => k === key), `${key} is not in the document of keyway serve`);
  }
  // Every documented operation is answered by its route (not the not-found handler), with a body
  // that matches what the document says for that status.
  const check = bodyValidator(doc);
  for (const [key, op] of operations(doc)) {
    const [, path] = key.split(' ') as [string, string];
    const params = (op.parameters as { name: string; in: string; example?: unknown }[] | undefined) ?? [];
    let url = path;
    const query = new URLSearchParams();
    for (const p of params) {
      const value = String(p.example ?? 'x');
      if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(value));
      else query.set(p.name, value);
    }
    const res = await fetch(`${base}${url}${query.size > 0 ? `?${query.toString()}` : ''}`);
    const body = await res.text();
    assert.ok(!body.includes('"no route '), `${key}: answered by the not-found handler: ${body.slice(0, 200)}`);
    const documented = (op.responses as Record<string, { content?: Record<string, { schema: unknown }> }>)[String(res.status)];
    assert.ok(documented, `${key} answered ${res.status}, which the document does not list`);
    const type = (res.headers.get('content-type') ?? '').split(';')[0]!;
    assert.ok(documented.content?.[type], `${key} answered ${type}, the document says ${Object.keys(documented.content ?? {}).join(', ')}`);
    if (type === 'application/json') assert.equal(check(documented.content[type].schema, JSON.parse(body)), undefined, `${key}: ${body.slice(0, 300)}`);
  }
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
});
