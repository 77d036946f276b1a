// Every `keyway COMMAND --flag` the docs show (README.md, docs/*.md) must be a flag that
// `keyway COMMAND --help` lists: readers paste these, and a renamed or invented flag is a usage error
// (exit 2) the docs never mention. Checked: shell blocks (```sh, ```bash, ```console, ```shell; in
// other blocks only `$ ` lines, the rest being output) and inline code spans in prose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMMANDS = ['serve', 'check', 'status', 'shardmap', 'lookup', 'diff'] as const;
type Command = (typeof COMMANDS)[number];
/** Options that client commands accept before the command too (`keyway --server X status`). */
const GLOBAL_WITH_VALUE = new Set(['--server', '--token', '-o', '--output']);
const SHELL_LANGS = new Set(['sh', 'bash', 'console', 'shell']);
/** Shell words after which the keyway command line is over. */
const SHELL_END = /^(\||\|\||&&|;|&|>|>>|2>|2>&1|<|\))$/;

export interface DocCommand {
  file: string;
  text: string;
}

/** The command lines of one Markdown text: shell blocks, `$ ` lines of other blocks, inline spans. */
export function commandLines(file: string, markdown: string): DocCommand[] {
  const out: DocCommand[] = [];
  const prose: string[] = [];
  let fence: string | undefined;
  let pending = '';
  for (const line of markdown.split('\n')) {
    const open = /^\s*```\s*([\w-]*)/.exec(line);
    if (open) {
      fence = fence === undefined ? open[1]! : undefined;
      pending = '';
      continue;
    }
    if (fence === undefined) {
      prose.push(line);
      continue;
    }
    const body = line.trim();
    const shell = SHELL_LANGS.has(fence);
    if (!shell && !body.startsWith('$ ') && pending === '') continue;
    // A trailing backslash continues the command on the next line.
    const joined = pending + body.replace(/^\$ /, '');
    if (joined.endsWith('\\')) pending = joined.slice(0, -1) + ' ';
    else {
      out.push({ file, text: joined });
      pending = '';
    }
  }
  for (const m of prose.join('\n').matchAll(/`([^`]+)`/g)) out.push({ file, text: m[1]!.replace(/\s+/g, ' ') });
  return out;
}

export interface FlagUse {
  file: string;
  command: Command;
  flag: string;
  text: string;
}

/** The flags each `keyway COMMAND ...` of a command line passes, by command. */
export function flagUses(c: DocCommand): FlagUse[] {
  const words = c.text.split(/\s+/).filter(Boolean);
  const uses: FlagUse[] = [];
  for (let i = 0; i < words.length; i++) {
    if (!/^(?:keyway|\S*bin\/keyway\.js|\S*src\/cli\/main\.ts)$/.test(words[i]!)) continue;
    let j = i + 1;
    const globals: string[] = [];
    while (j < words.length && words[j]!.startsWith('-')) {
      const name = words[j]!.split('=')[0]!;
      globals.push(name);
      j += GLOBAL_WITH_VALUE.has(name) && !words[j]!.includes('=') ? 2 : 1;
    }
    // `status|shardmap|lookup` stands for each of them; anything else (a placeholder, prose) is skipped.
    const commands = (words[j] ?? '').split('|').filter((w): w is Command => (COMMANDS as readonly string[]).includes(w));
    if (commands.length === 0) continue;
    const flags = [...globals];
    for (let k = j + 1; k < words.length; k++) {
      const w = words[k]!.replace(/^[[(]+|[\]),.]+$/g, '');
      if (SHELL_END.test(words[k]!) || w.startsWith('#') || w === '--') break;
      if (/^--?[A-Za-z]/.test(w)) flags.push(w.split('=')[0]!);
    }
    for (const command of commands) for (const flag of flags) uses.push({ file: c.file, command, flag, text: c.text });
  }
  return uses;
}

/** The flags `keyway COMMAND --help` names, plus --help and -h, which every command takes. */
function helpFlags(command: Command): Set<string> {
  const help = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', command, '--help'], { cwd: ROOT, encoding: 'utf8' });
  // A flag starts a word: "re-read" and "comma-separated" are not flags.
  const flags = new Set(['--help', '-h']);
  for (const m of help.matchAll(/(?<![\w-])(--?[A-Za-z][\w-]*)/g)) flags.add(m[1]!);
  return flags;
}

function docFiles(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f));
  return ['README.md', ...docs.sort()];
}

