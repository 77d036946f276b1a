// Every query parameter of the REST API given twice is refused (400 BAD_ARGUMENT naming it, never
// one of the two values picked), and `/openapi.json` must say so: each route with query
// parameters documents that 400, and its description names the repetition. A client generated
// from the document otherwise cannot tell why its request was refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildAdminApp } from '../../src/admin/index.js';
import type { OpenApiDocument } from '../../src/admin/openapi/index.js';
import { ServingState } from '../../src/app/serving-state.js';
import { loadConfigFile } from '../../src/config/index.js';
import { computeShardMap } from '../../src/sharding/index.js';
import { proxyRegistry } from '../cli/commands/proxy-fixture.js';

/** Values the routes accept one at a time, so only the repetition can be refused. */
const VALID: Record<string, string> = { key: 'user:1', node: 'gpu-a1', moves: '0', names: '1', proxy: 'envoy-1', limit: '1', outOfSync: 'true' };

test('each query parameter given twice is 400 naming it, and the route documents that 400 as such', async () => {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const state = new ServingState();
  state.publish({ topology: cfg.topology, map: computeShardMap(cfg.topology.endpoints, cfg.topology.policy) });
  const registry = proxyRegistry();
  const app = await buildAdminApp(state, {
    readers: [{ proxies: { proxies: (o) => registry.proxies(o), proxy: (id, o) => registry.proxy(id, o), nodeIds: (f) => registry.nodeIds(f), configDump: (id) => (registry.proxy(id) ? { configs: [] } : undefined) } }],
  });
  try {
    const doc = (await app.inject('/openapi.json')).json() as OpenApiDocument;
    let checked = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      const op = (item as Record<string, { parameters?: { name: string; in: string }[]; responses: Record<string, { description: string }> }>).get;
      for (const { name } of (op?.parameters ?? []).filter((p) => p.in === 'query')) {
        if (name === 'continue') continue; // a token: no valid value without a first page
        const value = VALID[name];
        assert.ok(value !== undefined, `${path}: a valid value of ${name} for this test`);
        const res = await app.inject(`${path}?${name}=${encodeURIComponent(value)}&${name}=${encodeURIComponent(value)}`);
        assert.equal(res.statusCode, 400, `${path}: ${name} given twice`);
        assert.equal(res.json().error.parameter, name, `${path}: the error names ${name}`);
        const described = op!.responses['400']?.description ?? '';
        assert.match(described, /more than once|twice/, `${path}: the 400 of /openapi.json says a parameter given twice is refused: "${described}"`);
        checked++;
      }
    }
    assert.ok(checked >= 8, `query parameters checked: ${checked}`);
  } finally {
    await app.close();
  }
});
