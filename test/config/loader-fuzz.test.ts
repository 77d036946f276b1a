/**
 * Seeded fuzz of the topology-file loader (contract: docs/configuration.md, docs/errors.md): a valid
 * file mutated with what careless and hostile files hold (NaN and infinity spellings, huge and tiny
 * numbers, ports 0 and 65536, weights 0, negative and 1e308, keys of other types, duplicate keys
 * and endpoints, tags, anchors and aliases, tabs, byte order marks, carriage returns, cut lines),
 * and files of random bytes, a directory and an empty file. Every file is either accepted with
 * values inside the documented ranges, or refused with KeywayErrors whose every problem has a
 * topology-file code and names the file, and a line (all but the count of problems past the cap);
 * nothing throws anything else or takes seconds.
 * Replay: `KEYWAY_FUZZ_SEED=N KEYWAY_FUZZ_ITERATIONS=M node --import tsx --test test/config/loader-fuzz.test.ts`.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, parseConfig, type KeywayConfig } from '../../src/config/load.js';
import { MAX_REPORTED_PROBLEMS, MAX_WEIGHT, MIN_POSITIVE_WEIGHT } from '../../src/config/fields.js';
import { ENDPOINT_ID_PATTERN } from '../../src/core/endpoint.js';
import { KeywayErrors } from '../../src/core/errors.js';
import { MAX_PORT } from '../../src/core/limits.js';
import { fuzzBudget, Rng } from '../support/seeded-random.js';

const BASE = `shards: 16
replicas: 2
spread: zone
service: svc
envoy:
  listenerPort: 10000
  perTryTimeoutMs: 5000
handoff:
  enabled: true
  drainMs: 30000
hotShards:
  enabled: true
  maxReaders: 4
endpoints:
  - id: a
    address: 10.0.0.1
    port: 7000
    weight: 1
    locality: {region: r, zone: z1, subzone: s1}
  - id: b
    address: 10.0.0.2
    port: 7001
    weight: 2.5
    locality:
      zone: z2
      subzone: s2
`;

const VALUES = [
  '.nan', '.NaN', '.NAN', '.inf', '-.inf', '+.inf', '.Inf', 'NaN', 'Infinity', '1e308', '1e309', '-1e308', '2e292', '1e290', '1e-290',
  '1e-300', '1e-400', '-0', '0', '-1', '65535', '65536', '0x10000', '0o177777', '99999999999999999999999', '1.5', '7000.0', '1_000',
  'null', '~', '', 'true', 'false', 'yes', '""', "''", '[]', '{}', '[1, 2]', '{a: 1}', '"\\ud800"', '"\\u0000"', '"é"', '"😀"',
  '"10.0.0.1"', '10.0.0.1', '"::"', '"0.0.0.0"', '"fe80::1%eth0"', 'a', 'A', '"a b"', '!!str 5', '!!int "5"', '!!float 3',
  '!!binary aGk=', '!!set {a}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '!!null ""', '!foo bar', '*x0', '&x1 5', '|\n      x',
  '>-\n      y', '1 # comment', '"a"#b', '? a',
];
const KEYS = [
  'shards', 'replicas', 'spread', 'service', 'endpoints', 'kubernetes', 'id', 'address', 'port', 'weight', 'ready', 'draining',
  'zone', 'locality', '1', '1.0', 'null', '~', 'true', '[a]', '{a: 1}', '__proto__', 'constructor', 'toString', '"x y"', "''",
  '.nan', '!!int 3', '0x1', '<<', '*x0', '&x0 k', 'ключ', 'replica',
];

/** One to three careless edits of `text`'s lines. */
function mutated(rng: Rng, text: string): string {
  const lines = text.split('\n');
  for (let k = 1 + rng.int(3); k > 0; k--) {
    const i = rng.int(lines.length);
    const line = lines[i]!;
    const m = /^(\s*(?:- )?)([^:]+):\s*(.*)$/.exec(line);
    switch (rng.int(10)) {
      case 0:
      case 1:
        if (m) lines[i] = `${m[1]}${m[2]}: ${rng.pick(VALUES)}`;
        break;
      case 2:
        if (m) lines[i] = `${m[1]}${rng.pick(KEYS)}: ${m[3]}`;
        break;
      case 3:
        lines.splice(i, 0, line); // a duplicate key, or a duplicate endpoint line
        break;
      case 4:
        lines.splice(i, 1);
        break;
      case 5:
        lines[i] = line.replace(/^ /, '\t');
        break;
      case 6:
        lines[i] = rng.chance(0.5) ? `${line}\r` : `${line}\r${rng.pick(lines)}`;
        break;
      case 7:
        lines[i] = `\uFEFF${line}`;
        break;
      case 8:
        lines[i] = line.slice(0, rng.int(line.length + 1));
        break;
      case 9:
        if (m) lines[i] = `${m[1]}${m[2]}: &x${rng.int(2)} ${m[3]}`;
        break;
    }
  }
  return lines.join('\n');
}

