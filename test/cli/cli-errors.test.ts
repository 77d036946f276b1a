/**
 * How `keyway` reports what it did not expect, where its client options may go, and its own
 * unknown-option messages (docs/cli.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_VALUE_OPTIONS, parseCommand, UsageError, USAGE } from '../../src/cli/args.js';
import { main } from '../../src/cli/command.js';
import { COMMAND_USAGE, runClientCommand } from '../../src/cli/commands/index.js';
import { captureIo, fakeServer } from './commands/fake-server.js';
import { runCli } from './support.js';

const STACK = /\n\s+at .+:\d+:\d+\)?\n/;

/** A readiness answer that fits its shape but nests an extra field too deeply for JSON.stringify's recursion. */
const DEEP_READYZ = `{"ready":true,"status":"ready","reasons":[],"extra":${'['.repeat(200_000)}${']'.repeat(200_000)}}`;

test('an unexpected error (-o json of an answer too deeply nested to print): one line, exit 1; the stack only with KEYWAY_DEBUG', async (t) => {
  const keyway = await fakeServer({ '/readyz': DEEP_READYZ, '/v1/proxies': JSON.stringify({ proxies: [] }) });
  t.after(() => keyway.close());
  // As users run it: bin/keyway.js.
  const r = await runCli(['status', '-o', 'json', '--server', keyway.url], { KEYWAY_DEBUG: '' });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^keyway status: internal error: Maximum call stack size exceeded \(KEYWAY_DEBUG=1 prints the stack trace\)\n$/);

  const quiet = captureIo();
  assert.equal(await runClientCommand('status', ['-o', 'json', '--server', keyway.url], { KEYWAY_DEBUG: '0' }, quiet), 1);
  assert.doesNotMatch(quiet.stderr, STACK);
  const debug = captureIo();
  assert.equal(await runClientCommand('status', ['-o', 'json', '--server', keyway.url], { KEYWAY_DEBUG: '1' }, debug), 1);
  assert.match(debug.stderr, /^keyway status: internal error: Maximum call stack size exceeded\nRangeError: Maximum call stack size exceeded\n\s+at /);
});

test('an unexpected error in any command, through main: one escaped line naming the command, exit 1', async () => {
  const failing = (message: string) => {
    const io = captureIo();
    return Object.assign(io, { out: () => { throw new Error(message); } });
  };
  const diff = failing('boom\n\u001b[31m');
  assert.equal(await main(['diff', 'examples/topology.yaml', 'examples/topology.yaml'], {}, diff), 1);
  assert.equal(diff.stderr, 'keyway diff: internal error: boom\\n\\e[31m (KEYWAY_DEBUG=1 prints the stack trace)\n');
  const check = failing('bang');
  assert.equal(await main(['check', '--help'], {}, check), 1);
  assert.equal(check.stderr, 'keyway check: internal error: bang (KEYWAY_DEBUG=1 prints the stack trace)\n');
  const help = failing('bang');
  assert.equal(await main(['--help'], { KEYWAY_DEBUG: '1' }, help), 1);
  assert.match(help.stderr, /^keyway: internal error: bang\nError: bang\n\s+at /);
});

