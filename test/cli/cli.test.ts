import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { anyAddress, parseCommand, UsageError } from '../../src/cli/args.js';
import { runClientCommand } from '../../src/cli/commands/index.js';
import { captureIo } from './commands/fake-server.js';
import { tempTopology } from '../serve/support.js';
import { CLI, runCli } from './support.js';


const run = runCli;

test('keyway serve on the example: logs the bound port, serves the map, exits 0 on SIGTERM', async (t) => {
  const child = spawn(
    process.execPath,
    [...CLI, 'serve', '--config', 'examples/topology.yaml', '--http-port', '0', '--host', '127.0.0.1', '--xds-port', '0'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const records: Record<string, unknown>[] = [];
  const lines = createInterface({ input: child.stdout });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "listening" line within 60 s; stderr: ${stderr}`)), 60_000);
    lines.on('line', (line) => {
      const rec = JSON.parse(line) as Record<string, unknown>;
      records.push(rec);
      if (rec.msg === 'listening') {
        clearTimeout(timer);
        resolve(rec.httpPort as number);
      }
    });
    child.on('exit', (code) => reject(new Error(`keyway exited early with ${code}; stderr: ${stderr}`)));
  });
  assert.ok(port > 0);

  const res = await fetch(`http://127.0.0.1:${port}/v1/shardmap`);
  assert.equal(res.status, 200);
  const map = (await res.json()) as { shardCount: number; replicas: number; spread: string; shards: { owners: string[] }[]; endpoints: { id: string; shardsOwned: number }[] };
  assert.equal(map.shardCount, 1024);
  assert.equal(map.replicas, 2);
  assert.equal(map.spread, 'subzone');
  assert.equal(map.shards.length, 1024);
  assert.ok(map.shards.every((s) => s.owners.length === 2));
  assert.equal(map.endpoints.length, 8);
  // The heaviest node (gpu-b1, weight 141) owns the most shards.
  const top = [...map.endpoints].sort((a, b) => b.shardsOwned - a.shardsOwned)[0]!;
  assert.equal(top.id, 'gpu-b1');
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);

  child.kill('SIGTERM');
  const [code, signal] = (await exited) as [number | null, string | null];
  assert.equal(signal, null);
  assert.equal(code, 0, stderr);
  assert.ok(records.some((r) => r.msg === 'shutting down' && r.signal === 'SIGTERM'));
  assert.ok(records.every((r) => typeof r.level === 'number' && typeof r.time === 'number'), 'pino JSON lines');
});

test('keyway serve with an invalid file: located errors on stderr, exit 2', async (t) => {
  const topo = await tempTopology('shards: 8\nendpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 1\n    weight: -1\n  - id: a\n    address: 10.0.0.2\n    port: 2\n');
  t.after(() => topo.cleanup());
  const { code, stderr } = await run(['serve', '--config', topo.file, '--http-port', '0', '--host', '127.0.0.1']);
  assert.equal(code, 2);
  assert.ok(stderr.includes(`${topo.file}:6:5: endpoints[0].weight: must be a number >= 0, got -1`), stderr);
  assert.ok(stderr.includes(`${topo.file}:7:5: endpoints[1].id: duplicate endpoint id "a"`), stderr);
});

test('keyway --help prints usage and exits 0; a bad flag exits 2; check validates a file', async () => {
  // Independent processes: spawned side by side, checked in order.
  const [help, bad, ok] = await Promise.all([
    run(['--help']),
    run(['serve', '--config', 'examples/topology.yaml', '--http-port', 'eighty']),
    run(['check', '--config', 'examples/topology.yaml']),
  ]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /keyway serve --config FILE/);
  assert.match(help.stdout, /KEYWAY_HTTP_PORT/);

  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--http-port must be an integer from 0 to 65535, got "eighty"/);

  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok: 1024 shards, 2 replicas, spread subzone, 8 endpoints/);
});