const FILE_CODES = ['CONFIG_READ', 'CONFIG_PARSE', 'CONFIG_INVALID', 'DUPLICATE_ENDPOINT', 'BUDGET_EXCEEDED'];
/** Far above any file here (a few ms each); a stall or a quadratic step goes far past it. */
const SLOW_MS = 2000;

/** What a refusal must be: typed, every problem naming the file and, but for the cap's count, a line. */
function assertRefusal(err: unknown, file: string, context: string): void {
  assert.ok(err instanceof KeywayErrors, `${context}: threw ${err instanceof Error ? err.stack : String(err)}`);
  assert.ok(err.errors.length >= 1 && err.errors.length <= MAX_REPORTED_PROBLEMS + 1, context);
  err.errors.forEach((e, i) => {
    assert.ok(FILE_CODES.includes(e.code), `${context}: code ${e.code}`);
    assert.equal(e.location.file, file, `${context}: ${e.message}`);
    const isCount = i === MAX_REPORTED_PROBLEMS;
    if (!isCount && e.code !== 'CONFIG_READ' && e.code !== 'BUDGET_EXCEEDED') {
      assert.ok(Number.isInteger(e.location.line) && e.location.line! >= 1, `${context}: no line: ${e.message}`);
    }
  });
}

/** What an accepted file must hold: every value inside its documented range. */
function assertSane(cfg: KeywayConfig, context: string): void {
  const { policy, endpoints, xds } = cfg.topology;
  assert.ok(Number.isInteger(policy.shardCount) && policy.shardCount >= 1, context);
  assert.ok(Number.isInteger(policy.replicas) && policy.replicas >= 1, context);
  assert.ok(Number.isInteger(xds.envoy.listenerPort) && xds.envoy.listenerPort >= 1 && xds.envoy.listenerPort <= MAX_PORT, context);
  const ids = new Set<string>();
  for (const e of endpoints) {
    assert.ok(typeof e.id === 'string' && ENDPOINT_ID_PATTERN.test(e.id), `${context}: id ${String(e.id)}`);
    assert.ok(!ids.has(e.id), `${context}: id ${e.id} twice`);
    ids.add(e.id);
    assert.ok(Number.isInteger(e.port) && e.port >= 1 && e.port <= MAX_PORT, `${context}: port ${e.port}`);
    assert.ok(e.weight === 0 || (e.weight >= MIN_POSITIVE_WEIGHT && e.weight <= MAX_WEIGHT), `${context}: weight ${e.weight}`);
    for (const part of [e.locality.region, e.locality.zone, e.locality.subzone]) assert.equal(typeof part, 'string', context);
  }
}

test('mutated topology files are accepted within range or refused with located, typed errors', () => {
  const { iterations, seed } = fuzzBudget(600);
  const rng = new Rng(seed);
  let accepted = 0;
  for (let i = 0; i < iterations; i++) {
    const text = mutated(rng, BASE);
    const context = `seed ${seed}, case ${i}: ${JSON.stringify(text)}`;
    const started = performance.now();
    try {
      assertSane(parseConfig(text, 'fuzz.yaml'), context);
      accepted++;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      assertRefusal(err, 'fuzz.yaml', context);
    }
    assert.ok(performance.now() - started < SLOW_MS, `${context}: took ${Math.round(performance.now() - started)} ms`);
  }
  // The mutations must leave some files valid, or the acceptance checks test nothing.
  assert.ok(accepted > 0 && accepted < iterations, `${accepted} of ${iterations} accepted`);
});

test('files that are random bytes, a directory, empty or a byte order mark are refused with typed errors', async () => {
  const { iterations, seed } = fuzzBudget(200);
  const rng = new Rng(seed);
  const dir = await mkdtemp(join(tmpdir(), 'keyway-loader-fuzz-'));
  try {
    const fixed: Array<[string, Uint8Array | 'dir']> = [
      ['empty.yaml', new Uint8Array()],
      ['bom.yaml', Buffer.from('\uFEFF')],
      ['bom-crlf.yaml', Buffer.from('\uFEFFendpoints:\r\n  - {id: a, address: 10.0.0.1, port: 0}\r\n')],
      ['utf16.yaml', Buffer.from('\uFEFFendpoints: []\n', 'utf16le')],
      ['nul.yaml', Buffer.from('endpoints: []\n\0\n')],
      ['a-directory.yaml', 'dir'],
    ];
    for (let i = 0; i < iterations; i++) {
      // Random bytes, or valid text with random bytes written over part of it.
      const bytes = rng.chance(0.5) ? rng.bytes(rng.int(200)) : Buffer.from(BASE);
      if (bytes.length === BASE.length) bytes.set(rng.bytes(1 + rng.int(8)), rng.int(BASE.length - 8));
      fixed.push([`random-${i}.yaml`, bytes]);
    }
    for (const [name, content] of fixed) {
      const file = join(dir, name);
      if (content === 'dir') await mkdir(file);
      else await writeFile(file, content);
      const context = `seed ${seed}, ${name}`;
      try {
        assertSane(await loadConfigFile(file), context);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assertRefusal(err, file, context);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
