/**
 * `npm run demo`: the whole thing on one machine, in one command. It
 *   1. installs Envoy into .venv if it is missing (scripts/install-envoy.sh, pinned) and builds
 *      keyway if dist/ is missing;
 *   2. writes a temporary copy of examples/topology.yaml where each of the eight nodes listens on
 *      127.0.0.1 and a free port (ids, localities and weights unchanged), and Envoy's listener is
 *      the one chosen below;
 *   3. starts `keyway serve` on it (REST :8080, xDS :18000), the eight example cache nodes
 *      (examples/cache-node, in this process), and Envoy with examples/envoy-bootstrap.yaml pointed
 *      at keyway's xDS port (listener :10000, admin :9901);
 *   4. waits (bounded) until Envoy routes, sends a few requests by key (only `x-cache-key`: Envoy's
 *      Lua filter computes `x-cache-shard`; the expected shard comes from keyToShard) and prints who served each, and one request
 *      with a wrong shard to show the cache node's 421;
 *   5. prints the URLs to look at and stays up until Ctrl-C (SIGINT/SIGTERM), then stops every
 *      child and removes its temporary directory.
 * A default port that is busy is replaced by a free one, and the output says so.
 *
 *   node --import tsx scripts/demo.ts [--once]      (--once, or KEYWAY_DEMO_ONCE=1: exit after printing)
 * Exit status: 0; 1 when something failed to start or a request missed its shard's primary; 2 bad usage.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDocument, parse as parseYaml, stringify } from 'yaml';
import { startCacheNodeServer, type RunningCacheNode } from '../examples/cache-node/server.js';
import { keyToShard } from '../src/sharding/index.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOPOLOGY = path.join(REPO, 'examples', 'topology.yaml');
const BOOTSTRAP = path.join(REPO, 'examples', 'envoy-bootstrap.yaml');
const ENVOY = process.env.KEYWAY_ENVOY || path.join(REPO, '.venv', 'bin', 'envoy');
const KEYWAY_BIN = path.join(REPO, 'bin', 'keyway.js');
const DIST_MAIN = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

/** The keys the demo asks for. */
const KEYS = ['user:42', 'user:{42}:emb', 'session:9f3a7c', 'model:llama-3-70b:layer:12', 'doc:1337', 'prompt:{tenant-7}:sys'];

/** How long each step may take before the demo gives up. */
const BOUNDS = { keyway: 30_000, envoyLive: 20_000, routes: 30_000, nodesKnowMap: 10_000 };

interface Endpoint {
  id: string;
  address: string;
  port: number;
}

const out = (line = ''): void => void process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------- ports

/** True when nothing listens on `port` (any interface). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '0.0.0.0', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port the kernel says is free now. */
function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '0.0.0.0', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const taken = new Set<number>();

/** `wanted` when it is free, else a free port, telling the user which and why. */
async function choosePort(wanted: number, what: string): Promise<number> {
  if (!taken.has(wanted) && (await portFree(wanted))) {
    taken.add(wanted);
    return wanted;
  }
  let port: number;
  do port = await anyFreePort();
  while (taken.has(port));
  taken.add(port);
  out(`note: port ${wanted} (${what}) is busy; using ${port} instead`);
  return port;
}

// ---------------------------------------------------------------- children

const children: { name: string; child: ChildProcess }[] = [];
/** Set once the demo is stopping (Ctrl-C during start-up included): no new child starts after it. */
let shuttingDown = false;

function running(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null;
}