test('flags win over environment variables, which win over defaults', () => {
  const base = ['serve', '--config', 'f.yaml'];
  assert.deepEqual(parseCommand(base, {}), {
    command: 'serve',
    config: 'f.yaml',
    httpPort: 8080,
    xdsPort: 18000,
    extProcPort: 9002,
    host: anyAddress(),
    adminHost: '127.0.0.1',
    logLevel: 'info',
  });
  const env = { KEYWAY_HTTP_PORT: '9090', KEYWAY_XDS_PORT: '19000', KEYWAY_LOG_LEVEL: 'debug' };
  assert.deepEqual(parseCommand(base, env), { command: 'serve', config: 'f.yaml', httpPort: 9090, xdsPort: 19000, extProcPort: 9002, host: anyAddress(), adminHost: '127.0.0.1', logLevel: 'debug' });
  assert.deepEqual(
    parseCommand([...base, '--http-port', '1', '--xds-port', '2', '--log-level', 'warn', '--host', '127.0.0.1'], env),
    { command: 'serve', config: 'f.yaml', httpPort: 1, xdsPort: 2, extProcPort: 9002, host: '127.0.0.1', adminHost: '127.0.0.1', logLevel: 'warn' },
  );
  assert.throws(() => parseCommand(base, { KEYWAY_XDS_PORT: '70000' }), UsageError);
  assert.throws(() => parseCommand(base, { KEYWAY_LOG_LEVEL: 'loud' }), /^UsageError: KEYWAY_LOG_LEVEL must be one of/);
  assert.throws(() => parseCommand(['serve'], {}), /--config FILE is required/);
  assert.throws(() => parseCommand(['deploy', '--config', 'f'], {}), /unknown command "deploy"/);
  assert.throws(() => parseCommand([...base, '--verbose'], {}), UsageError);
  assert.deepEqual(parseCommand([], {}), { command: 'help' });
});

test('a bad value from a variable is named by the variable, one from a flag by the flag', () => {
  const base = ['serve', '--config', 'f.yaml'];
  const sans = { KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: 'k', KEYWAY_XDS_TLS_CLIENT_CA: 'ca' };
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [[], { KEYWAY_HTTP_PORT: 'abc' }, /^KEYWAY_HTTP_PORT must be an integer from 0 to 65535, got "abc"$/],
    [[], { KEYWAY_XDS_PORT: '-1' }, /^KEYWAY_XDS_PORT must be an integer/],
    [[], { KEYWAY_EXT_PROC_PORT: 'on' }, /^KEYWAY_EXT_PROC_PORT must be an integer/],
    [[], { KEYWAY_LOG_LEVEL: 'loud' }, /^KEYWAY_LOG_LEVEL must be one of trace \| debug/],
    [[], { ...sans, KEYWAY_XDS_TLS_ALLOWED_SANS: ',' }, /^KEYWAY_XDS_TLS_ALLOWED_SANS holds no pattern, got ","/],
    [['--http-port', 'abc'], { KEYWAY_HTTP_PORT: '1' }, /^--http-port must be an integer/],
    [['--log-level', 'loud'], {}, /^--log-level must be one of/],
    [['--xds-tls-allowed-sans', ','], sans, /^--xds-tls-allowed-sans holds no pattern/],
  ];
  for (const [argv, env, message] of cases) {
    assert.throws(() => parseCommand([...base, ...argv], env), (err: unknown) => err instanceof UsageError && message.test(err.message), `${argv.join(' ')} ${JSON.stringify(env)}`);
  }
});

test('--ext-proc-port: default 9002, env and flag set it, 0 and off turn the picker off', () => {
  const serve = (argv: string[], env: NodeJS.ProcessEnv) =>
    parseCommand(['serve', '--config', 'f.yaml', ...argv], env) as Extract<ReturnType<typeof parseCommand>, { command: 'serve' }>;
  assert.equal(serve([], {}).extProcPort, 9002);
  assert.equal(serve([], { KEYWAY_EXT_PROC_PORT: '9100' }).extProcPort, 9100);
  assert.equal(serve(['--ext-proc-port', '9200'], { KEYWAY_EXT_PROC_PORT: '9100' }).extProcPort, 9200);
  assert.equal(serve(['--ext-proc-port', '0'], {}).extProcPort, undefined);
  assert.equal(serve(['--ext-proc-port', 'off'], {}).extProcPort, undefined);
  assert.equal(serve([], { KEYWAY_EXT_PROC_PORT: 'off' }).extProcPort, undefined);
  assert.throws(() => serve(['--ext-proc-port', 'on'], {}), /--ext-proc-port must be an integer/);
});

test('every interface means both address families where the host has IPv6', () => {
  assert.equal(anyAddress(true), '::');
  assert.equal(anyAddress(false), '0.0.0.0');
  // Linux lists /proc/net/if_inet6 exactly when its kernel has IPv6.
  if (process.platform === 'linux') assert.equal(anyAddress(), existsSync('/proc/net/if_inet6') ? '::' : '0.0.0.0');
});

