/**
 * Calls stock proxyless gRPC clients lose across a node join and a node loss, with keyway's
 * make-before-break for gRPC (docs/xds.md "Make-before-break for stock gRPC clients") and without it
 * (KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS=0, the former behaviour), side by side: the scenario of
 * test/integration/grpc-make-before-break.test.ts (real @grpc/grpc-js-xds, grpc-go and python grpcio
 * clients, half wait-for-ready and half fail-fast, calling without pause), run `--rounds` times per mode.
 *
 *   npm run bench:grpcmbb -- [--rounds 3] [--quick]
 *
 * Prints per client and mode the failed calls per round, their median and range, and the calls made;
 * writes benchmarks/results/grpc-mbb.json. `--quick` runs one round (writes grpc-mbb-quick.json).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GRPC_STAGE_TIMEOUT_ENV, DEFAULT_GRPC_STAGE_TIMEOUT_MS } from '../../src/app/grpc-stager.js';
import { joinAndLoss, type ScenarioResult } from '../../test/integration/support/mbb-scenario.js';

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');
const MODES = [
  { name: 'switch at once (timeout 0)', timeoutMs: 0 },
  { name: 'make-before-break', timeoutMs: DEFAULT_GRPC_STAGE_TIMEOUT_MS },
] as const;

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function round(timeoutMs: number): Promise<ScenarioResult> {
  process.env[GRPC_STAGE_TIMEOUT_ENV] = String(timeoutMs); // read when the xDS stage starts
  const cleanups: (() => unknown)[] = [];
  try {
    return await joinAndLoss({ after: (fn: () => unknown) => void cleanups.push(fn) } as never, { require: false, note: (m) => console.error(m) });
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, quick: { type: 'boolean', default: false } } });
  const rounds = values.quick ? 1 : Number(values.rounds);
  // results[mode][language] = per round {ok, failed}
  const results: Record<string, Record<string, { ok: number; failed: number; errors: Record<string, number> }[]>> = {};
  for (let r = 0; r < rounds; r++) {
    for (const mode of MODES) {
      const totals = await round(mode.timeoutMs);
      for (const [language, rep] of totals) ((results[mode.name] ??= {})[language] ??= []).push({ ok: rep.ok, failed: rep.failed, errors: rep.errors });
      console.error(`round ${r + 1} ${mode.name}: ${[...totals].map(([l, t]) => `${l} ${t.failed} failed of ${t.ok + t.failed}`).join(', ')}`);
    }
  }
  console.log(`\n| Client | Mode | Failed calls per round | Median failed | Range | Median calls |`);
  console.log('|---|---|---|---|---|---|');
  const languages = [...new Set(Object.values(results).flatMap((m) => Object.keys(m)))];
  for (const language of languages) {
    for (const mode of MODES) {
      const runs = results[mode.name]?.[language] ?? [];
      const failed = runs.map((x) => x.failed);
      console.log(`| ${language} | ${mode.name} | ${failed.join(', ')} | ${median(failed)} | ${Math.min(...failed)}-${Math.max(...failed)} | ${median(runs.map((x) => x.ok + x.failed))} |`);
    }
  }
  // --quick keeps a file of its own, so a smoke run leaves the quoted figures' file alone.
  const RESULTS = path.join(RESULTS_DIR, values.quick ? 'grpc-mbb-quick.json' : 'grpc-mbb.json');
  writeFileSync(RESULTS, `${JSON.stringify({ rounds, modes: MODES, results }, null, 2)}\n`);
  console.log(`\nwrote ${path.relative(process.cwd(), RESULTS)}`);
  process.exit(0); // the in-process keyway's timers are closed; grpc-js may keep a channel timer
}

await main();
