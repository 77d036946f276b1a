/**
 * What the Lua filter's base64 decoder for a `-bin` key header (gRPC binary metadata) costs, the
 * served one (16 characters a step, src/xds/translator/envoy-key-shard.ts) against the one it
 * replaced (a character a step, test/xds/translator/unbase64-reference.ts), under LuaJIT, the Lua
 * Envoy embeds, without Envoy: `node --import tsx benchmarks/lua-unbase64/run.ts`. Writes
 * benchmarks/results/lua-unbase64.json (--quick: lua-unbase64-quick.json) and prints the table
 * docs/benchmarks.md quotes.
 *
 * Values of 64, 1024 and 61440 characters of base64 (61440: Envoy's 60 KiB header limit), random
 * bytes, no padding needed. Each round times both decoders on each value, in alternating order
 * (old first in even rounds), each over a batch of calls (about 2 M characters decoded, after a
 * full GC), as CPU time (os.clock, so time the shared machine gives to others is not counted); a
 * warm-up batch of each runs first, so the JIT has compiled both. Per call: median over rounds with
 * min-max, the ratio of medians and the median of each round's ratio; for scale, what the script's
 * key_to_shard (tag rule and murmur3) costs on the decoded bytes, timed in the same rounds (with
 * "{" replaced, so the whole key is hashed: random bytes hold a tag). Run with the JIT on (as
 * Envoy runs scripts) and off (`luajit -joff`: the interpreter, should a build lack the JIT).
 * Checks first that both decoders give the same bytes for every value. ROUNDS: --rounds N
 * (default 15; --quick 3).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { keyShardLuaScript } from '../../src/xds/translator/index.js';
import { REFERENCE_UNBASE64_LUA } from '../../test/xds/translator/unbase64-reference.js';

const quick = process.argv.includes('--quick');
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : quick ? 3 : 15;
const LENGTHS = [64, 1024, 61440];
/** Characters decoded per timed batch: a batch lasts 5 to 100 ms here. */
const CHARS_PER_BATCH = 2_000_000;
const here = dirname(fileURLToPath(import.meta.url));

interface Sample {
  readonly length: number;
  readonly round: number;
  readonly variant: 'old' | 'new' | 'hash';
  readonly usPerCall: number;
}

function luaProgram(scriptPath: string): string {
  return `dofile(${JSON.stringify(scriptPath)})
${REFERENCE_UNBASE64_LUA}
local decoders = { old = unbase64_reference, new = unbase64 }
math.randomseed(7)
local A = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function value(len)
  local t = {}
  for i = 1, len do local r = math.random(1, 64); t[i] = A:sub(r, r) end
  return table.concat(t)
end
local function batch(f, s, calls)
  collectgarbage("collect")
  local t0 = os.clock()
  for _ = 1, calls do f(s) end
  return (os.clock() - t0) / calls * 1e6
end
for _, len in ipairs({${LENGTHS.join(', ')}}) do
  local s = value(len)
  local a, b = decoders.old(s), decoders.new(s)
  if a == nil or a ~= b or #a ~= len / 4 * 3 then error("the decoders differ on a value of " .. len) end
  local calls = math.ceil(${CHARS_PER_BATCH} / len)
  -- Without "{", so the tag rule keeps the whole key and murmur3 hashes every byte.
  local plain = a:gsub("{", "(")
  decoders.hash = function() return key_to_shard(plain) end
  batch(decoders.old, s, calls)
  batch(decoders.new, s, calls)
  batch(decoders.hash, s, calls)
  for round = 1, ${ROUNDS} do
    local order = round % 2 == 0 and { "old", "new", "hash" } or { "new", "old", "hash" }
    for _, v in ipairs(order) do
      print(string.format("%d %d %s %.4f", len, round, v, batch(decoders[v], s, calls)))
    end
  end
end
`;
}

function run(jit: boolean): Sample[] {
  const dir = mkdtempSync(join(os.tmpdir(), 'keyway-unbase64-bench-'));
  try {
    const script = join(dir, 'filter.lua');
    const main = join(dir, 'main.lua');
    writeFileSync(script, keyShardLuaScript(1024, 'x-cache-key-bin'));
    writeFileSync(main, luaProgram(script));
    const r = spawnSync('luajit', [...(jit ? [] : ['-joff']), main], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    if (r.error || r.status !== 0) throw new Error(`luajit failed (run scripts/install-luajit.sh): ${r.error?.message ?? r.stderr}`);
    return r.stdout
      .trim()
      .split('\n')
      .map((line) => {
        const [length, round, variant, us] = line.split(' ');
        return { length: Number(length), round: Number(round), variant: variant as Sample['variant'], usPerCall: Number(us) };
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: readonly number[]): string {
  const f = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  return `${f(median(xs))} (${f(Math.min(...xs))}-${f(Math.max(...xs))})`;
}

const luajitVersion = spawnSync('luajit', ['-v'], { encoding: 'utf8' }).stdout.trim();
const results: Record<string, unknown>[] = [];
console.log(`${luajitVersion}; ${ROUNDS} rounds; per call, µs CPU, median (min-max)\n`);
console.log('| LuaJIT | value (characters) | old: a character a step | new: 16 characters a step | old / new, of medians | old / new, median of rounds | for scale: key_to_shard of the decoded bytes |');
console.log('|---|---|---|---|---|---|---|');
for (const jit of [true, false]) {
  const samples = run(jit);
  for (const length of LENGTHS) {
    const of = (v: Sample['variant']) => samples.filter((s) => s.length === length && s.variant === v).sort((a, b) => a.round - b.round).map((s) => s.usPerCall);
    const old = of('old');
    const neu = of('new');
    const hash = of('hash');
    const paired = old.map((o, i) => o / neu[i]!);
    const row = { jit, length, oldUs: old, newUs: neu, hashUs: hash, ratioOfMedians: median(old) / median(neu), medianPairedRatio: median(paired) };
    results.push(row);
    console.log(`| ${jit ? 'JIT on' : '-joff'} | ${length} | ${spread(old)} | ${spread(neu)} | ${row.ratioOfMedians.toFixed(1)}x | ${row.medianPairedRatio.toFixed(1)}x | ${spread(hash)} |`);
  }
}

const out = join(here, '..', 'results', quick ? 'lua-unbase64-quick.json' : 'lua-unbase64.json');
mkdirSync(dirname(out), { recursive: true });
const cpus = os.cpus();
writeFileSync(
  out,
  `${JSON.stringify(
    {
      benchmark: 'lua-unbase64',
      date: new Date().toISOString(),
      command: `node --import tsx benchmarks/lua-unbase64/run.ts${quick ? ' --quick' : ''}${roundsArg > 0 ? ` --rounds ${ROUNDS}` : ''}`,
      machine: { cpus: cpus.length, model: cpus[0]?.model, node: process.version, loadavg: os.loadavg() },
      luajit: luajitVersion,
      rounds: ROUNDS,
      charsPerBatch: CHARS_PER_BATCH,
      results,
    },
    null,
    2,
  )}\n`,
);
console.log(`\nwrote ${out}`);
