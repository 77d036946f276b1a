/**
 * Seeded argument fuzz of the `keyway` command, in-process: argument lists built from every
 * command, flag and form (`--f v`, `--f=v`, `-ov`, `--`, repeats) with odd values (empty, huge and
 * negative numbers, control characters, replacement and lone surrogate characters, long strings)
 * go through parsing and dispatch. Client commands meet a fake keyway on 127.0.0.1 (or a closed
 * port); `serve` is only parsed. Every run must resolve with 0, 1 or 2 and never throw; the
 * parsers throw nothing but UsageError; every usage error names the argument it is about, and no
 * output carries a stack trace.
 * Replay: `KEYWAY_FUZZ_SEED=N KEYWAY_FUZZ_ITERATIONS=M node --import tsx --test test/cli/args-fuzz.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseCommand, UsageError } from '../../src/cli/args.js';
import { main } from '../../src/cli/command.js';
import { CLIENT_COMMANDS, isClientCommand } from '../../src/cli/commands/index.js';
import { parseCommandArgs } from '../../src/cli/commands/options.js';
import { printable } from '../../src/cli/commands/table.js';
import { fuzzBudget, Rng } from '../support/seeded-random.js';
import { captureIo, fakeServer } from './commands/fake-server.js';

const MAP = {
  version: 'v1',
  shardCount: 2,
  replicas: 1,
  spread: 'none',
  updatedAt: '2026-01-01T00:00:00.000Z',
  shards: [
    { shard: 0, owners: ['a'] },
    { shard: 1, owners: ['a'] },
  ],
  endpoints: [{ id: 'a', locality: { zone: 'z', subzone: 'f' }, weight: 1, ready: true, shardsOwned: 2, shardsPrimary: 2 }],
  warnings: [],
};

const COMMANDS = ['serve', 'check', ...CLIENT_COMMANDS, 'help', '', 'bogus', 'SERVE', '--help', '-h', '--', '-o', '--server'];

/** Flags taking a value, of every command (each command refuses the others' flags). */
const VALUE_FLAGS = [
  '--config', '-c', '--http-port', '--xds-port', '--ext-proc-port', '--host', '--admin-host', '--admin-token-file',
  '--xds-tls-cert', '--xds-tls-key', '--xds-tls-client-ca', '--xds-tls-allowed-sans', '--log-level',
  '--server', '--token', '--output', '-o', '--endpoint', '--zone', '--subzone', '--load',
];
const BOOLEAN_FLAGS = ['--help', '-h', '--shards', '--no-shards', '--bogus', '-x', '-oh', '-ho', '---', '-', '--', '--=x'];

/** Names a message may give an argument by, besides the argument's own text. */
const NAMES = [
  ...VALUE_FLAGS, ...BOOLEAN_FLAGS.filter((f) => f.length > 2), '-o/--output', 'KEY', 'OLD.yaml', 'NEW.yaml', 'FILE',
  'KEYWAY_SERVER', 'KEYWAY_TOKEN', 'KEYWAY_HTTP_PORT', 'KEYWAY_XDS_PORT', 'KEYWAY_EXT_PROC_PORT', 'KEYWAY_HOST',
  'KEYWAY_ADMIN_HOST', 'KEYWAY_ADMIN_TOKEN_FILE', 'KEYWAY_XDS_TLS_CERT', 'KEYWAY_XDS_TLS_KEY', 'KEYWAY_XDS_TLS_CLIENT_CA',
  'KEYWAY_XDS_TLS_ALLOWED_SANS', 'KEYWAY_LOG_LEVEL',
];

const VALUES = [
  '', ' ', 'json', 'table', 'yaml', '0', '-1', '8080', '65535', '65536', '99999999999999999999999', '1e3', '0x10', ' 80', '08', 'off',
  'info', 'loud', ',', ' , ', 'a,b', '\uFFFD\uFFFD', '\uD800', 'a\u0000b', '\u001b[31mred', 'tok\nen', 'caf\u00e9', 'x'.repeat(5000),
  'examples/topology.yaml', 'examples/topology-scale-out.yaml', '/nonexistent/topo.yaml', '/tmp', 'user:{42}:emb', 'z', 'f', 'a',
  'http://user:pw@127.0.0.1:1', 'ftp://127.0.0.1', 'http://[::1', '127.0.0.1:-1',
];