test('the admin API binds loopback outside Kubernetes and every interface in a pod; --admin-host and the token file', () => {
  const base = ['serve', '--config', 'f.yaml'];
  const serve = (argv: string[], env: NodeJS.ProcessEnv) => parseCommand([...base, ...argv], env) as Extract<ReturnType<typeof parseCommand>, { command: 'serve' }>;
  assert.equal(serve([], {}).adminHost, '127.0.0.1');
  assert.equal(serve([], { KUBERNETES_SERVICE_HOST: '' }).adminHost, '127.0.0.1');
  assert.equal(serve([], { KUBERNETES_SERVICE_HOST: '10.96.0.1' }).adminHost, anyAddress());
  assert.equal(serve(['--host', '0.0.0.0'], {}).adminHost, '127.0.0.1', '--host moves xDS only');
  assert.equal(serve([], { KUBERNETES_SERVICE_HOST: '10.96.0.1', KEYWAY_ADMIN_HOST: '10.0.0.7' }).adminHost, '10.0.0.7');
  assert.equal(serve(['--admin-host', '::1'], { KEYWAY_ADMIN_HOST: '10.0.0.7' }).adminHost, '::1');
  assert.equal(serve([], {}).adminTokenFile, undefined);
  assert.equal(serve([], { KEYWAY_ADMIN_TOKEN_FILE: '/run/t' }).adminTokenFile, '/run/t');
  assert.equal(serve(['--admin-token-file', '/a'], { KEYWAY_ADMIN_TOKEN_FILE: '/run/t' }).adminTokenFile, '/a');
});

test('the xDS TLS flags come in meaningful combinations', () => {
  const base = ['serve', '--config', 'f.yaml'];
  const tls = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    (parseCommand([...base, ...argv], env) as Extract<ReturnType<typeof parseCommand>, { command: 'serve' }>).xdsTls;
  assert.equal(tls([]), undefined);
  assert.deepEqual(tls(['--xds-tls-cert', 'c', '--xds-tls-key', 'k']), { certFile: 'c', keyFile: 'k' });
  assert.deepEqual(tls([], { KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: 'k', KEYWAY_XDS_TLS_CLIENT_CA: 'ca', KEYWAY_XDS_TLS_ALLOWED_SANS: ' envoy-*, spiffe://td/ns/x/* ,' }), {
    certFile: 'c',
    keyFile: 'k',
    clientCaFile: 'ca',
    allowedSans: ['envoy-*', 'spiffe://td/ns/x/*'],
  });
  assert.throws(() => tls(['--xds-tls-cert', 'c']), /--xds-tls-cert and --xds-tls-key go together/);
  assert.throws(() => tls(['--xds-tls-key', 'k']), /go together/);
  assert.throws(() => tls(['--xds-tls-client-ca', 'ca']), /--xds-tls-client-ca needs --xds-tls-cert/);
  assert.throws(() => tls(['--xds-tls-cert', 'c', '--xds-tls-key', 'k', '--xds-tls-allowed-sans', 'a']), /--xds-tls-allowed-sans needs --xds-tls-client-ca/);
});

