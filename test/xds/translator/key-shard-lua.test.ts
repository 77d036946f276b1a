// The key-to-shard Lua script the Envoy listener carries (src/xds/translator/envoy-key-shard.ts),
// run WITHOUT Envoy by LuaJIT (the Lua Envoy embeds), checked against hash contract 1: every
// vector in testdata/vectors/key-to-shard.json, and random keys (ASCII, multibyte, tags) against
// keyToShard. Its request handler runs against a stand-in for Envoy's handle, so the 400 rules are
// checked here too. Needs `luajit` (scripts/install-luajit.sh): skipped without it, an error with
// KEYWAY_REQUIRE_E2E=1 (CI).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { keyBytesToShard, keyToShard } from '../../../src/sharding/index.js';
import { keyShardLuaScript } from '../../../src/xds/translator/index.js';
import { luajitSkipReason } from '../../support/luajit.js';

interface KeyVector {
  readonly key: string;
  readonly shards: number;
  readonly shard: number;
}
const VECTORS = (JSON.parse(readFileSync('testdata/vectors/key-to-shard.json', 'utf8')) as { vectors: KeyVector[] }).vectors;


/** A Lua string literal holding exactly the UTF-8 bytes of `s` (decimal escapes, so any byte is fine). */
function luaBytes(s: string): string {
  return `"${[...Buffer.from(s, 'utf8')].map((b) => `\\${b}`).join('')}"`;
}