test('flagUses reads commands, flags before the command, placeholders and shell syntax', () => {
  const uses = (text: string): string[] => flagUses({ file: 'x.md', text }).map((u) => `${u.command} ${u.flag}`);
  assert.deepEqual(uses('npx keyway shardmap --endpoint gpu-a1 --shards # the shards --nope'), ['shardmap --endpoint', 'shardmap --shards']);
  assert.deepEqual(uses('keyway --server X status -o json | jq --raw-output .x'), ['status --server', 'status -o']);
  assert.deepEqual(uses('keyway diff OLD.yaml NEW.yaml [--shards] [--load SNAPSHOTS.json] [-o table|json]'), ['diff --shards', 'diff --load', 'diff -o']);
  assert.deepEqual(uses('keyway status|shardmap|lookup --token TOKEN'), ['status --token', 'shardmap --token', 'lookup --token']);
  assert.deepEqual(uses('keyway lookup -- -weird-key'), []);
  assert.deepEqual(uses('keyway COMMAND --help'), []);
  assert.deepEqual(uses('keyway status: unknown option "--serevr"'), []);
});

test('commandLines takes shell blocks whole, other blocks only at $, and inline spans', () => {
  const md = [
    '```sh',
    'keyway status --a \\',
    '  --b',
    '```',
    '```',
    '$ keyway lookup k --c',
    'keyway lookup: output --d',
    '```',
    'Run `keyway check',
    '--config f` first.',
  ].join('\n');
  assert.deepEqual(
    commandLines('x.md', md).map((c) => c.text),
    ['keyway status --a  --b', 'keyway lookup k --c', 'keyway check --config f'],
  );
});

test('a made-up flag in a doc is caught', () => {
  const status = helpFlags('status');
  const bad = commandLines('x.md', '```sh\nnpx keyway status --made-up-flag\n```')
    .flatMap(flagUses)
    .filter((u) => !status.has(u.flag));
  assert.deepEqual(bad.map((u) => u.flag), ['--made-up-flag']);
});

test('every keyway COMMAND --flag in README.md and docs/*.md is in that command\'s --help', () => {
  const uses = docFiles().flatMap((f) => commandLines(f, readFileSync(path.join(ROOT, f), 'utf8')).flatMap(flagUses));
  assert.ok(uses.length > 20, `found only ${uses.length} flags in the docs: is the extraction broken?`);
  const help = new Map<Command, Set<string>>(COMMANDS.map((c) => [c, helpFlags(c)]));
  const unknown = uses.filter((u) => !help.get(u.command)!.has(u.flag));
  assert.deepEqual(
    unknown.map((u) => `${u.file}: keyway ${u.command} ${u.flag} (in: ${u.text})`),
    [],
    'flags the docs show that the command does not take',
  );
});

/** The flags in the first column of option tables (`| `--http-port N` | ... |`). */
export function tableFlags(markdown: string): string[] {
  const out: string[] = [];
  for (const line of markdown.split('\n')) {
    const cell = /^\|\s*(`-[^|]*)\|/.exec(line)?.[1];
    if (cell === undefined) continue;
    for (const m of cell.matchAll(/(?<![\w-])(--?[A-Za-z][\w-]*)/g)) out.push(m[1]!);
  }
  return out;
}

test('every flag in the option tables of README.md and docs/cli.md is one the CLI takes', () => {
  assert.deepEqual(tableFlags('| `--http-port N` | x |\n| `-o, --output FORMAT` | |\n| `--xds-tls-cert FILE`, `--xds-tls-key FILE` | |'), [
    '--http-port',
    '-o',
    '--output',
    '--xds-tls-cert',
    '--xds-tls-key',
  ]);
  const known = new Set(COMMANDS.flatMap((c) => [...helpFlags(c)]));
  const flags = ['README.md', 'docs/cli.md'].flatMap((f) => tableFlags(readFileSync(path.join(ROOT, f), 'utf8')).map((flag) => ({ f, flag })));
  assert.ok(flags.length > 15, `found only ${flags.length} flags in the option tables`);
  assert.deepEqual(flags.filter((x) => !known.has(x.flag)).map((x) => `${x.f}: ${x.flag}`), []);
});