test('--server, --token and -o may come before the command, as the global help lists them', async (t) => {
  const keyway = await fakeServer({
    '/readyz': JSON.stringify({ ready: true, status: 'ready', reasons: [] }),
    '/v1/proxies': JSON.stringify({ proxies: [] }),
    '/v1/lookup': JSON.stringify({ key: '-k', shard: 1, owners: ['a'], version: 'v1' }),
  });
  t.after(() => keyway.close());
  const status = captureIo();
  assert.equal(await main(['--server', keyway.url, 'status'], {}, status), 0, status.stderr);
  assert.match(status.stdout, /: ready\n/);
  // Before `--`, where they stay options; a JSON answer, as -o asked.
  const lookup = captureIo();
  assert.equal(await main(['-o', 'json', `--server=${keyway.url}`, '--token', 'abc', 'lookup', '--', '-k'], {}, lookup), 0, lookup.stderr);
  assert.equal(JSON.parse(lookup.stdout).key, '-k');
  assert.equal(keyway.requests.at(-1), '/v1/lookup?key=-k');
  const diff = captureIo();
  assert.equal(await main(['-ojson', 'diff', 'examples/topology.yaml', 'examples/topology.yaml'], {}, diff), 0, diff.stderr);
  assert.equal(JSON.parse(diff.stdout).movedShards, 0);
  assert.match(USAGE, /--server, --token and -o go after the command or before it/);

  // A command that is not first (after `--` or a serve option) is named as one, not "unknown".
  for (const argv of [['--', 'status'], ['-c', 'x.yaml', 'status']]) {
    assert.throws(() => parseCommand(argv, {}), (err: unknown) => err instanceof UsageError && err.message === 'the command "status" must come first, before other arguments: keyway status [options]', argv.join(' '));
  }
  // serve and check take none of them: the error says whose options they are.
  assert.throws(() => parseCommand(['--server', 'x', 'serve'], {}), /^UsageError: unknown option "--server" \(an option of status, shardmap and lookup: keyway status --server URL\)$/);
  // Another option before a client command is named, not the -o or --server allowed there (which
  // the serve parser, reached because the command was not dispatched, called unknown).
  for (const [argv, option, command] of [
    [['-o', 'json', '--shards', 'shardmap'], '--shards', 'shardmap'],
    [['--server', 'x', '--zone', 'z', 'shardmap'], '--zone', 'shardmap'],
    [['--token=t', '-xyz', 'status'], '-x', 'status'],
    [['--bogus', 'lookup', 'k'], '--bogus', 'lookup'],
    // --help may come before the command (keyway --help shardmap): the option to move is --zone.
    [['--help', '--zone', 'z', 'shardmap'], '--zone', 'shardmap'],
    [['-h', '--endpoint', 'e', 'shardmap'], '--endpoint', 'shardmap'],
    // A client option's value named like a command is its value: the command is shardmap.
    [['--endpoint', 'status', 'shardmap'], '--endpoint', 'shardmap'],
  ] as const) {
    const message = `${JSON.stringify(option)} comes before the command "${command}": only --server, --token and -o may; its other options go after it: keyway ${command} [options]`;
    assert.throws(() => parseCommand(argv, {}), (err: unknown) => err instanceof UsageError && err.message === message, argv.join(' '));
  }
  // The command is serve or check, and a config file or stray argument is named like a client
  // command: the unknown option's own message stands, not one about a client command.
  for (const [argv, message] of [
    [['check', '--conifg', 'shardmap'], 'unknown option "--conifg" (did you mean --config?)'],
    [['serve', '--config', 'x', '--bogus', 'diff'], 'unknown option "--bogus"'],
    [['serve', '-c', 't.yaml', '--bogus', '--', 'status'], 'unknown option "--bogus"'],
  ] as const) {
    assert.throws(() => parseCommand(argv, {}), (err: unknown) => err instanceof UsageError && err.message === message, argv.join(' '));
  }
});

test('unknown options: keyway\'s own message, the option as typed, a near known one suggested', async () => {
  for (const [name, argv, message] of [
    ['status', ['--serevr', 'x'], 'unknown option "--serevr" (did you mean --server?)'],
    ['status', ['--sever=x'], 'unknown option "--sever" (did you mean --server?)'],
    ['status', ['-xyz'], 'unknown option "-x" in "-xyz"'],
    ['status', ['-O', 'json'], 'unknown option "-O" (did you mean -o?)'],
    ['status', ['--bogus'], 'unknown option "--bogus"'],
    ['shardmap', ['--end', 'a'], 'unknown option "--end" (did you mean --endpoint?)'],
    ['lookup', ['k', '--zone', 'z'], 'unknown option "--zone" (an option of shardmap)'],
    ['diff', ['a.yaml', 'b.yaml', '--server', 'x'], 'unknown option "--server" (diff works offline, on two files: it reads no server)'],
  ] as const) {
    const io = captureIo();
    assert.equal(await runClientCommand(name, argv, {}, io), 2, io.stderr);
    assert.ok(io.stderr.startsWith(`keyway ${name}: ${message}\n\nUsage: keyway ${name}`), io.stderr);
  }
  assert.throws(() => parseCommand(['serve', '--confg', 'x'], {}), /^UsageError: unknown option "--confg" \(did you mean --config\?\)$/);
  assert.throws(() => parseCommand(['check', '-cx', '-q'], {}), /^UsageError: unknown option "-q"$/);
});

test('the client options that take a value, read before a misplaced command, are those the client commands\' usage lines name', () => {
  // args.ts keeps its own list (commands/ is not loaded for serve): a new option taking a value
  // left out of it would make its value read as the command in `keyway --new x shardmap`.
  const named = new Set<string>();
  for (const usage of Object.values(COMMAND_USAGE)) {
    for (const m of usage.split('\n')[0]!.matchAll(/--([a-z-]+) [A-Z]/g)) if (m[1] !== 'server' && m[1] !== 'token') named.add(m[1]!);
  }
  assert.deepEqual([...named].sort(), Object.keys(CLIENT_VALUE_OPTIONS).sort());
});