test('an empty serve flag is a usage error naming it, never "not given" (which would turn a protection off)', () => {
  const serve = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommand(['serve', '--config', 'f.yaml', ...argv], env);
  const tls = ['--xds-tls-cert', 'c', '--xds-tls-key', 'k', '--xds-tls-client-ca', 'ca'];
  const cases: [string[], RegExp][] = [
    [['--admin-token-file', ''], /^--admin-token-file is given an empty value: give FILE, or leave the flag out to serve the REST API without a token$/],
    [['--xds-tls-client-ca', '', '--xds-tls-cert', 'c', '--xds-tls-key', 'k'], /^--xds-tls-client-ca is given an empty value/],
    [['--xds-tls-cert', '', '--xds-tls-key', ''], /^--xds-tls-cert is given an empty value: give FILE, or leave the flag out to serve xDS in plaintext$/],
    [['--xds-tls-cert', 'c', '--xds-tls-key', ''], /^--xds-tls-key is given an empty value/],
    [[...tls, '--xds-tls-allowed-sans', ''], /^--xds-tls-allowed-sans is given an empty value/],
    [['--admin-host', ''], /^--admin-host is given an empty value: give ADDR, or leave the flag out for the default, 127\.0\.0\.1 \(:: in Kubernetes\)$/],
    [['--host', ''], /^--host is given an empty value: give ADDR, or leave the flag out for the default, :: \(0\.0\.0\.0 without IPv6\)$/],
    [['--http-port', ''], /^--http-port is given an empty value/],
    [['--xds-port', ''], /^--xds-port is given an empty value/],
    [['--ext-proc-port', ''], /^--ext-proc-port is given an empty value/],
    [['--log-level', ''], /^--log-level is given an empty value/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(() => serve(argv), (err: unknown) => err instanceof UsageError && message.test(err.message), argv.join(' '));
  }
  // A flag wins over its variable, so an empty flag is refused even when the variable is set.
  assert.throws(() => serve(['--admin-token-file', ''], { KEYWAY_ADMIN_TOKEN_FILE: '/run/t' }), /--admin-token-file is given an empty value/);
  // A list with no pattern is no more "no list" than an empty value.
  for (const sans of [',', ' , ,']) {
    assert.throws(() => serve([...tls, '--xds-tls-allowed-sans', sans]), /^UsageError: --xds-tls-allowed-sans holds no pattern, got ".*": give comma-separated patterns/);
    assert.throws(() => serve([], { KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: 'k', KEYWAY_XDS_TLS_CLIENT_CA: 'ca', KEYWAY_XDS_TLS_ALLOWED_SANS: sans }), /holds no pattern/);
  }
});

test('an empty variable is unset, except one that turns a protection on: that is refused', () => {
  const serve = (env: NodeJS.ProcessEnv) => parseCommand(['serve', '--config', 'f.yaml'], env) as Extract<ReturnType<typeof parseCommand>, { command: 'serve' }>;
  const defaults = serve({});
  const unset = { KEYWAY_HOST: '', KEYWAY_ADMIN_HOST: '', KEYWAY_HTTP_PORT: '', KEYWAY_XDS_PORT: '', KEYWAY_EXT_PROC_PORT: '', KEYWAY_LOG_LEVEL: '' };
  assert.deepEqual(serve(unset), defaults);
  assert.equal(serve({ KEYWAY_HOST: '' }).host, anyAddress());
  assert.equal(serve({ KEYWAY_ADMIN_HOST: '', KUBERNETES_SERVICE_HOST: '10.96.0.1' }).adminHost, anyAddress(), 'the documented default in a pod');
  const protection: [NodeJS.ProcessEnv, RegExp][] = [
    [{ KEYWAY_ADMIN_TOKEN_FILE: '' }, /^KEYWAY_ADMIN_TOKEN_FILE is set but empty: set it to FILE \(as --admin-token-file\), or unset it to serve the REST API without a token$/],
    [{ KEYWAY_XDS_TLS_CERT: '', KEYWAY_XDS_TLS_KEY: '' }, /^KEYWAY_XDS_TLS_CERT is set but empty/],
    [{ KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: '' }, /^KEYWAY_XDS_TLS_KEY is set but empty/],
    [{ KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: 'k', KEYWAY_XDS_TLS_CLIENT_CA: '' }, /^KEYWAY_XDS_TLS_CLIENT_CA is set but empty/],
    [{ KEYWAY_XDS_TLS_CERT: 'c', KEYWAY_XDS_TLS_KEY: 'k', KEYWAY_XDS_TLS_CLIENT_CA: 'ca', KEYWAY_XDS_TLS_ALLOWED_SANS: '' }, /^KEYWAY_XDS_TLS_ALLOWED_SANS is set but empty/],
  ];
  for (const [env, message] of protection) {
    assert.throws(() => serve(env), (err: unknown) => err instanceof UsageError && message.test(err.message), JSON.stringify(env));
  }
  // The flag still wins over an empty variable.
  assert.equal((parseCommand(['serve', '--config', 'f.yaml', '--admin-token-file', '/a'], { KEYWAY_ADMIN_TOKEN_FILE: '' }) as { adminTokenFile?: string }).adminTokenFile, '/a');
});

test('keyway serve --host \'\': a usage error, exit 2, before anything binds', async () => {
  // It used to get to listen() and exit 1 with "No addresses resolved for port [object Object]".
  const flag = await run(['serve', '--config', 'examples/topology.yaml', '--host', '']);
  assert.equal(flag.code, 2, flag.stderr);
  assert.match(flag.stderr, /^keyway: --host is given an empty value/);
  assert.doesNotMatch(flag.stderr, /DeprecationWarning|\[object Object\]/);
});

test('keyway COMMAND --help and keyway help COMMAND describe that one command', async () => {
  const [check, serve, helpStatus, helpCheck, unknown] = await Promise.all([
    run(['check', '--help']),
    run(['serve', '--help']),
    run(['help', 'status']),
    run(['help', 'check']),
    run(['help', 'deploy']),
  ]);
  for (const r of [check, serve, helpStatus, helpCheck]) assert.equal(r.code, 0, r.stderr);
  assert.match(check.stdout, /^Usage: keyway check --config FILE\n/);
  assert.doesNotMatch(check.stdout, /--http-port|--server|keyway serve/);
  assert.equal(helpCheck.stdout, check.stdout);
  assert.match(serve.stdout, /^Usage:\n {2}keyway serve --config FILE/);
  assert.match(serve.stdout, /--http-port N/);
  assert.doesNotMatch(serve.stdout, /--server URL|keyway check|keyway diff/);
  assert.match(helpStatus.stdout, /^Usage: keyway status \[--server URL\]/);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^keyway: unknown command "deploy"/);
  assert.deepEqual(parseCommand(['check', '--help'], {}), { command: 'help', topic: 'check' });
});

