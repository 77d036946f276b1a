// docs/security.md's limit tables are what operators size and override keyway by: every limit
// keyway serve reads from a KEYWAY_* variable must have its row, under that variable, with the
// default the code uses; so must the REST request limits keyway sets on Node and fastify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DEFAULT_XDS_STREAM_LIMITS, XDS_LIMIT_ENV, xdsStreamLimitsFromEnv } from '../../src/xds/server/stream-limits.js';
import { XDS_TLS_HANDSHAKE_TIMEOUT_ENV, XDS_TLS_HANDSHAKE_TIMEOUT_MS, xdsTlsHandshakeTimeoutMsFromEnv } from '../../src/xds/server/tls-credentials.js';
import { ADMIN_MAX_CONNECTIONS_PER_PEER, ADMIN_MAX_CONNECTIONS_PER_PEER_ENV, adminMaxConnectionsPerPeerFromEnv } from '../../src/admin/app.js';
import { METRICS_MAX_WAITING, METRICS_MAX_WAITING_ENV, metricsMaxWaitingFromEnv } from '../../src/admin/metrics-pacing.js';
import { GRPC_STAGE_TIMEOUT_ENV, grpcStageTimeoutFromEnv } from '../../src/app/grpc-stager.js';
import { KeywayError } from '../../src/core/errors.js';
import {
  MAX_REST_BODY_BYTES,
  MAX_REST_HEADER_BYTES,
  MAX_REST_PARAM_LENGTH,
  REST_KEEP_ALIVE_TIMEOUT_MS,
  REST_REQUEST_TIMEOUT_MS,
  REST_WRITE_STALL_ENV,
  REST_WRITE_STALL_MS,
  restWriteStallMsFromEnv,
} from '../../src/admin/request-limits.js';
import { MAX_ENDPOINTS, MAX_OWNER_SLOTS, MAX_SHARD_WORK, MAX_TOPOLOGY_FILE_BYTES } from '../../src/core/limits.js';

const DOC = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');

/** The cells of every table row of docs/security.md. */
const ROWS: string[][] = DOC.split('\n')
  .filter((l) => /^\|.*\|$/.test(l) && !/^\|[-| ]+\|$/.test(l))
  .map((l) => l.slice(1, -1).split('|').map((c) => c.trim()));

const UNITS: Record<string, number> = { '': 1, bytes: 1, characters: 1, KiB: 1024, MiB: 2 ** 20, Mi: 2 ** 20, ms: 1, s: 1000, min: 60_000 };

/**
 * The value a Default cell states first, in bytes, characters or ms: "1 MiB", "64 Mi (67 108 864)",
 * "10 000", "60 s (`KEYWAY_...`)", "16384 bytes (16 KiB, ...)", "5 min".
 */