/** Runs `body` after loading the script for S = `shards`; returns stdout lines. */
function runLua(shards: number, body: string, keyHeader = 'x-cache-key'): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-lua-'));
  try {
    const script = path.join(dir, 'filter.lua');
    const main = path.join(dir, 'main.lua');
    writeFileSync(script, keyShardLuaScript(shards, keyHeader));
    writeFileSync(main, `dofile(${JSON.stringify(script)})\n${body}\n`);
    const r = spawnSync('luajit', [main], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    assert.equal(r.status, 0, `luajit failed: ${r.stderr}`);
    return r.stdout.split('\n').slice(0, -1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** key_to_shard for each key, one process per S. */
function luaShards(shards: number, keys: readonly string[]): number[] {
  const body = `local keys = {${keys.map(luaBytes).join(',\n')}}\nfor i = 1, #keys do print(string.format("%d", key_to_shard(keys[i]))) end`;
  return runLua(shards, body).map(Number);
}

/** A stand-in for Envoy's stream handle: request headers as lists of values; records respond(). */
const FAKE_HANDLE = `
counted = 0
local function handle_of(list)
  local h = {}
  for _, kv in ipairs(list) do
    local k = kv[1]
    h[k] = h[k] or {}
    table.insert(h[k], kv[2])
  end
  local headers = {
    get = function(_, k) local v = h[k]; if v == nil then return nil end; return table.concat(v, ",") end,
    getNumValues = function(_, k) counted = counted + 1; return h[k] and #h[k] or 0 end,
    replace = function(_, k, v) h[k] = {v} end,
  }
  local handle = { answer = nil }
  function handle:headers() return headers end
  function handle:respond(hs, body) self.answer = hs[":status"] .. " " .. hs["content-type"] .. " " .. body end
  function handle:result()
    if self.answer then return (self.answer:gsub("\\n", "|")) end
    local s = h["x-cache-shard"]
    return "pass " .. (s and table.concat(s, ",") or "-")
  end
  return handle
end
local function run(list) local hd = handle_of(list); envoy_on_request(hd); print(hd:result()) end
`;

const skip = luajitSkipReason();

describe('the key-to-shard Lua script under LuaJIT', { skip }, () => {
  const byS = new Map<number, KeyVector[]>();
  for (const v of VECTORS) byS.set(v.shards, [...(byS.get(v.shards) ?? []), v]);

  for (const [shards, vectors] of byS) {
    test(`agrees with every key-to-shard vector for S = ${shards}`, () => {
      const got = luaShards(shards, vectors.map((v) => v.key));
      vectors.forEach((v, i) => assert.equal(got[i], v.shard, `key ${JSON.stringify(v.key)}, S = ${shards}`));
    });
  }

  test('agrees with keyToShard on random keys (ASCII, multibyte, tags, every tail length)', () => {
    const keyArb = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'binary', maxLength: 24 }),
      fc.tuple(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })).map(([a, b, c]) => `${a}{${b}}${c}`),
    );
    // Well-formed UTF-16 only: a header carries bytes, and a lone surrogate has no UTF-8 of its own.
    const keys = fc.sample(keyArb.filter((k) => Buffer.from(k, 'utf8').toString('utf8') === k), { numRuns: 3000, seed: 42 });
    for (const shards of [1, 7, 1000, 1024, 16384, 1048576]) {
      const got = luaShards(shards, keys);
      keys.forEach((k, i) => assert.equal(got[i], keyToShard(k, shards), `key ${JSON.stringify(k)}, S = ${shards}`));
    }
  });

  test('x-cache-shard: kept when an integer in [0, S), else 400 with the rule; the key only without it', () => {
    const cases: Array<[string, string]> = [
      ['{{"x-cache-shard", "0"}}', 'pass 0'],
      ['{{"x-cache-shard", "1023"}}', 'pass 1023'],
      ['{{"x-cache-shard", "7"}, {"x-cache-key", "a"}}', 'pass 7'],
      ['{{"x-cache-key", "a"}}', 'pass 434'],
      ['{{"x-cache-key", ""}}', 'pass 0'],
      ['{{"x-cache-key", "{user1000}.following"}}', `pass ${keyToShard('user1000', 1024)}`],
      ['{}', 'pass -'],
      ['{{"x-cache-key", "a"}, {"x-cache-key", "b"}}', '400 text/plain x-cache-key must be sent once|'],
    ];
    for (const bad of ['07', 'abc', '1024', '5000', '-1', '1.5', '', ' 1', '1 ', '+1', '0x1', '1e2', '00', '99999999999999999999']) {
      cases.push([`{{"x-cache-shard", ${JSON.stringify(bad)}}, {"x-cache-key", "a"}}`, '400 text/plain x-cache-shard must be an integer in [0, 1024)|']);
    }
    cases.push(['{{"x-cache-shard", "1"}, {"x-cache-shard", "2"}}', '400 text/plain x-cache-shard must be an integer in [0, 1024)|']);
    const out = runLua(1024, `${FAKE_HANDLE}\n${cases.map(([h]) => `run(${h})`).join('\n')}`);
    cases.forEach(([h, want], i) => assert.equal(out[i], want, h));
  });

  test('a key with a comma is one key; the count of values is asked only for such a key', () => {
    const cases = ['run({{"x-cache-key", "a"}})', 'print(counted)', 'run({{"x-cache-key", "a,b"}})', 'print(counted)', 'run({{"x-cache-key", "a"}, {"x-cache-key", "b"}})', 'print(counted)'];
    const out = runLua(1024, `${FAKE_HANDLE}\n${cases.join('\n')}`);
    assert.deepEqual(out, [`pass ${keyToShard('a', 1024)}`, '0', `pass ${keyToShard('a,b', 1024)}`, '1', '400 text/plain x-cache-key must be sent once|', '2']);
  });

  test('a key header named *-bin is gRPC binary metadata: its base64 (padded or not) decoded, the bytes hashed', () => {
    // grpc-js pads binary metadata, grpc-go does not; the shard pickers hash the decoded bytes.
    const keys = [Buffer.from('a'), Buffer.from('ab'), Buffer.from('abc'), Buffer.from([0xff, 0x00, 0x80]), Buffer.from('{tag}x'), Buffer.alloc(0)];
    const cases: Array<[string, string]> = [];
    for (const k of keys) {
      const padded = k.toString('base64');
      const want = `pass ${keyBytesToShard(k, 1024)}`;
      cases.push([`{{"x-cache-key-bin", ${JSON.stringify(padded)}}}`, want]);
      cases.push([`{{"x-cache-key-bin", ${JSON.stringify(padded.replace(/=+$/, ''))}}}`, want]);
    }
    for (const bad of ['a', 'YQ=', 'Y Q==', 'YQ-_', 'YQ==,Yg==', 'Y===', '@@@@']) {
      cases.push([`{{"x-cache-key-bin", ${JSON.stringify(bad)}}}`, '400 text/plain x-cache-key-bin must be base64 (gRPC binary metadata)|']);
    }
    const out = runLua(1024, `${FAKE_HANDLE}\n${cases.map(([h]) => `run(${h})`).join('\n')}`, 'x-cache-key-bin');
    cases.forEach(([h, want], i) => assert.equal(out[i], want, h));
  });

  test('S = 1 accepts only "0"; the key header name is the setting', () => {
    const out = runLua(1, `${FAKE_HANDLE}\nrun({{"x-cache-shard", "0"}})\nrun({{"x-cache-shard", "1"}})\nrun({{"x-key", "abc"}})\nrun({{"x-cache-key", "abc"}})`, 'x-key');
    assert.deepEqual(out, ['pass 0', '400 text/plain x-cache-shard must be an integer in [0, 1)|', 'pass 0', 'pass -']);
  });
});
