/**
 * `keyway serve` as the CLI runs it (src/app/serve-command.ts): the admin token file's rule, and
 * signals that arrive while the start still waits for the Kubernetes API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { adminTokenProblem } from '../../src/app/serve-command.js';
import { token as cliToken } from '../../src/cli/commands/options.js';
import { UsageError } from '../../src/cli/args.js';
import { KubeApiServer } from '../support/kube-apiserver/index.js';
import { Cluster } from '../sources/kubernetes/harness.js';
import { NS, SERVICE } from '../sources/kubernetes/fixtures.js';
import { CLI, type CliRun } from '../cli/support.js';
import { tempTopology } from './support.js';

/** Ports and interfaces of every serve started here: free ports on loopback only. */
const LOOPBACK = ['--http-port', '0', '--xds-port', '0', '--ext-proc-port', 'off', '--host', '127.0.0.1', '--admin-host', '127.0.0.1'];

test('the admin token is visible ASCII: a control, space or non-ASCII character is refused with its position', () => {
  assert.equal(adminTokenProblem('Zm9v-._~+/=0123456789abcdefABCDEF!#$%&*^`|'), undefined);
  const printable = Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
  assert.equal(adminTokenProblem(printable), undefined);
  assert.match(adminTokenProblem('ab\x01cd')!, /; character 3 of the token is a control character$/);
  assert.match(adminTokenProblem('ab\x7fcd')!, /; character 3 of the token is a control character$/);
  assert.match(adminTokenProblem('tökén123')!, /^must hold one token of visible ASCII characters \(0x21-0x7e, .*\); character 2 of the token is not ASCII$/);
  assert.match(adminTokenProblem('abc def')!, /; character 4 of the token is white space$/);
  assert.match(adminTokenProblem('ab\u00a0cd')!, /; character 3 of the token is white space$/);
  assert.match(adminTokenProblem('😀x\u00e9')!, /; character 1 of the token is not ASCII$/, 'counted in characters, not UTF-16 units');
  assert.equal(adminTokenProblem(''), 'must hold a token, got an empty file');
});

test('keyway status --token takes exactly the tokens keyway serve takes from its file', () => {
  const chars = [...Array.from({ length: 0x180 }, (_, i) => String.fromCharCode(i)), '\u2028', '\u2603', '\u{1f600}'];
  for (const c of chars) {
    const t = `ab${c}cd`;
    let cli: boolean;
    try {
      cli = cliToken(t, {}) === t;
    } catch (err) {
      assert.ok(err instanceof UsageError);
      cli = false;
    }
    assert.equal(cli, adminTokenProblem(t) === undefined, `U+${c.codePointAt(0)!.toString(16).padStart(4, '0')}`);
  }
});

test('keyway serve refuses a token file no client could send: exit 1, the file and the position, never the token', async (t) => {
  const topo = await tempTopology('shards: 8\nendpoints: []\n');
  t.after(() => topo.cleanup());
  const files = { control: join(topo.dir, 'control'), wide: join(topo.dir, 'wide') };
  await writeFile(files.control, 'sekrit\x01cd\n');
  await writeFile(files.wide, 'sekr\u00eft123\n');
  const [control, wide] = await Promise.all([
    runServeBounded([...LOOPBACK, '--config', topo.file, '--admin-token-file', files.control]),
    runServeBounded([...LOOPBACK, '--config', topo.file], { KEYWAY_ADMIN_TOKEN_FILE: files.wide }),
  ]);
  assert.equal(control.code, 1, control.stderr);
  assert.match(control.stderr, new RegExp(`keyway: failed to start: --admin-token-file ${files.control}: must hold one token of visible ASCII characters .*; character 7 of the token is a control character\\n`));
  assert.equal(wide.code, 1, wide.stderr);
  assert.match(wide.stderr, /character 5 of the token is not ASCII\n/);
  for (const r of [control, wide]) {
    assert.doesNotMatch(r.stdout + r.stderr, /sekr/);
    assert.doesNotMatch(r.stdout, /"msg":"listening"/);
  }
});

