/**
 * `keyway check` against `keyway serve` on the same file: check rejects what serve rejects (exit 2,
 * file:line, no stack), and warns about what serve warns (`warning: ...` lines, exit 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { tempTopology } from '../serve/support.js';
import { checkCommand } from '../../src/cli/check.js';
import { CLI, runCli } from './support.js';

/** A stack trace line, as Node prints one. */
const STACK = /^\s+at /m;

/** Runs `keyway serve` on `file` until it listens (or exits); returns its warn-level log messages and exit code. */
async function serveOnce(file: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; warnings: string[] }> {
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', file, '--http-port', '0', '--xds-port', '0', '--host', '127.0.0.1'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const warnings: string[] = [];
  const exited = once(child, 'exit') as Promise<[number | null]>;
  const listening = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as { level: number; msg: string };
      if (rec.level === 40) warnings.push(rec.msg);
      if (rec.msg === 'listening') resolve();
    });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const first = await Promise.race([listening.then(() => 'listening' as const), exited.then(() => 'exited' as const)]);
  if (first === 'listening') child.kill('SIGTERM');
  const [code] = await exited;
  clearTimeout(timer);
  return { code, stderr, warnings };
}

test('check: a host name address is an error at its line, as in serve (exit 2)', async (t) => {
  const topo = await tempTopology('shards: 8\nreplicas: 1\nendpoints:\n  - id: a\n    address: cache-a.example\n    port: 80\n');
  t.after(() => topo.cleanup());
  const [check, serve] = await Promise.all([runCli(['check', '--config', topo.file]), serveOnce(topo.file)]);
  for (const [name, r] of [['check', check], ['serve', serve]] as const) {
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${topo.file}:5:5: endpoints[0].address: must be an IPv4 or IPv6 address`), `${name}: ${r.stderr}`);
  }
});

test('check and serve: YAML alias errors exit 2 with file:line and CONFIG_PARSE wording, no stack trace', async (t) => {
  const levels = ['  l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 10; i++) levels.push(`  l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
  const unknown = await tempTopology('shards: 8\nendpoints:\n  - *nope\n');
  const laughs = await tempTopology(`shards: 8\nendpoints: []\nbomb:\n${levels.join('\n')}\n`);
  t.after(() => Promise.all([unknown.cleanup(), laughs.cleanup()]));
  const runs = await Promise.all([
    runCli(['check', '--config', unknown.file]),
    serveOnce(unknown.file),
    runCli(['check', '--config', laughs.file]),
    serveOnce(laughs.file),
  ]);
  const expected = [`${unknown.file}:3:5: invalid YAML: unknown alias *nope`, `${unknown.file}:3:5: invalid YAML: unknown alias *nope`, `${laughs.file}:5:`, `${laughs.file}:5:`];
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, `run ${i}: ${r.stderr}`);
    assert.ok(r.stderr.includes(expected[i]!), `run ${i}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, STACK, `run ${i}: no stack trace`);
  });
});

test('check prints the warnings serve logs (replicas > eligible endpoints, two endpoints on one address:port), exit 0', async (t) => {
  const topo = await tempTopology(
    'shards: 8\nreplicas: 3\nendpoints:\n  - {id: a, address: 10.0.0.1, port: 80}\n  - {id: b, address: 10.0.0.1, port: 80}\n',
  );
  t.after(() => topo.cleanup());
  const [check, serve] = await Promise.all([runCli(['check', '--config', topo.file]), serveOnce(topo.file)]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /ok: 8 shards, 3 replicas, spread none, 2 endpoints, 2 warnings/);
  const printed = check.stderr.split('\n').filter((l) => l.startsWith('warning: ')).map((l) => l.slice('warning: '.length));
  assert.deepEqual(printed, [
    'only 2 eligible endpoints for 3 replicas: each shard has 2 owners',
    'translation: endpoint b shares address 10.0.0.1:80 with a; only a is listed',
  ]);
  // serve logs the shard-map warning when it computes the map (the translation one when a proxy
  // first connects): each of its warnings is one check printed, word for word.
  assert.equal(serve.code, 0, serve.stderr);
  assert.ok(serve.warnings.length > 0, 'serve warned');
  for (const w of serve.warnings) assert.ok(printed.includes(w), `serve's warning ${JSON.stringify(w)} is among check's`);
});

test('check and serve warn about the subset route shape from 4096 shards on, not below it or for the table shape', async (t) => {
  const endpoints = 'replicas: 1\nendpoints:\n  - {id: a, address: 10.0.0.1, port: 80}\n';
  const [large, below, table, kube] = await Promise.all([
    tempTopology(`shards: 4096\n${endpoints}`),
    tempTopology(`shards: 4095\n${endpoints}`),
    tempTopology(`shards: 16384\nenvoy:\n  routeShape: table\n${endpoints}`),
    tempTopology('shards: 4096\nkubernetes:\n  namespace: cache\n  services: [cache-node]\n'),
  ]);
  t.after(() => Promise.all([large, below, table, kube].map((f) => f.cleanup())));
  const noCluster = { KUBECONFIG: '/nonexistent/kubeconfig', KUBERNETES_SERVICE_HOST: '', KEYWAY_NAMESPACE: '' };
  const [checkLarge, serveLarge, checkBelow, checkTable, checkKube] = await Promise.all([
    runCli(['check', '--config', large.file]),
    serveOnce(large.file),
    runCli(['check', '--config', below.file]),
    runCli(['check', '--config', table.file]),
    runCli(['check', '--config', kube.file], noCluster),
  ]);
  const warnings = (r: { stderr: string }): string[] => r.stderr.split('\n').filter((l) => l.startsWith('warning: ')).map((l) => l.slice('warning: '.length));
  const [line] = warnings(checkLarge);
  assert.equal(checkLarge.code, 0, checkLarge.stderr);
  assert.match(line ?? '', /^shards: 4096 with envoy\.routeShape: subset: .*envoy\.routeShape: table takes the same changes in about 10 ms/);
  assert.equal(serveLarge.code, 0, serveLarge.stderr);
  assert.ok(serveLarge.warnings.includes(line!), `serve logs check's line: ${serveLarge.warnings.join(' | ')}`);
  assert.deepEqual(warnings(checkBelow), []);
  assert.deepEqual(warnings(checkTable), []);
  assert.deepEqual(warnings(checkKube), [line], 'a Kubernetes-fed file gets the settings warning too');
});

test('check on a kubernetes section validates it as serve does, without a cluster: `kubernetes: {}` is rejected by both', async (t) => {
  const empty = await tempTopology('kubernetes: {}\n');
  const good = await tempTopology('kubernetes:\n  namespace: cache\n  services: [cache-node]\n');
  t.after(() => Promise.all([empty.cleanup(), good.cleanup()]));
  // No cluster anywhere: an unreachable API server for serve, none needed by check.
  const noCluster = { KUBECONFIG: '/nonexistent/kubeconfig', KUBERNETES_SERVICE_HOST: '', KEYWAY_NAMESPACE: '' };
  const [checkEmpty, checkGood, serveEmpty] = await Promise.all([
    runCli(['check', '--config', empty.file], noCluster),
    runCli(['check', '--config', good.file], noCluster),
    serveOnce(empty.file, noCluster),
  ]);
  for (const [name, r] of [['check', checkEmpty], ['serve', serveEmpty]] as const) {
    assert.equal(r.code, 2, `${name}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`${empty.file}:1:1: kubernetes.services: is required`), `${name}: ${r.stderr}`);
  }
  assert.equal(checkGood.code, 0, checkGood.stderr);
  assert.match(checkGood.stdout, /ok: .*endpoints from Kubernetes/);
});

test('an unexpected failure inside check (stdout closed: EPIPE) is one line and exit 1, not a stack trace', async (t) => {
  const topo = await tempTopology('shards: 8\nreplicas: 1\nendpoints:\n  - {id: a, address: 10.0.0.1, port: 80}\n');
  t.after(() => topo.cleanup());
  let err = '';
  const code = await checkCommand(topo.file, {
    out: () => {
      throw Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
    },
    err: (s) => (err += s),
  });
  assert.equal(code, 1);
  assert.equal(err, `keyway check: ${topo.file}: internal error: write EPIPE\n`);
});

test('check lists the problems of a kubernetes section in file order, after the file\'s own', async (t) => {
  // `services` is missing (reported at the section, line 2) and `namespace` is bad (line 3): the
  // section's validator finds them in the other order.
  const topo = await tempTopology('shards: 8\nkubernetes:\n  namespace: Bad_NS\n  holdOffMs: -1\n');
  t.after(() => topo.cleanup());
  const r = await runCli(['check', '--config', topo.file], { KUBECONFIG: '/nonexistent/kubeconfig', KUBERNETES_SERVICE_HOST: '', KEYWAY_NAMESPACE: '' });
  assert.equal(r.code, 2, r.stderr);
  const places = r.stderr.trimEnd().split('\n').map((l) => {
    const m = new RegExp(`^${topo.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+):(\\d+): `).exec(l);
    assert.ok(m, l);
    return [Number(m[1]), Number(m[2])] as const;
  });
  assert.ok(places.length >= 3, r.stderr);
  const sorted = [...places].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.deepEqual(places, sorted, r.stderr);
});

test('check counts in the singular for one: 1 shard, 1 replica, 1 endpoint', async (t) => {
  const topo = await tempTopology('shards: 1\nreplicas: 1\nendpoints:\n  - {id: a, address: 10.0.0.1, port: 80}\n');
  t.after(() => topo.cleanup());
  let out = '';
  const code = await checkCommand(topo.file, { out: (s) => (out += s), err: () => {} });
  assert.equal(code, 0);
  assert.equal(out, `${topo.file}: ok: 1 shard, 1 replica, spread none, 1 endpoint\n`);
});
