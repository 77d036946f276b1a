// The import rules (docs/architecture.md "Rules") hold over src/, and the checker catches each kind
// of violation: an upstream import, a framework in a pure core, fastify outside admin and app,
// generated protobuf reached around the facade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkSourceTree, importViolations } from '../../scripts/import-rules.js';

test('src/ follows the import rules (what the lint step checks)', () => {
  const { files, violations, unplaced } = checkSourceTree('src');
  assert.ok(files > 100, `read ${files} files under src/`);
  assert.deepEqual(violations, []);
  assert.deepEqual(unplaced, []);
});

test('a stage that imports a later stage is caught, with file and line', () => {
  const v = importViolations([
    { path: 'sharding/compute.ts', text: "import type { X } from '../core/endpoint.js';\nimport { y } from '../xds/translator/index.js';\n" },
  ]);
  assert.equal(v.length, 1);
  assert.equal(v[0]!.file, 'sharding/compute.ts');
  assert.equal(v[0]!.line, 2);
  assert.match(v[0]!.rule, /sharding\/ \(rank 3\) may not import xds\/translator\/ \(rank 6\)/);
});

test('the xDS stage importing the admin API, and admin importing the runner, are caught', () => {
  const v = importViolations([
    { path: 'xds/server/xds-server.ts', text: "import { errorBody } from '../../admin/error-body.js';\n" },
    { path: 'admin/app.ts', text: "import type { ServingState } from '../app/serving-state.js';\n" },
    { path: 'telemetry/metrics.ts', text: "export { x } from '../admin/app.js';\n" },
  ]);
  assert.deepEqual(v.map((x) => x.file), ['xds/server/xds-server.ts', 'admin/app.ts', 'telemetry/metrics.ts']);
});

test('a pure core importing a framework at run time is caught; a type-only logger import is not', () => {
  const v = importViolations([
    { path: 'sharding/compute.ts', text: "import Fastify from 'fastify';\nimport { readFileSync } from 'node:fs';\n" },
    { path: 'core/stage.ts', text: "import type { Logger } from 'pino';\n" },
    { path: 'xds/translator/index.ts', text: "const m = await import('@grpc/grpc-js');\n" },
  ]);
  assert.deepEqual(
    v.map((x) => `${x.file}:${x.line}`),
    ['sharding/compute.ts:1', 'sharding/compute.ts:1', 'sharding/compute.ts:2', 'xds/translator/index.ts:1'],
  );
});

test('fastify outside admin and app, and generated protobuf around the facade, are caught', () => {
  const v = importViolations([
    { path: 'xds/server/session.ts', text: "import type { FastifyInstance } from 'fastify';\nimport { A } from '../../../proto/gen/envoy/a_pb.js';\n" },
    { path: 'xds/proto.ts', text: "export { A } from '../../proto/gen/envoy/a_pb.js';\n" },
    { path: 'admin/app.ts', text: "import Fastify from 'fastify';\n" },
  ]);
  assert.deepEqual(
    v.map((x) => [x.file, x.line, x.rule.slice(0, 24)]),
    [
      ['xds/server/session.ts', 1, 'only admin/ and app/ may'],
      ['xds/server/session.ts', 2, 'generated protobuf is re'],
    ],
  );
});

test('the client library may read the REST bodies from admin for types only, and imports no later module', () => {
  const v = importViolations([
    { path: 'client/shard-map-client.ts', text: "import type { ShardMapBody } from '../admin/api-types.js';\nimport { keyToShard } from '../sharding/key-to-shard.js';\n" },
    { path: 'client/bad.ts', text: "import { errorBody } from '../admin/error-body.js';\nimport { startServer } from '../app/index.js';\n" },
    { path: 'admin/app.ts', text: "import { shardFor } from '../client/index.js';\n" },
  ]);
  assert.deepEqual(
    v.map((x) => `${x.file}:${x.line}: ${x.rule}`),
    [
      'client/bad.ts:1: client/ may import admin/ for types only (import type)',
      'client/bad.ts:2: client/ (rank 10) may not import app/ (rank 10): imports point down the pipeline',
      'admin/app.ts:1: admin/ (rank 9) may not import client/ (rank 10): imports point down the pipeline',
    ],
  );
});
