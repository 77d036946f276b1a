// The `-bin` key header's base64 decoder in keyway's Lua filter (src/xds/translator/envoy-key-shard.ts),
// run WITHOUT Envoy by LuaJIT (the Lua Envoy embeds), against two references on the same inputs:
// - the decoder the filter ran before (unbase64-reference.ts, verbatim): the same bytes, or the same
//   refusal, for every input;
// - the endpoint picker's TypeScript decoder (src/extproc/pick.ts, `decodeBinaryValue`): the same
//   bytes, or the same refusal; and through pickEndpoints, the 400 or the shard of those bytes.
// Inputs: every string of up to 5 characters over small alphabets of base64 letters (some with bits
// past the last whole byte), `=`, and bytes that are not base64; base64 of random bytes, padded and
// not, with the last letter replaced; those with a character replaced, inserted, removed or padded;
// random bytes; and 60 KiB values (Envoy's header limit) with a bad character at each step of the
// decoder. Needs `luajit` (scripts/install-luajit.sh): skipped without it, an error with
// KEYWAY_REQUIRE_E2E=1 (CI).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ServingView } from '../../../src/core/serving.js';
import { pickEndpoints, pickTable, type HeaderText } from '../../../src/extproc/index.js';
import { decodeBinaryValue } from '../../../src/extproc/pick.js';
import { keyBytesToShard } from '../../../src/sharding/index.js';
import { badBinaryKeyMessage, keyShardLuaScript } from '../../../src/xds/translator/index.js';
import { REFERENCE_UNBASE64_LUA } from './unbase64-reference.js';
import { fourNodeView } from '../../extproc/three-nodes.js';
import { luajitSkipReason } from '../../support/luajit.js';
import { Rng } from '../../support/seeded-random.js';

const KEY_HEADER = 'x-cache-key-bin';
/** Many shards, so two different byte strings rarely share one: the picker's answer tells them apart. */
const S = 65536;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** What is not base64 but a client may send: URL-safe letters, blanks, a join comma, control and high bytes. */
const NOT_BASE64 = ['-', '_', ' ', '\t', ',', '*', '.', '\0', '\n', '\x7f', '\x80', '\xff', '\xe9'];



/** Every string of length 0 to `max` over `chars` (each char one byte, latin1). */
function allStrings(chars: readonly string[], max: number): string[] {
  const out = [''];
  let level = [''];
  for (let len = 1; len <= max; len++) {
    level = level.flatMap((p) => chars.map((c) => p + c));
    out.push(...level);
  }
  return out;
}

/** The inputs, as latin1 strings (one char per header byte). */
function inputs(): string[] {
  const rand = new Rng(20261207);
  const r = (n: number): number => rand.int(n);
  const pick = (s: string | readonly string[]): string => s[r(s.length)]!;
  const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => r(256)));
  const set = new Set<string>();
  // A (0) and w (48) end a value cleanly; Q (16), 9 (61) and / (63) leave bits past the last byte.
  for (const s of allStrings(['A', 'Q', 'w', '9', '/', '=', '-', '\xff'], 5)) set.add(s);
  for (const s of allStrings(['A', 'g', '+', '=', ' ', ',', '_', '\0', '\x80', '*', 'Z', '5'], 4)) set.add(s);
  const valid: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const padded = randomBytes(r(220)).toString('base64');
    const unpadded = padded.replace(/=+$/, '');
    valid.push(padded, unpadded);
    // Any last letter: the bits it carries past the last byte are not the encoder's zeros.
    if (unpadded.length > 0) valid.push(unpadded.slice(0, -1) + pick(ALPHABET) + padded.slice(unpadded.length));
  }
  for (const v of valid) {
    set.add(v);
    const at = r(v.length + 1);
    const bad = r(3) === 0 ? '=' : pick(NOT_BASE64);
    set.add(v.slice(0, at) + bad + v.slice(at + 1)); // replaced
    set.add(v.slice(0, at) + pick(r(2) === 0 ? ALPHABET : NOT_BASE64) + v.slice(at)); // inserted
    set.add(v.slice(0, at) + v.slice(at + 1)); // removed
    set.add(v + pick(['=', '==', '===', 'A=', 'A==']));
  }
  for (let i = 0; i < 2000; i++) set.add(randomBytes(r(40)).toString('latin1'));
  // 60 KiB values: 61440 characters of base64, then one bad character in the 16-character steps,
  // the 4-character steps and the last 2 or 3 characters of each length.
  for (const len of [61440, 61439, 61438, 61437, 61436, 61426]) {
    const v = randomBytes(46080).toString('base64').slice(0, len);
    set.add(v);
    const n = v.length;
    for (const at of [0, 7, 30000, n - n % 16 - 1, n - n % 16, n - n % 4 - 1, n - n % 4, n - 2, n - 1]) {
      if (at >= 0 && at < n) set.add(v.slice(0, at) + pick(NOT_BASE64) + v.slice(at + 1));
    }
  }
  return [...set];
}

