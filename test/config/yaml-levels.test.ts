/**
 * YamlLevels counts the open collections of a text on the lexer's tokens, following block
 * collections by their columns. Its count must be the yaml library's own: the collections its CST
 * parser holds open, and the depth of the value the text makes. Random block-style documents
 * (compact lists under keys, `- - x`, `- a: 1`, explicit keys, flow leaves, block scalars, comments
 * at any column, indentation of 1 to 3) are compared on all three.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lexer, Parser, parseAllDocuments, parseDocument } from 'yaml';
import { YamlLevels } from '../../src/config/yaml-levels.js';
import { Rng } from '../support/seeded-random.js';

/** A small seeded generator, so a failure can be replayed. */
function random(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

type Tree = string | { readonly flow: string; readonly depth: number } | { readonly block: string } | Tree[] | { readonly map: ReadonlyArray<readonly [string, Tree]> };

function tree(r: () => number, depth: number): Tree {
  const pick = r();
  if (depth <= 0 || pick < 0.25) {
    const leaf = r();
    if (leaf < 0.15) return { flow: '[a, [b, {c: d}]]', depth: 3 };
    if (leaf < 0.25) return { flow: '{a: [b]}', depth: 2 };
    if (leaf < 0.35) return { block: 'line one\n# not a comment\n  - not a list' };
    if (leaf < 0.45) return '"quoted: - [x"';
    return `v${Math.floor(r() * 100)}`;
  }
  const n = 1 + Math.floor(r() * 3);
  if (pick < 0.6) return Array.from({ length: n }, () => tree(r, depth - 1));
  return { map: Array.from({ length: n }, (_, i) => [`k${i}`, tree(r, depth - 1)] as const) };
}

function depthOf(t: Tree): number {
  if (typeof t === 'string' || 'block' in t) return 0;
  if ('flow' in t) return t.depth;
  const children = Array.isArray(t) ? t : t.map.map(([, v]) => v);
  return 1 + Math.max(0, ...children.map(depthOf));
}

const sp = (n: number): string => ' '.repeat(n);

/** Lines of `t` as a block node whose lines start at column `col`; the first line may be joined to an indicator. */
function render(t: Tree, col: number, r: () => number): string[] {
  const width = (): number => 1 + Math.floor(r() * 3);
  const comment = (): string[] => (r() < 0.15 ? [`${sp(Math.floor(r() * 12))}# c`] : []);
  if (Array.isArray(t)) {
    return t.flatMap((item) => {
      if (isLeaf(item)) return [...comment(), `${sp(col)}- ${leaf(item, col + 2)}`];
      if (r() < 0.5) {
        const lines = render(item, col + 2, r);
        const first = lines.findIndex((l) => !l.trimStart().startsWith('#'));
        return [...lines.slice(0, first), `${sp(col)}- ${lines[first]!.slice(col + 2)}`, ...lines.slice(first + 1)];
      }
      return [...comment(), `${sp(col)}-`, ...render(item, col + width(), r)];
    });
  }
  if (typeof t === 'string' || !('map' in t)) throw new Error('a leaf has no block form');
  return t.map.flatMap(([k, v]) => {
    const explicit = r() < 0.1;
    const key = explicit ? [`${sp(col)}? ${k}`, `${sp(col)}:`] : [`${sp(col)}${k}:`];
    if (isLeaf(v)) return [...comment(), ...key.slice(0, -1), `${key.at(-1)} ${leaf(v, col + 1)}`];
    const compact = Array.isArray(v) && !explicit && r() < 0.5;
    return [...comment(), ...key, ...render(v, compact ? col : col + width(), r)];
  });
}

function isLeaf(t: Tree): boolean {
  return typeof t === 'string' || 'flow' in t || 'block' in t;
}

function leaf(t: Tree, contentCol: number): string {
  if (typeof t === 'string') return t;
  if ('flow' in t) return t.flow;
  if ('block' in t) return `|\n${t.block.split('\n').map((l) => `${sp(contentCol + 1)}${l}`).join('\n')}`;
  throw new Error('not a leaf');
}

/** The most collections open at once: by the library's CST parser, and by YamlLevels. */
function counts(text: string): { parser: number; levels: number } {
  const parser = new Parser();
  const levels = new YamlLevels();
  let byParser = 0;
  let byLevels = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    for (const finished of parser.next(token)) void finished;
    byParser = Math.max(byParser, parser.stack.filter((t) => t.type === 'block-map' || t.type === 'block-seq' || t.type === 'flow-collection').length);
    levels.next(token, offset);
    byLevels = Math.max(byLevels, levels.depth);
    if (token !== '\x02' && token !== '\x18' && token !== '\x1f') offset += token.length;
  }
  return { parser: byParser, levels: byLevels };
}

test('shapes written by hand: the count is the parser\'s', () => {
  const shapes: Record<string, number> = {
    'a: 1\n': 1,
    'a:\n  b:\n    c: 1\n': 3,
    'a:\n- b:\n  - c\nd: 1\n': 4,
    '- - - x\n': 3,
    '? - a\n  - b\n: - c\n': 2,
    '- a: 1\n  b:\n  - c\n- d\n': 3,
    'a: |\n    - x\n      - y\nb: [c, {d: [e]}]\n': 4,
    'a: b\n  c\nd:\n  e: 1\n': 2,
    '--- \n- - a\n...\n---\nb: 1\n': 2,
    'a: [b,\n  [c,\n d]]\ne:\n f: 1\n': 3,
    '"a": &x\n  b: *x\n': 2,
  };
  for (const [text, depth] of Object.entries(shapes)) {
    assert.ok([parseAllDocuments(text)].flat().every((d) => d.errors.length === 0), text);
    assert.deepEqual(counts(text), { parser: depth, levels: depth }, JSON.stringify(text));
  }
});

test('random block documents: the count is the parser\'s and the value\'s', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const r = random(seed);
    const t = tree(r, 2 + Math.floor(r() * 7));
    if (isLeaf(t)) continue;
    const text = `${render(t, 0, r).join('\n')}\n`;
    const doc = parseDocument(text);
    assert.deepEqual(doc.errors.map((e) => e.message), [], `seed ${seed}:\n${text}`);
    const want = depthOf(t);
    assert.deepEqual(counts(text), { parser: want, levels: want }, `seed ${seed}:\n${text}`);
  }
});
