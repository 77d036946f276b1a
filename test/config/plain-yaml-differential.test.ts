/**
 * Differential test of the topology file's fast parse (src/config/plain-yaml.ts) against the full
 * parse (the `yaml` library, as load.ts calls it): on any text, the fast path gives exactly the full
 * parse's value or declines. A value where the full parse gives another value or an error would be
 * a file read differently depending on which parser took it.
 */
import { Rng } from '../support/seeded-random.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseDocument } from 'yaml';
import { plainYamlValue } from '../../src/config/plain-yaml.js';

const REPO = join(import.meta.dirname, '..', '..');

/** The full parse's value, or undefined when it refuses the text. */
function fullValue(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) return undefined;
  return { value: doc.toJS({ maxAliasCount: 100 }) };
}

/** Why the fast path reads `text` otherwise than the full parse, or undefined when it does not. */
function disagreement(text: string): string | undefined {
  const fast = plainYamlValue(text);
  if (fast === undefined) return undefined;
  const full = fullValue(text);
  if (full === undefined) return `the fast path took ${JSON.stringify(text)}, the full parse refuses it`;
  if (!isDeepStrictEqual(fast.value, full.value)) {
    return `${JSON.stringify(text)}: fast ${JSON.stringify(fast.value)}, full ${JSON.stringify(full.value)}`;
  }
  return undefined;
}

// Each of these was read differently by js-yaml (a value where yaml refuses, or another value).
const READ_DIFFERENTLY = [
  // An empty list entry, then a less indented `- `: js-yaml adds the next item to the inner list.
  'endpoints:\n  - id: a\n    tags:\n      -\n  - id: b\n',
  'e:\n- a:\n  -\n- b\n',
  'x:\n  - - a\n    - # nothing\n  - b\n',
  // Null keys: "null" to js-yaml, "" to yaml.
  'null: x\n',
  'a: {~: 1}\n',
  'a: [: 1]\n',
  'a:\n  NULL: 1\n  "": 2\n',
  // Collections as keys.
  'a:\n  [x, y]: 1\n',
  'a:\n  {x: 1}: 2\n',
  'a:\n  ? [x]\n  : 1\n',
  // A lone carriage return.
  'a: b\rc: d\n',
  'a: 1\r',
  // `---a` is no document marker.
  '---a: 1\n',
  // Implicit keys past 1024 characters.
  `${'k'.repeat(1025)}: 1\n`,
  // Flow collections and quoted scalars over lines indented less than yaml requires.
  'a: [\n1]\n',
  'a: [1,\n2]\n',
  'k: "a\nb"\n',
  " k: 'a\n b'\n",
  // A `#` right after a closing quote or bracket.
  'a: "b"#c\n',
  'a: {b: 1}#c\n',
  // A byte order mark past the start.
  '# c\n\uFEFFa: 1\n',
  // A tab in the indentation of a line after a block scalar.
  'a: >\n  x\n \t # c\n',
  // A block scalar's indentation indicator at the top level; and a top-level scalar after a tab.
  '|2\n  z z\n',
  '\tx\n',
  // An empty file: undefined to js-yaml, null to yaml.
  '',
  // A leading empty line of a block scalar deeper than the comment after it: "" to js-yaml, an error to yaml.
  'b: |-\n    \n # c\na: 1\n',
  'a:\n  b: >\n      \n    # c\n',
  // A collection as a key with no value: "x" or "[object Object]" to js-yaml, "[ x ]" or "{ c: 1 }" to yaml.
  'a: {[x]}\n',
  'a: {b: 1, {c: 1}}\n',
  '{{c: 1}}\n',
  // A block collection on the `---` line: an error to yaml.
  '--- a: b\n',
  // A keep-chomping block scalar and a last line of spaces with no line break: "z\n\n" to js-yaml, "z\n" to yaml.
  'a: |+\n    z\n  ',
  'a: >+\n    \n  ',
];

test('text js-yaml reads otherwise than the yaml library is left to the full parse', () => {
  assert.deepEqual(READ_DIFFERENTLY.map(disagreement).filter((d) => d !== undefined), []);
});

