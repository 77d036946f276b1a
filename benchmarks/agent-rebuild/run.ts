/**
 * A map change that moves every shard, served to one ownership agent per node (docs/ownership.md
 * "Cost"): keyway before the sliced build (`--before TREE`, a tree of that commit) against this
 * tree, one child process per run (fleet.ts), variants alternated, `--repeats` runs each.
 *
 *   git -C /work/main archive 5563893 src proto package.json | tar -x -C /tmp/keyway-head
 *   ln -s /work/main/node_modules /tmp/keyway-head/node_modules
 *   node --import tsx benchmarks/agent-rebuild/run.ts --before /tmp/keyway-head [--nodes 2000] [--repeats 3] [--changes 3]
 *
 * Variants: `before` (that tree, `rebuild()` alone), `after-unsliced` (this tree, `rebuild()`
 * alone: the cheaper encoding without the slices), `after` (this tree, `prebuild()` in slices then
 * `rebuild()`, as the xDS stage serves a view). Per variant, over every change of every run: the
 * median and range of the wall time to serve the change, the CPU time, the longest stall of the
 * event loop and the slowest answer to a 127.0.0.1 HTTP request sent every 5 ms meanwhile. The
 * digests of what each change serves must agree between variants (same seed, same maps).
 */
import { fork } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    before: { type: 'string' },
    nodes: { type: 'string', default: '2000' },
    shards: { type: 'string', default: '65536' },
    replicas: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    changes: { type: 'string', default: '3' },
  },
});
if (!values.before) throw new Error('--before: a tree of keyway before the change (see the header)');
const here = fileURLToPath(new URL('.', import.meta.url));
const variants = [
  { name: 'before', tree: values.before, variant: 'sync' },
  { name: 'after-unsliced', tree: fileURLToPath(new URL('../..', import.meta.url)), variant: 'sync' },
  { name: 'after', tree: fileURLToPath(new URL('../..', import.meta.url)), variant: 'sliced' },
];

interface Change {
  change: number;
  wallMs: number;
  cpuMs: number;
  stallMs: number;
  probes: { count: number; maxMs: number };
  changed: number;
  digest: string;
}

/** Sends GET / every 5 ms (one at a time) until stopped; the slowest answer and how many. */
function prober(port: number): { stop(): Promise<{ count: number; maxMs: number }> } {
  let running = true;
  let count = 0;
  let maxMs = 0;
  const done = (async () => {
    while (running) {
      const t = performance.now();
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end();
      });
      maxMs = Math.max(maxMs, performance.now() - t);
      count++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { count, maxMs };
    },
  };
}

function runOnce(v: (typeof variants)[number], seed: number): Promise<Change[]> {
  return new Promise((resolve, reject) => {
    const child = fork(
      `${here}fleet.ts`,
      ['--tree', v.tree, '--variant', v.variant, '--nodes', values.nodes!, '--shards', values.shards!, '--replicas', values.replicas!, '--changes', values.changes!, '--seed', String(seed)],
      { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
    );
    let out = '';
    let probing: ReturnType<typeof prober> | undefined;
    child.stdout!.on('data', (d) => (out += d));
    child.on('message', (m: { probe: string; port?: number }) => {
      if (m.probe === 'start') {
        probing = prober(m.port!);
        child.send('go');
      } else void probing!.stop().then((p) => child.send(p));
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${v.name}: exit ${code}`));
      resolve(out.trim().split('\n').map((l) => JSON.parse(l) as Change));
    });
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (xs: number[]): string => `${median(xs).toFixed(0)} (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;

const results = new Map<string, Change[]>(variants.map((v) => [v.name, []]));
const digests = new Map<string, Set<string>>();
for (let rep = 1; rep <= Number(values.repeats); rep++) {
  // Alternated, and the order turned each repeat, so no variant always runs first.
  const order = variants.map((_, i) => variants[(i + rep) % variants.length]!);
  for (const v of order) {
    const changes = await runOnce(v, rep);
    results.get(v.name)!.push(...changes);
    for (const c of changes) {
      const key = `${rep}/${c.change}`;
      if (!digests.has(key)) digests.set(key, new Set());
      digests.get(key)!.add(c.digest);
    }
    console.error(`repeat ${rep} ${v.name}: ${changes.map((c) => `${c.wallMs.toFixed(0)} ms wall, ${c.stallMs.toFixed(0)} ms stall`).join('; ')}`);
  }
}
const mismatched = [...digests].filter(([, d]) => d.size !== 1).map(([k]) => k);
console.log(`nodes ${values.nodes}, S = ${values.shards}, R = ${values.replicas}; ${values.repeats} runs x ${values.changes} changes per variant; digests ${mismatched.length === 0 ? 'equal in every change' : `DIFFER in ${mismatched.join(', ')}`}`);
console.log('| variant | wall ms to serve (median, min-max) | CPU ms | longest event-loop stall, ms | slowest probe answer, ms | probes answered | classes changed |');
console.log('|---|---|---|---|---|---|---|');
for (const [name, cs] of results) {
  console.log(
    `| ${name} | ${fmt(cs.map((c) => c.wallMs))} | ${fmt(cs.map((c) => c.cpuMs))} | ${fmt(cs.map((c) => c.stallMs))} | ${fmt(cs.map((c) => c.probes.maxMs))} | ${fmt(cs.map((c) => c.probes.count))} | ${median(cs.map((c) => c.changed))} |`,
  );
}
if (mismatched.length > 0) process.exitCode = 1;