test('a failed write of the output: one line on stderr and exit 1; a reader that has gone away: quiet', async (t) => {
  const args = [...CLI, 'diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '--shards', '-o', 'json'];
  if (existsSync('/dev/full')) {
    const full = openSync('/dev/full', 'w');
    t.after(() => closeSync(full));
    const child = spawn(process.execPath, args, { stdio: ['ignore', full, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 1, stderr);
    assert.match(stderr, /^keyway: cannot write the output: ENOSPC\b.*\n$/);
  }
  // The reader closes after the first chunk (`| head -c 1`): the rest fails with EPIPE.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => child.stdout.destroy());
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
});

test('a long option with one dash (-config, -server=x) is a usage error naming it and the spelling meant', async () => {
  // Read as short options, `-config f` was `-c onfig` plus a stray "f", and `-output json` was `-o utput`.
  assert.throws(() => parseCommand(['check', '-config', 'f.yaml'], {}), /^UsageError: "-config": a long option takes two dashes: --config$/);
  assert.throws(() => parseCommand(['serve', '--config', 'f', '-http-port=80'], {}), /^UsageError: "-http-port=80": a long option takes two dashes: --http-port=80$/);
  assert.throws(() => parseCommand(['serve', '-help'], {}), /--help$/);
  // Short options and their values are untouched, and so is anything after `--`.
  assert.equal(parseCommand(['check', '-cf.yaml'], {}).command, 'check');
  assert.throws(() => parseCommand(['check', '-c', 'f', '--', '-config'], {}), /^UsageError: unexpected argument "-config"$/);
  for (const [name, argv, message] of [
    ['status', ['-server', '127.0.0.1:1'], '"-server": a long option takes two dashes: --server'],
    ['shardmap', ['-output', 'json'], '"-output": a long option takes two dashes: --output'],
    ['diff', ['a.yaml', 'b.yaml', '-load=x.json'], '"-load=x.json": a long option takes two dashes: --load=x.json'],
  ] as const) {
    const io = captureIo();
    assert.equal(await runClientCommand(name, argv, {}, io), 2, io.stderr);
    assert.ok(io.stderr.startsWith(`keyway ${name}: ${message}\n`), io.stderr);
  }
});

test('a client option before the command: one dash, or its value forgotten, is named as such', async () => {
  // `-server X status` was "unknown option -s in -server"; `--server status` was "unknown option --server".
  assert.throws(() => parseCommand(['-server', 'http://x', 'status'], {}), /^UsageError: "-server": a long option takes two dashes: --server$/);
  assert.throws(() => parseCommand(['--server', 'status'], {}), /^UsageError: --server needs a value before the command: keyway --server URL status$/);
  assert.throws(() => parseCommand(['-o', 'shardmap'], {}), /^UsageError: -o needs a value before the command: keyway -o json shardmap$/);
  assert.throws(() => parseCommand(['constructor', 'status'], {}), /^UsageError: unexpected argument "status"$/);
  // `--server status shardmap` reached shardmap with the server "status" (cannot reach http://status/).
  const io = captureIo();
  assert.equal(await runClientCommand('shardmap', ['--server', 'status'], {}, io), 2, io.stderr);
  assert.ok(io.stderr.startsWith('keyway shardmap: --server is given "status", a command\'s name: its value is missing (--server URL)\n'), io.stderr);
});