/** A seeded generator, so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

const SCALARS = [
  'a', 'b c', '1', '0x1F', '0o17', '1e3', '.5', '+1', '-0', '.inf', '.nan', '1_000', '007', 'yes', 'True', 'TRUE', 'null', '~', '',
  '"q"', "'s'", '"a#b"', 'a#b', 'a #c', '"x: y"', 'x:y', 'é', '12:30', '"\\u0041"', "'it''s'", '-x', '0.', '1.5e-3', '"1e-400"', 'k v',
];
const KEYS = ['a', 'b', 'c', 'id', 'port', '"q k"', 'null', 'True', '1', 'x y', 'é', '~'];

// Scalars with a `#` that starts no comment: inside quotes (beside what would trip a check if it
// were stripped as a comment), or not after whitespace.
const HASH_SCALARS = [
  '"a # b"', "'a # b'", '"x #? y"', "'x # ]: y'", '"# ? k"', "'# [a]: b'", '"a \\" # ? b"', "'it''s # >0'", '"a\\t# |2"',
  'a#b', 'a#? b', 'x#]: y', 'a#"b # c"', "a#'b",
];

// Comment text holding every character a check looks for, quotes and `#` included.
const COMMENT_TEXTS = [
  '', 'c', 'a: b', '? why', '?', '- x', '-', '[a]: b', '{a: 1}: 2', 'x ]: y', 'weight > 0', 'weight >0', '>0', '|2', '| x', '&anchor',
  '*alias', '!tag', '!!str', '%YAML 1.2', '<< merge', '@owner', '`code`', '\tx\ty', '"quoted # x"', "it's", "'s'", '#', '# # #', 'a#b',
  '"', "'", '"a"#b', '---a', '...x', ']', '}', ',', 'é', '~: 1',
];

/** A comment: ` # text`, or one after a tab, or a bare `#`. */
function comment(rnd: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const text = pick(COMMENT_TEXTS);
  return `${pick([' ', '  ', '\t', ' \t'])}#${text === '' || rnd() < 0.3 ? text : ` ${text}`}`;
}

/**
 * A random document of nested block and flow collections, block scalars and comments. With
 * `comments`, comments of every awkward kind (COMMENT_TEXTS) after scalars, keys, flow collections
 * and block scalar headers, on lines of their own and inside block scalars, and scalars holding a
 * `#` that starts no comment (HASH_SCALARS).
 */
function generated(rnd: () => number, comments = false): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const scalars = comments ? [...SCALARS, ...HASH_SCALARS] : SCALARS;
  const trailing = (): string => (comments && rnd() < 0.4 ? comment(rnd) : '');
  const commentLine = (sp: string): string => (comments && rnd() < 0.15 ? `${pick([sp, '', `${sp}  `])}${comment(rnd).trimStart()}\n` : '');
  const node = (depth: number, ind: number): string => {
    const r = rnd();
    const sp = ' '.repeat(ind);
    if (depth > 3 || r < 0.3) return ` ${pick(scalars)}${trailing()}\n`;
    if (r < 0.45) {
      const items = Array.from({ length: Math.floor(rnd() * 3) }, () => (rnd() < 0.5 ? pick(scalars) : `${pick(KEYS)}: ${pick(scalars)}`));
      const flow = rnd() < 0.5 ? ` [${items.join(', ')}]` : ` {${items.map((x) => (x.includes(': ') ? x : `${x}: 1`)).join(', ')}}`;
      return `${flow}${trailing()}\n`;
    }
    if (r < 0.55) {
      const lines = comments ? ['x', ' y', '', 'z z', '# c', 'x # ? y', '# [a]: b', 'a # &x *y !z %w', ' # >0'] : ['x', ' y', '', 'z z', '# c'];
      const body = Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `${sp}  ${pick(lines)}`);
      return ` ${pick(['|', '>', '|-', '>+', '|2'])}${trailing()}\n${body.join('\n')}\n`;
    }
    let out = `${trailing()}\n`;
    const n = 1 + Math.floor(rnd() * 3);
    if (r < 0.75) {
      const dash = pick(['', '  ']);
      for (let i = 0; i < n; i++) out += `${commentLine(sp)}${sp}${dash}-${node(depth + 1, ind + dash.length + 2)}`;
    } else {
      const used = new Set<string>();
      for (let i = 0; i < n; i++) {
        const k = pick(KEYS);
        if (!used.has(k)) out += `${commentLine(sp)}${sp}${k}:${node(depth + 1, ind + 2)}`;
        used.add(k);
      }
    }
    if (rnd() < 0.2) out += `${sp}# comment\n`;
    return out;
  };
  if (!comments) return node(0, 0).replace(/^\n/, '').replace(/^ /, '');
  // A mapping at the top, as in a topology file: the fast path takes nothing else.
  const used = new Set<string>();
  let out = '';
  for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
    const k = pick(KEYS);
    if (!used.has(k)) out += `${commentLine('')}${k}:${node(1, 2)}`;
    used.add(k);
  }
  return out;
}