/** Runs `keyway serve ARGS`; one still running after 20 s (it accepted what it should refuse) is killed. */
async function runServeBounded(args: readonly string[], env: NodeJS.ProcessEnv = {}, command = 'serve'): Promise<CliRun> {
  const child = spawn(process.execPath, [...CLI, command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A Kubernetes API on 127.0.0.1 that takes requests and answers none, and a kubeconfig file for it. */
async function silentKubernetesApi(dir: string): Promise<{ api: KubeApiServer; kubeconfig: string }> {
  const api = await KubeApiServer.start();
  await api.goDown('hang');
  const kubeconfig = join(dir, 'kubeconfig');
  // client-node takes an http:// server only with insecure-skip-tls-verify.
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: fake, cluster: {server: "${api.url}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: anonymous, user: {}}]',
      'contexts: [{name: fake, context: {cluster: fake, user: anonymous}}]',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return { api, kubeconfig };
}

interface Serving {
  readonly child: ChildProcessByStdio<null, Readable, Readable>;
  readonly exited: Promise<unknown[]>;
  /** Resolves with the first log record `msg` (rejects after 30 s or at an early exit). */
  logged(msg: string): Promise<Record<string, unknown>>;
  stderr(): string;
}

/** Spawns `keyway serve` on `topology` with its Kubernetes API from `kubeconfig`. */
function spawnServe(topology: string, kubeconfig: string, t: { after(fn: () => void): void }): Serving {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBECONFIG: kubeconfig };
  // Outside a pod: the kubeconfig decides, and the REST API's default is loopback.
  delete env.KUBERNETES_SERVICE_HOST;
  delete env.KUBERNETES_SERVICE_PORT;
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', topology, ...LOOPBACK], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const records: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    records.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters) w();
  });
  const logged = (msg: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const rec = records.find((r) => r.msg === msg);
        if (!rec) return;
        done();
        resolve(rec);
      };
      const timer = setTimeout(() => (done(), reject(new Error(`no "${msg}" log line within 30 s; stderr: ${stderr}`))), 30_000);
      const early = (): void => (done(), reject(new Error(`keyway exited before logging "${msg}"; stderr: ${stderr}`)));
      const done = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
        child.off('exit', early);
      };
      waiters.add(check);
      child.once('exit', early);
      check();
    });
  return { child, exited, logged, stderr: () => stderr };
}

/** Resolves once `api` has received a request: the start is under way, waiting for its answer. */
async function firstRequest(api: KubeApiServer): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (api.requests.length === 0) {
    if (Date.now() > deadline) throw new Error('keyway sent the Kubernetes API no request within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const KUBERNETES_TOPOLOGY = 'shards: 16\nreplicas: 1\nkubernetes:\n  namespace: cache\n  services: [cache]\n';

test('SIGTERM or SIGINT while the start waits for the Kubernetes API: the start is abandoned, exit 0', async (t) => {
  const topo = await tempTopology(KUBERNETES_TOPOLOGY);
  const { api, kubeconfig } = await silentKubernetesApi(topo.dir);
  t.after(async () => {
    await api.close();
    await topo.cleanup();
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const serve = spawnServe(topo.file, kubeconfig, t);
    await firstRequest(api);
    const sent = Date.now();
    serve.child.kill(signal);
    const [code, killedBy] = await serve.exited;
    // Before: SIGTERM killed the process (143) after the handlers were never set.
    assert.deepEqual([code, killedBy], [0, null], `${signal}: ${serve.stderr()}`);
    assert.ok(Date.now() - sent < 10_000, `${signal}: exit within 10 s, not at the 60 s initial-sync timeout`);
    assert.equal((await serve.logged('signal during start-up: start abandoned')).signal, signal);
    api.requests.length = 0;
  }
});

test('SIGHUP while the start waits: keyway keeps starting and re-reads the file once it runs; SIGTERM then stops it', async (t) => {
  const topo = await tempTopology(KUBERNETES_TOPOLOGY);
  const { api, kubeconfig } = await silentKubernetesApi(topo.dir);
  t.after(async () => {
    await api.close();
    await topo.cleanup();
  });
  const serve = spawnServe(topo.file, kubeconfig, t);
  await firstRequest(api);
  serve.child.kill('SIGHUP');
  // Before: SIGHUP killed the process (129).
  await serve.logged('SIGHUP during start-up: the topology file is re-read once keyway runs');
  assert.equal(serve.child.exitCode, null);
  await api.comeUp();
  await serve.logged('listening');
  await serve.logged('SIGHUP: re-reading the topology file');
  serve.child.kill('SIGTERM');
  assert.deepEqual(await serve.exited, [0, null], serve.stderr());
  await serve.logged('stopped');
});

test('SIGTERM when nothing reads keyway\'s log any more (`keyway serve | head`): it still exits, 0', async (t) => {
  const topo = await tempTopology('shards: 8\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}]\n');
  t.after(() => topo.cleanup());
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', topo.file, ...LOOPBACK], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit');
  // Read until keyway listens, then go away as `head` does: the pipe's read end closes.
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      if (/"msg":"[^"]*listening/.test(line)) resolve();
    });
    child.once('exit', () => reject(new Error('keyway exited before it listened')));
  });
  child.stdout.destroy();
  child.kill('SIGTERM');
  // Before, pino's exit flush retried the failed write every 100 ms for ever.
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  assert.equal(signal, null, 'it exited by itself, not by the SIGKILL after 10 s');
  assert.equal(code, 0);
});