function randomText(rng: Rng): string {
  const n = rng.int(12);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(rng.chance(0.8) ? 0x20 + rng.int(0x5f) : rng.int(0x3000));
  return s;
}

/** Valid argument lists (`SERVER` stands for one of the test's servers): mutated, they reach past the parser. */
const TEMPLATES: readonly (readonly string[])[] = [
  ['status', '--server', 'SERVER'],
  ['status', '-o', 'json', '--server', 'SERVER', '--token', 'abc'],
  ['shardmap', '--server', 'SERVER', '--zone', 'z', '--shards'],
  ['shardmap', '--server=SERVER', '--endpoint', 'a', '--endpoint', 'b', '-ojson'],
  ['lookup', 'user:{42}:emb', '--server', 'SERVER'],
  ['lookup', '--server', 'SERVER', '--', '-k'],
  ['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml', '-o', 'json'],
  ['diff', 'examples/topology.yaml', 'examples/topology-scale-out.yaml'],
  ['diff', '--shards', 'examples/topology.yaml', 'examples/topology.yaml', '--load', '/nonexistent/load.json'],
  ['check', '--config', 'examples/topology.yaml'],
  ['serve', '--config', 'examples/topology.yaml', '--http-port', '0', '--ext-proc-port', 'off', '--log-level', 'warn'],
  ['help', 'diff'],
];

/** One argument list, and the servers its `--server` values may name (nothing else is dialled: no DNS). */
function argvOf(rng: Rng, servers: readonly string[]): string[] {
  const argv = rng.chance(0.4) ? nearValid(rng, servers) : randomArgv(rng, servers);
  // Whatever a mutation left after a --server would be dialled as a host: keep every host to ours.
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--server' && i + 1 < argv.length && (argv[i + 1] === '-' || !argv[i + 1]!.startsWith('-'))) argv[i + 1] = rng.pick(servers);
    if (argv[i]!.startsWith('--server=')) argv[i] = `--server=${rng.pick(servers)}`;
  }
  return argv;
}

function randomArgv(rng: Rng, servers: readonly string[]): string[] {
  const argv: string[] = [];
  if (rng.chance(0.95)) argv.push(rng.pick(COMMANDS));
  const n = rng.int(7);
  const value = (flag: string): string => (flag === '--server' ? rng.pick(servers) : rng.chance(0.15) ? randomText(rng) : rng.pick(VALUES));
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.45) {
      const flag = rng.pick(VALUE_FLAGS);
      const form = rng.int(4);
      if (form === 0) argv.push(flag, value(flag));
      else if (form === 1 && flag.startsWith('--')) argv.push(`${flag}=${value(flag)}`);
      else if (form === 2 && !flag.startsWith('--')) argv.push(`${flag}${value(flag)}`);
      else argv.push(flag); // no value: the next token, or nothing
    } else if (r < 0.7) {
      argv.push(rng.pick(BOOLEAN_FLAGS));
    } else if (r < 0.8) {
      argv.push(rng.pick(COMMANDS));
    } else {
      argv.push(rng.chance(0.2) ? randomText(rng) : rng.pick(VALUES.filter((v) => !v.includes('://') && !/^\d|^127/.test(v))));
    }
  }
  return argv;
}

/** A template with up to two mutations: a token replaced (often by ''), dropped, repeated, or a token inserted. */
function nearValid(rng: Rng, servers: readonly string[]): string[] {
  const argv = rng.pick(TEMPLATES).map((a) => a.replace('SERVER', rng.pick(servers)));
  for (let m = rng.int(3); m > 0; m--) {
    const i = 1 + rng.int(argv.length);
    const kind = rng.int(4);
    // '' often: an unset shell variable is the commonest odd argument.
    if (kind === 0 && i < argv.length && argv[i - 1] !== '--server') argv[i] = rng.chance(0.3) ? '' : rng.chance(0.3) ? randomText(rng) : rng.pick(VALUES);
    else if (kind === 1 && i < argv.length) argv.splice(i, 1);
    else if (kind === 2 && i < argv.length) argv.splice(i, 0, argv[i]!);
    else argv.splice(i, 0, rng.pick([...BOOLEAN_FLAGS, ...VALUE_FLAGS.filter((f) => f !== '--server')]));
  }
  return argv;
}

/**
 * Whether an error message names an argument: a flag, variable or placeholder, or an argument's own text,
 * whole or in part (the value of `--f=v` or `-cv`; an option letter `-y` of a group `-xyz`).
 */
