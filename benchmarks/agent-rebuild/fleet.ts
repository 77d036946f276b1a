/**
 * One run of the agent-rebuild benchmark (started by run.ts, one child process per run): a fleet
 * of `--nodes` cache nodes, each with its ownership agent watching its own class, at S = `--shards`
 * and R = `--replicas`, then `--changes` map changes that each move every shard (the owners drawn
 * anew from a seeded permutation of the nodes). Each change is served as the xDS stage serves it:
 *
 * - `sync`: `cache.rebuild()` alone, the whole change in one turn (keyway before the sliced build;
 *   run with `--tree` at a tree of that keyway, or at this one for the rebuild alone);
 * - `sliced`: `cache.prebuild(...)` in 10 ms slices that yield to the event loop, then
 *   `cache.rebuild()` (src/app/xds-stage.ts).
 *
 * Measured per change: wall time until the change is served, the process's CPU time (user +
 * system, every thread) over it, the longest gap of a 1 ms interval timer (the longest stall of
 * the event loop) and how many 127.0.0.1 probes the parent answered meanwhile (the parent times
 * them, see run.ts). Printed as one JSON line per change, with a digest of every class's kind
 * versions and resource bytes, so before and after can be checked to serve the same.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', default: '.' },
    variant: { type: 'string', default: 'sliced' },
    nodes: { type: 'string', default: '2000' },
    shards: { type: 'string', default: '65536' },
    replicas: { type: 'string', default: '2' },
    changes: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
  },
});
const tree = resolve(values.tree);
const variant = values.variant;
if (variant !== 'sync' && variant !== 'sliced') throw new Error(`--variant: sync or sliced, got ${variant}`);
const N = Number(values.nodes);
const S = Number(values.shards);
const R = Number(values.replicas);

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any -- the two trees' modules, loaded by path
const cacheModule: Any = await import(pathToFileURL(join(tree, 'src/xds/cache/index.ts')).href);
const translator: Any = await import(pathToFileURL(join(tree, 'src/xds/translator/index.ts')).href);
const settings: Any = await import(pathToFileURL(join(tree, 'src/core/settings.ts')).href);

let seed = Number(values.seed) * 7919 + 17;
const rand = (n: number): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return (seed >>> 8) % n;
};
const endpoints = Array.from({ length: N }, (_, i) => ({
  id: `gpu-node-${String(i).padStart(5, '0')}`,
  address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 8080,
  locality: { region: 'r', zone: '', subzone: '' },
  weight: 1,
  ready: true,
}));
const policy = { shardCount: S, replicas: R, spread: 'none' };
const topology = { policy, endpoints, xds: settings.DEFAULT_XDS_SETTINGS };

/** A map whose owners of shard s are a seeded permutation's nodes at (7s + 13r) mod N: every shard moves from one to the next. */
function mapOf(k: number): Any {
  const perm = endpoints.map((e) => e.id);
  for (let i = perm.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  const owners = Array.from({ length: S }, (_, s) => Array.from({ length: R }, (_, r) => perm[(s * 7 + r * 13) % N]!));
  return { version: `hand-${values.seed}-${k}`, policy, endpoints, owners, warnings: [] };
}

let input: Any = { shardMap: mapOf(0), topology };
let classInput = { of: input, input: { shardMap: input.shardMap } };
const cache: Any = new cacheModule.SnapshotCache({
  build: (c: Any) => translator.translate(input, c),
  checkConsistency: translator.checkConsistency,
  servedClass: (c: Any) => {
    if (classInput.of !== input) classInput = { of: input, input: { shardMap: input.shardMap } };
    return translator.effectiveProxyClass(c, classInput.input);
  },
});
const classes = endpoints.map((e) => ({ flavor: 'agent', zone: '', subzone: '', node: e.id }));
for (const c of classes) cache.watch(c, 'assignment', () => {});

/** Every class's kind versions and every resource's bytes, hashed. */
function digest(): string {
  const hash = createHash('sha256');
  for (const c of [...cache.classes()].sort((a: Any, b: Any) => (a.classKey < b.classKey ? -1 : 1))) {
    hash.update(`${c.classKey}\0${c.snapshot?.version}\n`);
    for (const r of c.snapshot.kinds.assignment.resources.values()) hash.update(r.name).update(r.version).update(r.bytes);
  }
  return hash.digest('hex').slice(0, 16);
}

// The parent probes this server while a change is served (how long a /readyz-like request waits).
const server = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as { port: number }).port;
// Run alone (no parent), there is no one to probe: the figures come without probes.
const ask = (msg: object): Promise<Any> =>
  new Promise((r) => {
    if (!process.send) return r(null);
    process.send(msg);
    process.once('message', r);
  });

for (let k = 1; k <= Number(values.changes); k++) {
  const next = { shardMap: mapOf(k), topology };
  await ask({ probe: 'start', port });
  let last = performance.now();
  let longest = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, 1);
  // Let the timer and the probes run before the change starts.
  await new Promise((r) => setTimeout(r, 20));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  last = t0;
  if (variant === 'sliced') {
    const ahead = cache.prebuild((c: Any) => translator.translate(next, c));
    if (ahead) await ahead;
  }
  input = next;
  const report = cache.rebuild();
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  longest = Math.max(longest, performance.now() - last);
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  const probes = await ask({ probe: 'stop' });
  const changed = report.classes.filter((c: Any) => c.changed.length > 0).length;
  console.log(JSON.stringify({ change: k, variant, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, stallMs: longest, ticks, changed, probes, digest: digest() }));
}
server.close();
process.disconnect?.();
