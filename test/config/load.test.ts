import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync } from 'node:fs';
import { mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { loadConfigFile, parseConfig, readConfigText } from '../../src/config/index.js';
import { inFileOrder, KeywayError, KeywayErrors } from '../../src/core/errors.js';
import { MAX_TOPOLOGY_FILE_BYTES } from '../../src/core/limits.js';

const GOOD = `shards: 64
replicas: 2
spread: zone
endpoints:
  - id: a
    address: 10.0.0.1
    port: 7000
    locality: {region: r, zone: z1, subzone: f1}
    weight: 10
  - id: b
    address: fd00::b
    port: 7001
    locality: {zone: z2}
    ready: false
`;

/** Parses `text` expecting failure; returns every reported problem. */
function problems(text: string, file = 'topo.yaml'): readonly KeywayError[] {
  try {
    parseConfig(text, file);
  } catch (err) {
    assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
    return err.errors;
  }
  assert.fail('the file was accepted');
}

/** The single problem about `field`, asserting its code and line. */
function expectProblem(text: string, field: string, code: string, line: number): KeywayError {
  const all = problems(text);
  const hit = all.find((e) => e.location.field === field);
  assert.ok(hit, `no problem on ${field}; got:\n${all.map((e) => e.message).join('\n')}`);
  assert.equal(hit.code, code);
  assert.equal(hit.location.line, line, hit.message);
  assert.equal(hit.location.file, 'topo.yaml');
  assert.ok(hit.message.startsWith(`topo.yaml:${line}:`), hit.message);
  assert.ok(hit.message.includes(`${field}: `), hit.message);
  return hit;
}

test('a valid file gives the policy, settings, endpoints and defaults', () => {
  const cfg = parseConfig(GOOD, 'topo.yaml');
  assert.deepEqual(cfg.topology.policy, { shardCount: 64, replicas: 2, spread: 'zone' });
  assert.deepEqual(cfg.topology.xds, {
    service: 'keyway-cache',
    envoy: { listenerPort: 10000, missingHeader: 'any', upstreamProtocol: 'http1', routeShape: 'subset', dynamicStats: false, generateRequestId: false, envoyHeaders: false, perTryTimeoutMs: 5000 },
    routing: { keyHeader: 'x-cache-key' },
  });
  assert.deepEqual(cfg.xdsTiming, { holdOffMs: 100, maxDelayMs: 1000 });
  assert.deepEqual(cfg.topology.endpoints, [
    { id: 'a', address: '10.0.0.1', port: 7000, locality: { region: 'r', zone: 'z1', subzone: 'f1' }, weight: 10, ready: true },
    { id: 'b', address: 'fd00::b', port: 7001, locality: { region: '', zone: 'z2', subzone: '' }, weight: 1, ready: false },
  ]);
  assert.equal(cfg.kubernetes, undefined);
});

test('defaults for S, R and spread when absent; settings read when present', () => {
  const cfg = parseConfig(
    'service: cache.svc\nenvoy: {listenerPort: 9000, missingHeader: reject, upstreamProtocol: http2, routeShape: table, dynamicStats: true, generateRequestId: true, envoyHeaders: true, perTryTimeoutMs: 12000}\nrouting: {keyHeader: x-kv-key}\nxds: {holdOffMs: 50, maxDelayMs: 500}\nendpoints: []\n',
    'x.yaml',
  );
  assert.deepEqual(cfg.topology.policy, { shardCount: 1024, replicas: 2, spread: 'none' });
  assert.deepEqual(cfg.topology.xds, {
    service: 'cache.svc',
    envoy: { listenerPort: 9000, missingHeader: 'reject', upstreamProtocol: 'http2', routeShape: 'table', dynamicStats: true, generateRequestId: true, envoyHeaders: true, perTryTimeoutMs: 12000 },
    routing: { keyHeader: 'x-kv-key' },
  });
  assert.deepEqual(cfg.xdsTiming, { holdOffMs: 50, maxDelayMs: 500 });
  assert.deepEqual(cfg.topology.endpoints, []);
});

test('the bundled example is valid: 8 endpoints, 2 zones, 4 fabrics, different weights', async () => {
  const cfg = await loadConfigFile('examples/topology.yaml');
  const eps = cfg.topology.endpoints;
  assert.equal(eps.length, 8);
  assert.equal(new Set(eps.map((e) => e.locality.zone)).size, 2);
  assert.equal(new Set(eps.map((e) => e.locality.subzone)).size, 4);
  assert.ok(new Set(eps.map((e) => e.weight)).size > 1);
  assert.deepEqual(cfg.topology.policy, { shardCount: 1024, replicas: 2, spread: 'subzone' });
});

test('bad YAML: CONFIG_PARSE with the line of the problem', () => {
  const all = problems('shards: 8\nendpoints:\n  - id: "a\n    port: 1\n');
  assert.equal(all[0]!.code, 'CONFIG_PARSE');
  assert.equal(all[0]!.location.file, 'topo.yaml');
  assert.ok((all[0]!.location.line ?? 0) >= 3, all[0]!.message);
  const tabs = problems('shards: 8\nendpoints:\n\t- id: a\n');
  assert.equal(tabs[0]!.code, 'CONFIG_PARSE');
  assert.equal(tabs[0]!.location.line, 3, tabs[0]!.message);
});

test('a duplicated key is a parse error at the second occurrence', () => {
  const all = problems('shards: 8\nreplicas: 1\nshards: 16\nendpoints: []\n');
  assert.equal(all[0]!.code, 'CONFIG_PARSE');
  assert.equal(all[0]!.location.line, 3);
});

test('missing id: CONFIG_INVALID at the endpoint, field endpoints[1].id', () => {
  const text = 'endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n  - address: 10.0.0.2\n    port: 2\n';
  const e = expectProblem(text, 'endpoints[1].id', 'CONFIG_INVALID', 5);
  assert.match(e.message, /is required/);
});

test('duplicate id: DUPLICATE_ENDPOINT at the second one, naming the first', () => {
  const text = 'endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n  - id: a\n    address: 10.0.0.2\n    port: 2\n';
  const e = expectProblem(text, 'endpoints[1].id', 'DUPLICATE_ENDPOINT', 5);
  assert.match(e.message, /endpoints\[0\] \(line 2\)/);
});

test('negative weight: field, line, column and the value in the message', () => {
  const text = 'shards: 8\nendpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n    weight: -1\n';
  const e = expectProblem(text, 'endpoints[0].weight', 'CONFIG_INVALID', 6);
  assert.equal(e.location.column, 5);
  assert.equal(e.message, 'topo.yaml:6:5: endpoints[0].weight: must be a number >= 0, got -1');
});

test('unknown spread, S < 1 and R < 1 are each reported, all in one pass', () => {
  const text = 'shards: 0\nreplicas: 0\nspread: fabric\nendpoints: []\n';
  expectProblem(text, 'shards', 'CONFIG_INVALID', 1);
  expectProblem(text, 'replicas', 'CONFIG_INVALID', 2);
  const spread = expectProblem(text, 'spread', 'CONFIG_INVALID', 3);
  assert.match(spread.message, /none \| zone \| subzone, got "fabric"/);
  assert.equal(problems(text).length, 3);
});

test('S and R must be integers', () => {
  expectProblem('shards: 10.5\nendpoints: []\n', 'shards', 'CONFIG_INVALID', 1);
  expectProblem('replicas: "2"\nendpoints: []\n', 'replicas', 'CONFIG_INVALID', 1);
  expectProblem('endpoints: []\nreplicas: 256\n', 'replicas', 'CONFIG_INVALID', 2);
});

test('an unknown key is named, with a suggestion for a typo', () => {
  const e = expectProblem('shards: 8\nreplica: 2\nendpoints: []\n', 'replica', 'CONFIG_INVALID', 2);
  assert.match(e.message, /did you mean "replicas"/);
  expectProblem('endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n    wieght: 3\n', 'endpoints[0].wieght', 'CONFIG_INVALID', 5);
  expectProblem('envoy:\n  port: 1\nendpoints: []\n', 'envoy.port', 'CONFIG_INVALID', 2);
});

test('field checks: address, port, locality, ready, envoy and xds settings', () => {
  const text = [
    'service: "bad name"', // 1
    'envoy: {listenerPort: 0, missingHeader: drop, upstreamProtocol: http3, routeShape: tables, dynamicStats: yes}', // 2
    'xds: {holdOffMs: 2000, maxDelayMs: 1000}', // 3
    'endpoints:', // 4
    '  - id: "-bad"', // 5
    '    address: "not a host!"', // 6
    '    port: 70000', // 7
    '    locality: {zone: 3}', // 8
    '    ready: "yes"', // 9
    '  - 42', // 10
  ].join('\n');
  expectProblem(text, 'service', 'CONFIG_INVALID', 1);
  expectProblem(text, 'envoy.listenerPort', 'CONFIG_INVALID', 2);
  expectProblem(text, 'envoy.missingHeader', 'CONFIG_INVALID', 2);
  expectProblem(text, 'envoy.upstreamProtocol', 'CONFIG_INVALID', 2);
  expectProblem(text, 'envoy.routeShape', 'CONFIG_INVALID', 2);
  expectProblem(text, 'envoy.dynamicStats', 'CONFIG_INVALID', 2);
  expectProblem(text, 'xds.holdOffMs', 'CONFIG_INVALID', 3);
  expectProblem(text, 'endpoints[0].id', 'CONFIG_INVALID', 5);
  expectProblem(text, 'endpoints[0].address', 'CONFIG_INVALID', 6);
  expectProblem(text, 'endpoints[0].port', 'CONFIG_INVALID', 7);
  expectProblem(text, 'endpoints[0].locality.zone', 'CONFIG_INVALID', 8);
  expectProblem(text, 'endpoints[0].ready', 'CONFIG_INVALID', 9);
  expectProblem(text, 'endpoints[1]', 'CONFIG_INVALID', 10);
  // Reported top to bottom.
  const lines = problems(text).map((e) => e.location.line ?? 0);
  assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
});

test('routing.keyHeader: a lowercase HTTP header name other than x-cache-shard; unknown keys named', () => {
  for (const bad of ['X-Cache-Key', 'x cache', '', 'x-key:', 'ключ']) {
    const hit = expectProblem(`routing: {keyHeader: ${JSON.stringify(bad)}}\nendpoints: []\n`, 'routing.keyHeader', 'CONFIG_INVALID', 1);
    assert.match(hit.message, /must be a lowercase HTTP header name/);
  }
  for (const bad of ['7', 'true', '[a]']) {
    expectProblem(`routing: {keyHeader: ${bad}}\nendpoints: []\n`, 'routing.keyHeader', 'CONFIG_INVALID', 1);
  }
  const clash = expectProblem('routing:\n  keyHeader: x-cache-shard\nendpoints: []\n', 'routing.keyHeader', 'CONFIG_INVALID', 2);
  assert.match(clash.message, /must not be x-cache-shard/);
  const typo = expectProblem('routing: {keyheader: x-k}\nendpoints: []\n', 'routing.keyheader', 'CONFIG_INVALID', 1);
  assert.match(typo.message, /did you mean "keyHeader"/);
  expectProblem('routing: 5\nendpoints: []\n', 'routing', 'CONFIG_INVALID', 1);
  assert.equal(parseConfig("routing: {keyHeader: \"x-k_1.v2'~\"}\nendpoints: []\n", 'x.yaml').topology.xds.routing.keyHeader, "x-k_1.v2'~");
});

test('addresses: IPv4 and IPv6 literals are accepted; a host name is CONFIG_INVALID at its line (proxies need IPs)', () => {
  const cfg = parseConfig('endpoints:\n  - {id: a, address: "::1", port: 1}\n  - {id: b, address: 10.1.2.3, port: 2}\n', 'x.yaml');
  assert.deepEqual(cfg.topology.endpoints.map((e) => e.address), ['::1', '10.1.2.3']);
  const text = 'endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n  - id: b\n    address: node-7.cache\n    port: 2\n';
  const e = expectProblem(text, 'endpoints[1].address', 'CONFIG_INVALID', 6);
  assert.match(e.message, /must be an IPv4 or IPv6 address/);
  assert.match(e.message, /"node-7\.cache"/);
  // A zone index (fe80::1%eth0) is an IP to Node but not to Envoy or gRPC.
  expectProblem('endpoints:\n  - {id: a, address: "fe80::1%eth0", port: 1}\n', 'endpoints[0].address', 'CONFIG_INVALID', 2);
});

test('YAML alias errors are CONFIG_PARSE at the alias line, never a thrown ReferenceError', () => {
  const unknown = problems('shards: 8\nendpoints:\n  - *nope\n');
  assert.equal(unknown.length, 1, unknown.map((e) => e.message).join('\n'));
  assert.equal(unknown[0]!.code, 'CONFIG_PARSE');
  assert.equal(unknown[0]!.location.line, 3, unknown[0]!.message);
  assert.match(unknown[0]!.message, /^topo\.yaml:3:5: .*alias \*nope/);

  // A "billion laughs": ten levels of ten aliases each would expand to 10^10 nodes.
  const levels = ['  l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 10; i++) levels.push(`  l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
  const laughs = problems(`shards: 8\nendpoints: []\nbomb:\n${levels.join('\n')}\n`);
  assert.equal(laughs[0]!.code, 'CONFIG_PARSE');
  assert.equal(laughs[0]!.location.line, 5, laughs[0]!.message);
  assert.match(laughs[0]!.message, /aliases/);
});

test('an empty file or a non-mapping is rejected at line 1', () => {
  for (const text of ['', '- a\n- b\n', '42\n']) {
    const [e] = problems(text);
    assert.equal(e!.code, 'CONFIG_INVALID');
    assert.equal(e!.location.line, 1);
  }
});

test('neither endpoints nor kubernetes is an error; `endpoints:` left empty is an empty list', () => {
  assert.match(problems('shards: 8\n')[0]!.message, /neither `endpoints` nor `kubernetes`/);
  assert.deepEqual(parseConfig('endpoints:\n', 'x.yaml').topology.endpoints, []);
});

test('kubernetes: passed through raw with a locator; endpoints must then be absent', () => {
  const text = 'shards: 8\nkubernetes:\n  services:\n    - cache-a\n    - name: cache-b\n      port: http\n';
  const cfg = parseConfig(text, 'k.yaml');
  assert.deepEqual(cfg.kubernetes?.value, { services: ['cache-a', { name: 'cache-b', port: 'http' }] });
  assert.deepEqual(cfg.topology.endpoints, []);
  assert.deepEqual(cfg.kubernetes?.locate(['services', 1, 'port']), {
    file: 'k.yaml',
    line: 6,
    column: 7,
    field: 'kubernetes.services[1].port',
  });
  // A path that is not in the file points at its deepest existing parent.
  assert.equal(cfg.kubernetes?.locate(['services', 1, 'namespace']).line, 5);
  expectProblem('kubernetes: {}\nendpoints: []\n', 'endpoints', 'CONFIG_INVALID', 2);
});

test('loadConfigFile: CONFIG_READ names the missing file; errors carry the path given', async () => {
  await assert.rejects(loadConfigFile('/nonexistent/keyway/topology.yaml'), (err: unknown) => {
    assert.ok(err instanceof KeywayErrors);
    assert.equal(err.code, 'CONFIG_READ');
    assert.equal(err.errors[0]!.location.file, '/nonexistent/keyway/topology.yaml');
    assert.match(err.message, /ENOENT/);
    return true;
  });
  const dir = await mkdtemp(join(tmpdir(), 'keyway-config-'));
  try {
    const file = join(dir, 't.yaml');
    await writeFile(file, 'shards: -3\nendpoints: []\n');
    await assert.rejects(loadConfigFile(file), (err: unknown) => {
      assert.ok(err instanceof KeywayErrors);
      assert.equal(err.message, `${file}:1:1: shards: must be an integer from 1 to 1048576, got -3`);
      return true;
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('handoff: defaults, values read, bounds and unknown keys reported with their line', () => {
  assert.deepEqual(parseConfig('endpoints: []\n', 'x.yaml').handoff, { enabled: true, warmTimeoutMs: 30_000, drainMs: 30_000, flipIntervalMs: 1000, agentWaitMs: 5000 });
  assert.deepEqual(parseConfig('handoff: {enabled: false, warmTimeoutMs: 500, drainMs: 0, flipIntervalMs: 0, agentWaitMs: 0}\nendpoints: []\n', 'x.yaml').handoff, {
    enabled: false,
    warmTimeoutMs: 500,
    drainMs: 0,
    flipIntervalMs: 0,
    agentWaitMs: 0,
  });
  expectProblem('handoff:\n  flipIntervalMs: 60001\nendpoints: []\n', 'handoff.flipIntervalMs', 'CONFIG_INVALID', 2);
  expectProblem('handoff:\n  agentWaitMs: 60001\nendpoints: []\n', 'handoff.agentWaitMs', 'CONFIG_INVALID', 2);
  expectProblem('handoff:\n  warmTimeoutMs: 600001\nendpoints: []\n', 'handoff.warmTimeoutMs', 'CONFIG_INVALID', 2);
  expectProblem('handoff:\n  drainMs: -1\nendpoints: []\n', 'handoff.drainMs', 'CONFIG_INVALID', 2);
  expectProblem('handoff:\n  enabled: maybe\nendpoints: []\n', 'handoff.enabled', 'CONFIG_INVALID', 2);
  const typo = expectProblem('handoff: {warmTimeout: 5}\nendpoints: []\n', 'handoff.warmTimeout', 'CONFIG_INVALID', 1);
  assert.match(typo.message, /did you mean "warmTimeoutMs"/);
});

test('draining: a planned departure is not ready; draining with ready: true is an error at ready', () => {
  const base = 'endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 7000\n';
  const [a] = parseConfig(`${base}    draining: true\n`, 'x.yaml').topology.endpoints;
  assert.equal(a?.ready, false);
  assert.equal(a?.draining, true);
  assert.equal(parseConfig(`${base}    ready: false\n    draining: true\n`, 'x.yaml').topology.endpoints[0]?.draining, true);
  assert.equal(parseConfig(base, 'x.yaml').topology.endpoints[0]?.draining, undefined);
  const hit = expectProblem(`${base}    ready: true\n    draining: true\n`, 'endpoints[0].ready', 'CONFIG_INVALID', 5);
  assert.match(hit.message, /must be false \(or absent\) when draining is true/);
  expectProblem(`${base}    draining: 1\n`, 'endpoints[0].draining', 'CONFIG_INVALID', 5);
});

test('more than 1000 aliases in one file is CONFIG_PARSE at the 1001st (each costs the YAML library a scan of the file)', () => {
  const anchors = Array.from({ length: 1001 }, (_, i) => `  - &z${i} {zone: z${i}}`);
  const uses = Array.from({ length: 1001 }, (_, i) => `  - {id: n${i}, address: 10.0.${i >> 8}.${i & 255}, port: 1, locality: *z${i}}`);
  const text = `defs:\n${anchors.join('\n')}\nendpoints:\n${uses.join('\n')}\n`;
  const all = problems(text);
  assert.equal(all[0]!.code, 'CONFIG_PARSE', all[0]!.message);
  assert.equal(all[0]!.location.line, 1 + 1001 + 1 + 1001, all[0]!.message);
  assert.match(all[0]!.message, /more than 1000 aliases/);
  // 1000 are fine (the unknown key `defs` aside).
  const fine = problems(`defs:\n${anchors.slice(0, 1000).join('\n')}\nendpoints:\n${uses.slice(0, 1000).join('\n')}\n`);
  assert.deepEqual(fine.map((e) => e.location.field), ['defs']);
});

/** Expects `p` to reject with one BUDGET_EXCEEDED error on `file` whose message is `message`. */
async function rejectsBudget(p: Promise<unknown>, file: string, message: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KeywayErrors, String(err));
    assert.equal(err.errors.length, 1);
    assert.equal(err.code, 'BUDGET_EXCEEDED');
    assert.equal(err.errors[0]!.location.file, file);
    assert.equal(err.message, `${file}: ${message}`);
    return true;
  });
}

test('a file past the size budget is refused without being read whole: by its size', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-config-'));
  try {
    // Sparse: 600 MiB that take no disk, and more than a string can hold, so only the size can refuse it.
    const huge = join(dir, 'huge.yaml');
    await writeFile(huge, '');
    await truncate(huge, 600 * 1024 * 1024);
    await rejectsBudget(readConfigText(huge), huge, `the topology file has ${600 * 1024 * 1024} bytes, more than the work budget's ${MAX_TOPOLOGY_FILE_BYTES}`);
    await rejectsBudget(loadConfigFile(huge), huge, `the topology file has ${600 * 1024 * 1024} bytes, more than the work budget's ${MAX_TOPOLOGY_FILE_BYTES}`);
    // One byte past the budget: the same message as a parsed text that long.
    const over = join(dir, 'over.yaml');
    await writeFile(over, '');
    await truncate(over, MAX_TOPOLOGY_FILE_BYTES + 1);
    await rejectsBudget(readConfigText(over), over, `the topology file has ${MAX_TOPOLOGY_FILE_BYTES + 1} bytes, more than the work budget's ${MAX_TOPOLOGY_FILE_BYTES}`);
    // At the budget: read whole.
    const edge = join(dir, 'edge.yaml');
    await writeFile(edge, `# ${'x'.repeat(MAX_TOPOLOGY_FILE_BYTES - 3)}\n`);
    assert.equal((await readConfigText(edge)).length, MAX_TOPOLOGY_FILE_BYTES);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** Expects `p` to reject with one CONFIG_READ error on `file` saying it is `type`, not a regular file. */
async function rejectsType(p: Promise<unknown>, file: string, type: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof KeywayErrors, String(err));
    assert.equal(err.errors.length, 1);
    assert.equal(err.code, 'CONFIG_READ');
    assert.equal(err.errors[0]!.location.file, file);
    assert.equal(err.message, `${file}: cannot read the topology file: it is ${type}, not a regular file`);
    return true;
  });
}

test('only a regular file is read: a directory or a device is refused by its type', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-config-'));
  try {
    await rejectsType(readConfigText(dir), dir, 'a directory');
    // A device without a size (it would stream for ever) is refused before a byte is read.
    if (existsSync('/dev/zero')) await rejectsType(readConfigText('/dev/zero'), '/dev/zero', 'a character device');
    // After symlinks: a link to a regular file reads it, a link to a directory is refused.
    await writeFile(join(dir, 't.yaml'), GOOD);
    await symlink(join(dir, 't.yaml'), join(dir, 'link.yaml'));
    assert.equal(await readConfigText(join(dir, 'link.yaml')), GOOD);
    await symlink(dir, join(dir, 'dir-link.yaml'));
    await rejectsType(readConfigText(join(dir, 'dir-link.yaml')), join(dir, 'dir-link.yaml'), 'a directory');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a FIFO at the path is refused at once by its type, never waited on for a writer', { skip: process.platform === 'win32' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-config-'));
  const fifo = join(dir, 'topology.yaml');
  execFileSync('mkfifo', [fifo]);
  t.after(async () => {
    // A read stuck in open() (as before the fix) holds a threadpool thread: a writer releases it.
    try {
      closeSync(openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK));
    } catch {
      // no reader waiting (ENXIO): nothing to release
    }
    await rm(dir, { recursive: true, force: true });
  });
  const waited = setTimeout(2000, 'still waiting after 2 s', { ref: false });
  const outcome = await Promise.race([readConfigText(fifo).then(() => 'read', (err: unknown) => err), waited]);
  await rejectsType(Promise.reject(outcome), fifo, 'a FIFO (named pipe)');
  await rejectsType(loadConfigFile(fifo), fifo, 'a FIFO (named pipe)');
});

test('inFileOrder sorts problems by line, then column, keeping the order of problems at one place', () => {
  const at = (line: number | undefined, column: number | undefined, field: string): KeywayError =>
    new KeywayError('CONFIG_INVALID', 'x', { file: 'f', ...(line !== undefined ? { line } : {}), ...(column !== undefined ? { column } : {}), field });
  const sorted = inFileOrder([at(3, 3, 'c'), at(2, 1, 'b'), at(2, 1, 'b2'), at(undefined, undefined, 'a'), at(3, 1, 'c0')]);
  assert.deepEqual(sorted.map((e) => e.location.field), ['a', 'b', 'b2', 'c0', 'c']);
});

test('a byte order mark is no column: errors on line 1 of a file saved with one point at column 1', () => {
  const text = '\uFEFFshards: x\nendpoints: []\n';
  const [e] = problems(text);
  assert.deepEqual([e!.location.line, e!.location.column, e!.location.field], [1, 1, 'shards']);
  assert.equal(parseConfig('\uFEFFshards: 8\nendpoints: []\n', 'topo.yaml').topology.policy.shardCount, 8);
});