function namesAnArgument(line: string, argv: readonly string[]): boolean {
  // The `keyway COMMAND: ` prefix names the command, not the argument at fault.
  const message = line.replace(/^keyway( [a-z]+)?: /, '');
  if (NAMES.some((n) => message.includes(n))) return true;
  const parts = argv.flatMap((a) => {
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    if (eq > 0) return [a, a.slice(0, eq), a.slice(eq + 1)];
    if (/^-[^-]/.test(a)) return [a, a.slice(2), ...[...a.slice(1)].map((c) => `'-${c}'`)];
    return [a];
  });
  // A file's problems start with its name, as `file:line:col: ...` or `keyway diff: file: ...`.
  const located = (p: string): boolean => message.startsWith(`${p}:`) || message.includes(`: ${p}:`);
  // Client commands print what they quote with control characters escaped (`a\x00b`).
  return parts.flatMap((p) => [p, printable(p)]).some((p) => message.includes(JSON.stringify(p)) || (p.length >= 3 && message.includes(p)) || (p !== '' && located(p)));
}

const STACK = /\n\s+at .+:\d+:\d+\)?\n/;

test('argument fuzz: parsing and dispatch never throw, exit 0/1/2, every usage error names its argument', async (t) => {
  const { iterations, seed } = fuzzBudget(600);
  const keyway = await fakeServer({
    '/readyz': JSON.stringify({ ready: true, status: 'ready', reasons: [] }),
    '/v1/proxies': JSON.stringify({ proxies: [] }),
    '/v1/shardmap': JSON.stringify(MAP),
    '/v1/lookup': JSON.stringify({ key: 'k', shard: 1, owners: ['a'], version: 'v1' }),
  });
  t.after(() => keyway.close());
  // A port nothing listens on: bound, then closed.
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const closedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const servers = [keyway.url, `127.0.0.1:${keyway.port}`, `127.0.0.1:${closedPort}`, '', 'http://user:pw@127.0.0.1:1', 'ftp://127.0.0.1', 'http://[::1', `${keyway.url}/prefix/`];

  const rng = new Rng(seed);
  for (let i = 0; i < iterations; i++) {
    const argv = argvOf(rng, servers);
    const env: NodeJS.ProcessEnv = { KEYWAY_SERVER: rng.pick([keyway.url, '', `127.0.0.1:${closedPort}`]) };
    if (rng.chance(0.2)) env[rng.pick(NAMES.filter((n) => n.startsWith('KEYWAY_') && n !== 'KEYWAY_SERVER'))] = rng.pick(VALUES);
    const where = `seed ${seed}, case ${i}: keyway ${JSON.stringify(argv)} with ${JSON.stringify(env)}`;

    // The parsers alone: a UsageError naming the argument, or a result.
    let parsed: ReturnType<typeof parseCommand> | undefined;
    const first = argv[0];
    const usage = (err: unknown): void => {
      assert.ok(err instanceof UsageError, `${where}: threw ${String((err as Error)?.stack ?? err)}`);
      assert.ok(namesAnArgument(err.message, argv), `${where}: the usage error names no argument: ${err.message}`);
    };
    if (first !== undefined && isClientCommand(first)) {
      try {
        parseCommandArgs(argv.slice(1), {});
      } catch (err) {
        usage(err);
      }
    } else {
      try {
        parsed = parseCommand(argv, env);
      } catch (err) {
        usage(err);
      }
    }
    // `serve` would bind ports: parsing it is the whole test.
    if (parsed?.command === 'serve') continue;

    const io = captureIo();
    let code: number;
    try {
      code = await main(argv, env, io);
    } catch (err) {
      assert.fail(`${where}: main threw ${String((err as Error)?.stack ?? err)}`);
    }
    assert.ok(code === 0 || code === 1 || code === 2, `${where}: exit ${code}`);
    assert.doesNotMatch(io.stderr, STACK, `${where}: a stack trace on stderr`);
    if (code !== 0) {
      // The message, without the usage text that follows a usage error.
      const message = io.stderr.split('\n\nUsage')[0]!;
      assert.notEqual(message, '', `${where}: exit ${code} with nothing on stderr`);
      if (code === 2) assert.ok(namesAnArgument(message, argv), `${where}: exit 2 names no argument: ${message}`);
    }
  }
});
