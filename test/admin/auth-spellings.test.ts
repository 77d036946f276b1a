/**
 * The admin token (src/admin/auth.ts) against every spelling of every guarded route's path, sent
 * over a real socket as written: trailing and doubled slashes, each character in the other case or
 * percent-encoded, encoded slashes, dot segments, absolute-form targets, fragments. Without the
 * token, each answer is 401 or, for a path the router does not read under /v1 or /debug, what the
 * same request gets with the token when that is an error too: no spelling reaches a route, and
 * none tells the routes under /v1 apart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { buildAdminApp } from '../../src/admin/index.js';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { loadConfigFile } from '../../src/config/index.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { proxyRegistry } from '../cli/commands/proxy-fixture.js';
import { rawRequest } from './rest-fuzz-client.js';
import { routedPath } from './rest-fuzz-oracle.js';

const TOKEN = 'spelling-token';
let app: FastifyInstance;
let port: number;
let doc: OpenApiDocument;

before(async () => {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const state = new ServingState();
  state.setSourceStatus(() => [{ kind: 'file', healthy: true, stale: false, lastUpdate: new Date(0) }]);
  state.publish({ topology: cfg.topology, map: computeShardMap(cfg.topology.endpoints, cfg.topology.policy) });
  const registry = proxyRegistry();
  app = await buildAdminApp(state, {
    token: TOKEN,
    readers: [{ proxies: { proxies: (o) => registry.proxies(o), proxy: (id, o) => registry.proxy(id, o), nodeIds: (f) => registry.nodeIds(f), configDump: (id) => (registry.proxy(id) ? { configs: [] } : undefined) } }],
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = (app.server.address() as AddressInfo).port;
  doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
});
after(() => app?.close());

/** Every spelling of `path` (no query) this test tries. */
function spellings(path: string): string[] {
  const out = new Set<string>([path, `${path}/`, `${path}//`, `/${path}`, `${path}/.`, `${path}/..`, `${path}%2F`, `${path}#x`, `${path};x`, `${path}%20`, `${path}%00`]);
  for (let i = 0; i < path.length; i++) {
    const c = path[i]!;
    const hex = c.charCodeAt(0).toString(16).padStart(2, '0');
    for (const enc of [`%${hex}`, `%${hex.toUpperCase()}`]) out.add(path.slice(0, i) + enc + path.slice(i + 1));
    if (c !== c.toUpperCase()) out.add(path.slice(0, i) + c.toUpperCase() + path.slice(i + 1));
    if (c === '/') {
      for (const s of ['//', '/./', '/x/../', '%2F', '%2f', '\\', '/%2e/', '/%2E%2E/v1/']) out.add(path.slice(0, i) + s + path.slice(i + 1));
    }
  }
  out.add(path.toUpperCase());
  for (const prefix of ['http://h', 'HTTP://h', 'https://h:1', 'http://u:p@h', 'http://h/', 'http://h/x/..']) out.add(prefix + path);
  // Absolute-form targets the router refuses or does not match.
  for (const suffix of ['/', '#x', '%ZZ', '/nothing', `/${'9'.repeat(120)}`]) out.add(`http://h${path}${suffix}`);
  for (const target of [...out].filter((t) => t.startsWith('/'))) out.add(`*${target.slice(1)}`);
  return [...out];
}

function wire(target: string, query: string, authorization?: string): string {
  return `GET ${target}${query} HTTP/1.1\r\nHost: 127.0.0.1\r\n${authorization ? `Authorization: ${authorization}\r\n` : ''}Connection: close\r\n\r\n`;
}

test('no spelling of a /v1 or /debug path answers without the admin token', async () => {
  const guarded = Object.keys(doc.paths).filter((p) => /^\/(v1|debug)\//.test(p));
  assert.ok(guarded.length >= 7, guarded.join(', '));
  const cases = guarded.flatMap((template) => {
    const params = (doc.paths[template]!.get!.parameters as { name: string; in: string; example?: string }[] | undefined) ?? [];
    const path = template.replace(/\{[^}]+\}/g, '5');
    const query = params.filter((p) => p.in === 'query').map((p) => `${p.name}=${encodeURIComponent(p.example ?? 'x')}`).join('&');
    return spellings(path).map((target) => ({ target, query: query ? `?${query}` : '' }));
  });
  const problems: string[] = [];
  let reached = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cases.length) {
      const { target, query } = cases[next++]!;
      const withToken = await rawRequest(port, wire(target, query, `Bearer ${TOKEN}`), 5_000);
      if (withToken.status === 200) reached++;
      for (const authorization of [undefined, 'Bearer wrong']) {
        const without = await rawRequest(port, wire(target, query, authorization), 5_000);
        if (without.error || without.status >= 500) problems.push(`${target}: ${without.error ?? without.status}`);
        else if (without.status < 400) problems.push(`${target}: ${without.status} without the token (${without.body.slice(0, 80)})`);
        else if (without.status !== 401 && without.status !== withToken.status) {
          problems.push(`${target}: ${without.status} without the token but ${withToken.status} with it: ${without.body.slice(0, 120)}`);
        } else if (without.status !== 401 && /^\/(v1|debug)(\/|$)/.test(routedPath(target, []).decoded ?? '')) {
          // docs/api.md: under /v1 and /debug the token is checked before the router's 404 and 414.
          problems.push(`${target}: ${without.status}, not 401, though the router reads ${routedPath(target, []).decoded}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  assert.deepEqual(problems, [], problems.join('\n'));
  // The spellings that route (escapes of unreserved characters, absolute-form) did reach the routes.
  assert.ok(reached > guarded.length * 5, `only ${reached} of ${cases.length} spellings reached a route with the token`);
});