function statedValue(cell: string): number {
  const m = /^(\d{1,3}(?:[ ,]\d{3})+|\d+)\s*(bytes|characters|KiB|MiB|Mi|ms|s|min)?(?=$|[\s(;,])/.exec(cell);
  assert.ok(m, `a number first in "${cell}"`);
  return Number(m[1]!.replace(/[ ,]/g, '')) * UNITS[m[2] ?? '']!;
}

/** The one row that names `variable` in backquotes. */
function rowOf(variable: string): string[] {
  const rows = ROWS.filter((cells) => cells.some((c) => c.includes(`\`${variable}\``)) && !cells[0]!.startsWith('`--'));
  assert.equal(rows.length, 1, `docs/security.md: one limit row names ${variable} (found ${rows.length})`);
  return rows[0]!;
}

/** The one row whose first cell starts with `label`. */
function rowStarting(label: string): string[] {
  const rows = ROWS.filter((cells) => cells[0]!.startsWith(label));
  assert.equal(rows.length, 1, `docs/security.md: one row starting "${label}"`);
  return rows[0]!;
}

test('every KEYWAY_XDS_* limit has its row in docs/security.md, with the default the code uses', () => {
  const limits: [string, number][] = [
    ...Object.entries(XDS_LIMIT_ENV).map(([key, variable]): [string, number] => [variable, DEFAULT_XDS_STREAM_LIMITS[key as keyof typeof XDS_LIMIT_ENV]]),
    [XDS_TLS_HANDSHAKE_TIMEOUT_ENV, XDS_TLS_HANDSHAKE_TIMEOUT_MS],
  ];
  for (const [variable, value] of limits) {
    // | Limit | Default | Variable | When hit |
    const cells = rowOf(variable);
    assert.equal(cells[2], `\`${variable}\``, `${variable}: in the Variable column`);
    assert.equal(statedValue(cells[1]!), value, `${variable}: the documented default "${cells[1]}"`);
  }
  // And the table documents no variable the code does not read.
  const known = new Set(limits.map(([v]) => v));
  const documented = ROWS.map((c) => /^`(KEYWAY_XDS_[A-Z_]+)`$/.exec(c[2] ?? '')?.[1]).filter((v): v is string => v !== undefined);
  assert.deepEqual(documented.filter((v) => !known.has(v)), [], 'rows for variables keyway does not read');
});

test('the REST request limits of docs/security.md state the defaults the code uses', () => {
  // | Limit | Default | When hit |, the default first in the Default cell.
  const limits: [string[], number][] = [
    [rowOf(REST_WRITE_STALL_ENV), REST_WRITE_STALL_MS],
    [rowOf(ADMIN_MAX_CONNECTIONS_PER_PEER_ENV), ADMIN_MAX_CONNECTIONS_PER_PEER],
    [rowOf(METRICS_MAX_WAITING_ENV), METRICS_MAX_WAITING],
    [rowStarting('Request line and headers'), MAX_REST_HEADER_BYTES],
    [rowStarting('Request body'), MAX_REST_BODY_BYTES],
    [rowStarting('One path parameter'), MAX_REST_PARAM_LENGTH],
    [rowStarting('Time to receive the whole request'), REST_REQUEST_TIMEOUT_MS],
    [rowStarting('Time a keep-alive connection'), REST_KEEP_ALIVE_TIMEOUT_MS],
  ];
  for (const [cells, value] of limits) assert.equal(statedValue(cells[1]!), value, `"${cells[0]}": the documented default "${cells[1]}"`);
});

test('the work budget of docs/security.md states the limits the code enforces', () => {
  const limits: [string, number][] = [
    ['endpoints', MAX_ENDPOINTS],
    ['`shards` x `replicas` (owner slots)', MAX_OWNER_SLOTS],
    ['`shards` x `replicas` x endpoints', MAX_SHARD_WORK],
    ['topology file size', MAX_TOPOLOGY_FILE_BYTES],
  ];
  for (const [label, value] of limits) {
    const cells = ROWS.filter((c) => c[0] === label);
    assert.equal(cells.length, 1, `one row "${label}"`);
    assert.equal(statedValue(cells[0]![1]!), value, `"${label}": the documented default "${cells[0]![1]}"`);
  }
});

test('a malformed value of each limit variable is BAD_ARGUMENT, and docs/errors.md says so for each', () => {
  const readers: [string, (env: NodeJS.ProcessEnv) => unknown][] = [
    ...Object.values(XDS_LIMIT_ENV).map((v): [string, (env: NodeJS.ProcessEnv) => unknown] => [v, xdsStreamLimitsFromEnv]),
    [XDS_TLS_HANDSHAKE_TIMEOUT_ENV, xdsTlsHandshakeTimeoutMsFromEnv],
    [GRPC_STAGE_TIMEOUT_ENV, grpcStageTimeoutFromEnv],
    [REST_WRITE_STALL_ENV, restWriteStallMsFromEnv],
    [ADMIN_MAX_CONNECTIONS_PER_PEER_ENV, adminMaxConnectionsPerPeerFromEnv],
    [METRICS_MAX_WAITING_ENV, metricsMaxWaitingFromEnv],
  ];
  const errorsDoc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const badArgument = errorsDoc.split('\n').find((l) => l.startsWith('| `BAD_ARGUMENT` |'));
  assert.ok(badArgument, 'docs/errors.md has a BAD_ARGUMENT row');
  for (const [variable, read] of readers) {
    assert.throws(() => read({ [variable]: 'x' }), (e) => e instanceof KeywayError && e.code === 'BAD_ARGUMENT' && e.message.startsWith(`${variable} must be`), variable);
    // Named in the row, itself or by a `PREFIX_*` pattern that covers it.
    const named = [...badArgument.matchAll(/`(KEYWAY_[A-Z_]*)(\*?)`/g)].some(([, name, star]) => (star ? variable.startsWith(name!) : variable === name));
    assert.ok(named, `docs/errors.md's BAD_ARGUMENT row names ${variable}, which stops keyway serve at start when malformed`);
  }
});