function startChild(name: string, cmd: string, args: string[], logPath: string): ChildProcess {
  if (shuttingDown) throw new Error(`not starting ${name}: the demo is stopping`);
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  children.push({ name, child });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function stopChild(c: ChildProcess, graceMs = 5_000): Promise<void> {
  if (!running(c)) return;
  const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

// A last resort if the demo dies without its cleanup: no child outlives it.
process.once('exit', () => {
  for (const { child } of children) {
    if (running(child) && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
});

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------- HTTP

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET on its own connection (node:http: fetch() would send a request again after a 421). */
function get(url: string, headers: Record<string, string> = {}, timeoutMs = 3_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

/** Calls `probe` until it returns a value other than undefined; a throw counts as "not yet". */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await sleep(150);
  }
}

// ---------------------------------------------------------------- the demo

async function prepare(): Promise<void> {
  if (!existsSync(ENVOY)) {
    out(`Envoy is not at ${path.relative(REPO, ENVOY)}: installing it (scripts/install-envoy.sh, pinned version) ...`);
    const r = spawnSync('bash', [path.join(REPO, 'scripts', 'install-envoy.sh')], { cwd: REPO, stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(ENVOY)) throw new Error('installing Envoy failed (scripts/install-envoy.sh); see above');
  }
  if (!existsSync(DIST_MAIN)) {
    out('dist/ is missing: building keyway (npm run build) ...');
    const r = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build failed; see above');
  }
}

interface Running {
  dir: string;
  nodes: RunningCacheNode[];
  keywayLog: string;
  envoyLog: string;
}

async function main(): Promise<number> {
  let once = process.env.KEYWAY_DEMO_ONCE === '1';
  try {
    const { values } = parseArgs({ options: { once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      out('usage: npm run demo [-- --once]   (--once or KEYWAY_DEMO_ONCE=1: exit after printing instead of waiting for Ctrl-C)');
      return 0;
    }
    once ||= values.once === true;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\nusage: npm run demo [-- --once]\n`);
    return 2;
  }

  const started = Date.now();
  await prepare();

  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-demo-'));
  const state: Running = { dir, nodes: [], keywayLog: path.join(dir, 'keyway.log'), envoyLog: path.join(dir, 'envoy.log') };
  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> =>
    (stopping ??= (async () => {
      shuttingDown = true;
      // Envoy first (no more traffic), then the nodes (no more polls), then keyway.
      for (const { child } of children.filter((c) => c.name === 'envoy')) await stopChild(child);
      await Promise.all(state.nodes.map((n) => n.close()));
      for (const { child } of children) await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    })());
  const onSignal = (signal: NodeJS.Signals): void => {
    out(`\n${signal}: stopping Envoy, the cache nodes and keyway ...`);
    void stopAll().then(() => {
      out('stopped; temporary files removed.');
      process.exit(0);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Ports: the README's defaults when free.
    const httpPort = await choosePort(8080, 'keyway REST');
    const xdsPort = await choosePort(18000, 'keyway xDS');
    const listenerPort = await choosePort(10000, 'Envoy cache listener');
    const adminPort = await choosePort(9901, 'Envoy admin');

    // The example topology, with every node on 127.0.0.1 and a free port (comments kept).
    const doc = parseDocument(readFileSync(TOPOLOGY, 'utf8'));
    const endpoints = (doc.toJS() as { endpoints: Endpoint[] }).endpoints;
    for (const [i, e] of endpoints.entries()) {
      e.address = '127.0.0.1';
      e.port = await choosePort(e.port, `cache node ${e.id}`);
      doc.setIn(['endpoints', i, 'address'], e.address);
      doc.setIn(['endpoints', i, 'port'], e.port);
    }
    doc.setIn(['envoy', 'listenerPort'], listenerPort);
    const topologyPath = path.join(dir, 'topology.yaml');
    writeFileSync(topologyPath, doc.toString());

    // keyway
    const keyway = startChild(
      'keyway',
      process.execPath,
      [KEYWAY_BIN, 'serve', '--config', topologyPath, '--http-port', String(httpPort), '--xds-port', String(xdsPort), '--host', '127.0.0.1'],
      state.keywayLog,
    );
    const keywayUrl = `http://127.0.0.1:${httpPort}`;
    await waitFor('keyway to be ready (GET /readyz)', BOUNDS.keyway, async () => {
      if (!running(keyway)) throw new Error(`keyway exited with ${keyway.exitCode ?? keyway.signalCode}`);
      return (await get(`${keywayUrl}/readyz`)).status === 200 ? true : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- keyway log ---\n${tail(state.keywayLog)}`);
    });
    const map = JSON.parse((await get(`${keywayUrl}/v1/shardmap`)).body) as { shardCount: number; replicas: number; version: string };

    // The eight cache nodes, in this process.
    for (const e of endpoints) {
      state.nodes.push(await startCacheNodeServer({ id: e.id, host: '127.0.0.1', port: e.port, keywayUrl, pollIntervalMs: 1_000 }));
    }

    // Envoy: the shipped bootstrap, pointed at keyway's xDS port, admin on its port.
    const bootstrap = parseYaml(readFileSync(BOOTSTRAP, 'utf8')) as {
      static_resources: { clusters: { load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] } }[] };
      admin: { address: { socket_address: { port_value: number } } };
    };
    bootstrap.static_resources.clusters[0]!.load_assignment.endpoints[0]!.lb_endpoints[0]!.endpoint.address.socket_address.port_value = xdsPort;
    bootstrap.admin.address.socket_address.port_value = adminPort;
    const bootstrapPath = path.join(dir, 'envoy-bootstrap.yaml');
    writeFileSync(bootstrapPath, stringify(bootstrap));
    const envoyStarted = Date.now();
    const envoy = startChild(
      'envoy',
      ENVOY,
      ['-c', bootstrapPath, '--disable-hot-restart', '--concurrency', '1', '--log-level', 'warning'],
      state.envoyLog,
    );
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const listenerUrl = `http://127.0.0.1:${listenerPort}`;
    const envoyFailed = (err: Error): never => {
      throw new Error(`${err.message}\n--- Envoy log ---\n${tail(state.envoyLog)}`);
    };
    await waitFor('Envoy to be LIVE (admin /ready)', BOUNDS.envoyLive, async () => {
      if (!running(envoy)) throw new Error(`Envoy exited with ${envoy.exitCode ?? envoy.signalCode}`);
      return (await get(`${adminUrl}/ready`)).status === 200 ? true : undefined;
    }).catch(envoyFailed);

    // Owners of each key's shard, by keyway's own lookup.
    const lookups = await Promise.all(
      KEYS.map(async (key) => {
        const shard = keyToShard(key, map.shardCount);
        const body = JSON.parse((await get(`${keywayUrl}/v1/lookup?key=${encodeURIComponent(key)}`)).body) as { shard: number; owners: string[] };
        if (body.shard !== shard) throw new Error(`keyway says ${key} is in shard ${body.shard}, keyToShard says ${shard}`);
        return { key, shard, owners: body.owners };
      }),
    );
    // By key only: Envoy's Lua filter computes x-cache-shard (docs/xds.md). `shard` overrides it.
    const send = (key: string, shard?: number) =>
      get(`${listenerUrl}/kv/${encodeURIComponent(key)}`, shard === undefined ? { 'x-cache-key': key } : { 'x-cache-shard': String(shard), 'x-cache-key': key });

    // Envoy routes once it has the listener and the endpoints have passed their first health check:
    // wait until the first key reaches its primary.
    const first = lookups[0]!;
    await waitFor(`Envoy to route ${first.key} (shard ${first.shard}) to its primary ${first.owners[0]}`, BOUNDS.routes, async () => {
      if (!running(envoy)) throw new Error(`Envoy exited with ${envoy.exitCode ?? envoy.signalCode}`);
      const a = await send(first.key);
      return a.status === 200 && a.headers['x-served-by'] === first.owners[0] ? true : undefined;
    }).catch(envoyFailed);
    // The nodes check key/shard pairs once they know S.
    await waitFor('every cache node to read the shard map', BOUNDS.nodesKnowMap, async () => (state.nodes.every((n) => n.ownership()) ? true : undefined));

    out();
    out(`keyway demo: ${endpoints.length} cache nodes, keyway and Envoy, up in ${((Date.now() - started) / 1000).toFixed(1)} s (Envoy routed ${((Date.now() - envoyStarted) / 1000).toFixed(1)} s after it started).`);
    out(`Shard map ${map.version}: S=${map.shardCount} shards, R=${map.replicas} owners each (examples/topology.yaml, every node on 127.0.0.1).`);
    out();
    out(`Requests through Envoy (${listenerUrl}) with only x-cache-key = key; Envoy computes the shard (keyToShard(key, ${map.shardCount})):`);
    const rows: string[][] = [['key', 'shard', 'owners (primary first)', 'served by', 'primary?', 'tier']];
    let misses = 0;
    for (const { key, shard, owners } of lookups) {
      let servedBy = '-';
      let tier = '-';
      let verdict: string;
      try {
        const a = await send(key);
        servedBy = String(a.headers['x-served-by'] ?? `(Envoy: HTTP ${a.status})`);
        tier = String(a.headers['x-cache-tier'] ?? '-');
        verdict = a.status === 200 && servedBy === owners[0] ? 'yes' : `NO (HTTP ${a.status})`;
      } catch (err) {
        verdict = `NO: ${(err as Error).message}`;
      }
      if (!verdict.startsWith('yes')) misses++;
      rows.push([key, String(shard), owners.join(', '), servedBy, verdict, tier]);
    }
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) out(`  ${r.map((cell, c) => (c === 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`.trimEnd());
    out(
      misses === 0
        ? `All ${lookups.length} requests were served by their shard's primary.`
        : `${misses} of ${lookups.length} requests were NOT served by their shard's primary (logs: ${dir}).`,
    );

    // A client whose hash is wrong: Envoy routes by the header, the node that gets it refuses.
    const wrong = (first.shard + 1) % map.shardCount;
    const bad = await send(first.key, wrong);
    let badMessage = bad.body;
    try {
      badMessage = (JSON.parse(bad.body) as { error: string }).error;
    } catch {
      // not JSON: print as is
    }
    out();
    out(`A client with a wrong hash: ${first.key} sent with x-cache-shard ${wrong} -> HTTP ${bad.status} from ${String(bad.headers['x-served-by'] ?? 'Envoy')}:`);
    out(`  ${badMessage}`);

    const node0 = state.nodes[0]!;
    out();
    out('Look at:');
    const urls: [string, string][] = [
      ['web view', `${keywayUrl}/`],
      ['shard map', `${keywayUrl}/v1/shardmap`],
      ['proxies (xDS sync)', `${keywayUrl}/v1/proxies`],
      ['keyway metrics', `${keywayUrl}/metrics`],
      ['Envoy admin', `${adminUrl}/`],
      ['Envoy clusters', `${adminUrl}/clusters`],
      [`cache node ${node0.id} metrics`, `${node0.url}/metrics`],
      [`cache node ${node0.id} ownership`, `${node0.url}/v1/ownership`],
    ];
    const w = Math.max(...urls.map(([k]) => k.length));
    for (const [k, u] of urls) out(`  ${k.padEnd(w)}  ${u}`);
    out(`  ${'try'.padEnd(w)}  curl -s -H 'x-cache-key: ${first.key}' ${listenerUrl}/kv/${first.key}`);
    out(`  ${'logs'.padEnd(w)}  ${state.keywayLog}, ${state.envoyLog}`);
    out();

    if (once) {
      await stopAll();
      out('--once: stopped everything.');
      return misses === 0 ? 0 : 1;
    }
    out('Running. Ctrl-C stops everything.');
    // Tell the user if a child dies while the demo is up.
    for (const { name, child } of children) {
      child.once('exit', (code, signal) => {
        if (stopping) return;
        out(`${name} exited (${code ?? signal}); stopping the demo. Last lines of its log:\n${tail(name === 'envoy' ? state.envoyLog : state.keywayLog)}`);
        void stopAll().then(() => process.exit(1));
      });
    }
    await new Promise<never>(() => {
      setInterval(() => {}, 1 << 30); // keeps the event loop alive until a signal
    });
    return 0;
  } catch (err) {
    process.stderr.write(`keyway demo: ${(err as Error).message}\n`);
    await stopAll();
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`keyway demo: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