test('a second SIGTERM while the last spans are flushed to a collector that does not answer exits at once, 1', async (t) => {
  // A collector that takes every request and answers none: the flush at exit waits for it.
  const sockets = new Set<Socket>();
  const collector = createServer(() => {});
  collector.on('connection', (s) => (sockets.add(s), s.on('close', () => sockets.delete(s))));
  collector.listen(0, '127.0.0.1');
  await once(collector, 'listening');
  const topo = await tempTopology('shards: 8\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}]\n');
  t.after(async () => {
    for (const s of sockets) s.destroy();
    collector.close();
    await topo.cleanup();
  });
  const { port } = collector.address() as AddressInfo;
  const env = { ...process.env, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${port}/v1/traces`, OTEL_BSP_SCHEDULE_DELAY: '60000' };
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', topo.file, ...LOOPBACK], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit');
  const lines: string[] = [];
  const reading = createInterface({ input: child.stdout });
  reading.on('line', (line) => lines.push(line));
  const logged = async (pattern: RegExp): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (!lines.some((l) => pattern.test(l))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in the log: ${lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await logged(/"msg":"listening"/);
  // A change makes a trace whose spans wait in the batch queue until the exit's flush.
  await topo.write('shards: 8\nendpoints: [{id: a, address: 127.0.0.1, port: 7001}, {id: b, address: 127.0.0.1, port: 7002}]\n');
  await logged(/"endpoints":2,.*"msg":"shard map published"/);
  child.kill('SIGTERM');
  await logged(/"msg":"stopped"/);
  const sent = Date.now();
  child.kill('SIGTERM');
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  // Before, the second signal went unheard: the flush held the exit for its 5 s, then exit 0.
  assert.ok(Date.now() - sent < 2500, `exited ${Date.now() - sent} ms after the second signal`);
  assert.deepEqual([code, signal], [1, null]);
});

test('Kubernetes endpoints past the work budget at start: exit 1, failed to start, not an invalid topology file (keyway check accepts the file)', async (t) => {
  const cluster = await Cluster.start();
  const topo = await tempTopology(`shards: 131072\nreplicas: 1\nkubernetes:\n  namespace: ${NS}\n  services: [${SERVICE}]\n  portName: cache\n`);
  t.after(async () => {
    await cluster.close();
    await topo.cleanup();
  });
  // 131072 x 1 x 1025 endpoints is past the 2^27 of the full computation's budget.
  cluster.node('n0', { zone: 'z0' });
  for (let i = 0; i < 1025; i++) cluster.addPod(`cache-${i}`, { node: 'n0', ip: `10.3.${i >> 8}.${i & 255}` }, false);
  cluster.publishSlice();
  const kubeconfig = join(topo.dir, 'kubeconfig');
  await writeFile(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: fake, cluster: {server: "${cluster.server.url}", insecure-skip-tls-verify: true}}]`,
      'users: [{name: anonymous, user: {}}]',
      'contexts: [{name: fake, context: {cluster: fake, user: anonymous}}]',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  const env: NodeJS.ProcessEnv = { KUBECONFIG: kubeconfig, KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' };
  const [serve, check] = await Promise.all([runServeBounded([...LOOPBACK, '--config', topo.file], env), runServeBounded(['--config', topo.file], {}, 'check')]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(serve.stderr, /keyway: failed to start: shards: shards x replicas x endpoints = 131072 x 1 x 1025 = \d+ exceeds the work budget/, serve.stderr);
  assert.doesNotMatch(serve.stderr, /invalid topology file/);
  assert.equal(serve.code, 1);
});

test('keyway serve refuses a malformed duration variable as a setting, not as a bad topology file: exit 1, the variable named', async (t) => {
  const topo = await tempTopology('shards: 8\nendpoints: []\n');
  t.after(() => topo.cleanup());
  const runs = await Promise.all([
    runServeBounded([...LOOPBACK, '--config', topo.file], { KEYWAY_ADMIN_WRITE_STALL_MS: '60s' }),
    runServeBounded([...LOOPBACK, '--config', topo.file], { KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS: '3000000000' }),
    runServeBounded([...LOOPBACK, '--config', topo.file], { KEYWAY_XDS_MAX_STREAMS: '-1' }),
  ]);
  for (const [r, variable] of [[runs[0]!, 'KEYWAY_ADMIN_WRITE_STALL_MS'], [runs[1]!, 'KEYWAY_XDS_GRPC_STAGE_TIMEOUT_MS'], [runs[2]!, 'KEYWAY_XDS_MAX_STREAMS']] as const) {
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`keyway: failed to start: ${variable} must be`));
    assert.doesNotMatch(r.stderr, /invalid topology file/);
  }
});