const INSERTS = [
  ' ', '  ', '\n', '\t', ':', '- ', '-', ': ', '#', ' #', '"', "'", '[', ']', '{', '}', ',', '?', '|', '>', '\\', '\r\n', '\r',
  '\uFEFF', '~', 'null', '1e3', '---', '\n---\n', 'é', '\u00a0', '\u2028', '\u0085', 'x', '0', '.', 'a: b', '[]', '{}', '\n  ', '\n    - ',
  ' # ? x', '# [a]: b', ' #\t>0', ' # &a *b', '#', '"# ', "' #", ' # "', " # '",
];

/** `text` with a few random insertions, deletions and replacements of YAML-significant characters. */
function mutated(text: string, rnd: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  let t = text;
  for (let n = 1 + Math.floor(rnd() * 4); n > 0; n--) {
    const p = Math.floor(rnd() * (t.length + 1));
    const op = rnd();
    if (op < 0.4) t = t.slice(0, p) + pick(INSERTS) + t.slice(p);
    else if (op < 0.7) t = t.slice(0, p) + t.slice(p + 1 + Math.floor(rnd() * 3));
    else t = t.slice(0, p) + pick(INSERTS) + t.slice(p + 1);
  }
  return t;
}

test('random documents: the fast path gives the full parse value or declines', () => {
  const rnd = random(20261204);
  const problems: string[] = [];
  for (let i = 0; i < 3000 && problems.length < 5; i++) {
    const d = disagreement(generated(rnd));
    if (d) problems.push(d);
  }
  assert.deepEqual(problems, []);
});

test('random documents with comments of every kind: the fast path gives the full parse value or declines', () => {
  const rnd = random(20260611);
  const problems: string[] = [];
  let awkward = 0;
  for (let i = 0; i < 3000 && problems.length < 5; i++) {
    const text = generated(rnd, true);
    // `&*!%` outside a comment sends a text to the full parse: these are in comments only.
    if (/[&*!%]/.test(text) && plainYamlValue(text) !== undefined) awkward++;
    const d = disagreement(text) ?? disagreement(mutated(text, rnd));
    if (d) problems.push(d);
  }
  assert.deepEqual(problems, []);
  // The comparison means something only for the documents the fast path takes.
  assert.ok(awkward >= 50, `the fast path took ${awkward} of 3000 documents with awkward comments`);
});

test('the repository YAML files mutated: the fast path gives the full parse value or declines', () => {
  const files = execFileSync('git', ['ls-files', '*.yaml', '*.yml'], { cwd: REPO, encoding: 'utf8' }).split('\n').filter(Boolean);
  const texts = files.map((f) => readFileSync(join(REPO, f), 'utf8')).filter((t) => t.length < 20_000);
  const rnd = random(7);
  const problems: string[] = [];
  for (let i = 0; i < 1500 && problems.length < 5; i++) {
    const d = disagreement(mutated(texts[Math.floor(rnd() * texts.length)]!, rnd));
    if (d) problems.push(d);
  }
  assert.deepEqual(problems, []);
});