/** What LuaJIT's two decoders make of each input: `[reference, served]`, hex bytes or undefined (nil). */
function luaDecode(values: readonly string[]): Array<[string | undefined, string | undefined]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-lua-b64-'));
  try {
    const script = path.join(dir, 'filter.lua');
    const data = path.join(dir, 'inputs.bin');
    const main = path.join(dir, 'main.lua');
    writeFileSync(script, keyShardLuaScript(S, KEY_HEADER));
    // Length-prefixed records: a value may hold any byte, a newline included.
    writeFileSync(data, Buffer.concat(values.flatMap((v) => [Buffer.from(`${v.length}\n`), Buffer.from(v, 'latin1')])));
    writeFileSync(
      main,
      `dofile(${JSON.stringify(script)})
${REFERENCE_UNBASE64_LUA}
local function hex(s)
  if s == nil then return "-" end
  return "x" .. s:gsub(".", function(c) return string.format("%02x", c:byte()) end)
end
local f = assert(io.open(${JSON.stringify(data)}, "rb"))
local all = f:read("*a")
f:close()
local pos = 1
while pos <= #all do
  local nl = all:find("\\n", pos, true)
  local len = tonumber(all:sub(pos, nl - 1))
  local s = all:sub(nl + 1, nl + len)
  pos = nl + len + 1
  io.write(hex(unbase64_reference(s)), " ", hex(unbase64(s)), "\\n")
end
`,
    );
    const r = spawnSync('luajit', [main], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    assert.equal(r.status, 0, `luajit failed: ${r.stderr}`);
    const lines = r.stdout.split('\n').slice(0, -1);
    assert.equal(lines.length, values.length, 'one answer per input');
    const field = (f: string): string | undefined => (f === '-' ? undefined : f.slice(1));
    return lines.map((l) => {
      const [a, b] = l.split(' ');
      return [field(a!), field(b!)];
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const view = (): ServingView => fourNodeView(S, 1, KEY_HEADER);

/** A short, readable name for an input in a failure message. */
function shown(v: string): string {
  return v.length > 80 ? `${JSON.stringify(v.slice(0, 40))}...(${v.length} bytes)` : JSON.stringify(v);
}

const skip = luajitSkipReason();

describe('the Lua filter decodes a -bin key header as before and as the endpoint picker does', { skip }, () => {
  test('the same bytes or the same refusal from the served decoder, the reference and the picker, on every generated input', () => {
    const values = inputs();
    const lua = luaDecode(values);
    const table = pickTable(view());
    const bad = badBinaryKeyMessage(KEY_HEADER);
    let accepted = 0;
    let refused = 0;
    values.forEach((v, i) => {
      const [reference, served] = lua[i]!;
      assert.equal(served, reference, `served decoder against the reference on ${shown(v)}`);
      const bytes = Buffer.from(v, 'latin1');
      // Envoy hands the picker a value as bytes (raw_value) or, for ASCII, as text: both are read.
      const forms: HeaderText[] = [new Uint8Array(bytes)];
      if (/^[\x20-\x7e]*$/.test(v)) forms.push(v);
      for (const form of forms) {
        const decoded = decodeBinaryValue(form);
        assert.equal(decoded === undefined ? undefined : Buffer.from(decoded).toString('hex'), served, `picker's decoder on ${shown(v)} (${typeof form})`);
        const d = pickEndpoints(table, (name) => (name === KEY_HEADER ? [form] : undefined), undefined);
        if (served === undefined) {
          assert.deepEqual(d, { kind: 'bad-request', status: 400, message: bad }, `picker on ${shown(v)} (${typeof form})`);
        } else {
          assert.equal(d.kind === 'route' ? d.shard : d.message, keyBytesToShard(Buffer.from(served, 'hex'), S), `picker on ${shown(v)} (${typeof form})`);
        }
      }
      if (served === undefined) refused++;
      else accepted++;
    });
    // Both outcomes are exercised in bulk, so agreement is not agreement on one answer.
    assert.ok(accepted > 5000 && refused > 5000, `accepted ${accepted}, refused ${refused}`);
  });

  test('a 60 KiB value is decoded with one string per 12 bytes, not one per byte', () => {
    // The served decoder builds 12 bytes per string.char call; the reference, one byte per call
    // (3.1 ms for a 60 KiB value). string.char is counted from before the script loads, as the
    // script keeps its own reference to it.
    const dir = mkdtempSync(path.join(tmpdir(), 'keyway-lua-b64-'));
    try {
      const script = path.join(dir, 'filter.lua');
      const main = path.join(dir, 'main.lua');
      writeFileSync(script, keyShardLuaScript(S, KEY_HEADER));
      const value = Buffer.from(Array.from({ length: 46080 }, (_, i) => (i * 7919) % 256)).toString('base64').slice(0, 61438);
      writeFileSync(
        main,
        `local real, calls = string.char, 0
string.char = function(...) calls = calls + 1; return real(...) end
dofile(${JSON.stringify(script)})
local out = unbase64(${JSON.stringify(value)})
print(#out, calls)
`,
      );
      const r = spawnSync('luajit', [main], { encoding: 'utf8' });
      assert.equal(r.status, 0, `luajit failed: ${r.stderr}`);
      const [bytes, calls] = r.stdout.trim().split('\t').map(Number);
      assert.equal(bytes, 46078);
      // 61438 characters: 3839 steps of 16, then 14 = 3 steps of 4 and a tail of 2.
      assert.equal(calls, 3839 + 3 + 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
