/**
 * The topology file's fast parse (docs/configuration.md "How the file is read"): plain YAML, read
 * into plain values by js-yaml under exactly the YAML 1.2 core schema the `yaml` library applies.
 *
 * Why two parsers: the `yaml` library keeps every node's position, which is what lets each config
 * error name its line and column, and it costs about 6 ms for a 64-endpoint file, on every change of
 * the file (the largest fixed cost between a topology change and the xDS push). js-yaml reads the
 * same text in about 0.8 ms but keeps no positions. So a file is read fast first; only when it holds
 * what the fast path does not take (anchors, aliases, tags, merge keys, directives), fails to parse,
 * or fails validation is it read again by the `yaml` library, whose errors are then the ones shown.
 * The fast path must never read a file differently: where js-yaml reads some text otherwise than
 * the `yaml` library, or accepts what it refuses, that text is left to the full parse too
 * (READ_DIFFERENTLY below; test/config/plain-yaml-differential.test.ts compares the two).
 */
import jsyaml from 'js-yaml';
import { underflowsToZero } from './number-underflow.js';

/**
 * Text the fast path leaves to the full parse: anchors (`&`), aliases (`*`), tags (`!`), directives
 * (`%`) and merge keys (`<<`): the full parse bounds and locates their errors (load.ts). The check
 * is on characters outside comments, so a quoted `*` also takes the full path: slower, never different.
 */
const FULL_PARSE_ONLY = /[&*!%]|<</;

/**
 * Text js-yaml reads otherwise than the `yaml` library wherever it is, comments included: a
 * carriage return not followed by a line feed (a line break to js-yaml, part of the text to yaml)
 * and a byte order mark past the start (kept in the text by js-yaml, dropped by yaml).
 */
const READ_DIFFERENTLY_ANYWHERE = /\r(?!\n)|[^]\uFEFF/;

/**
 * Text js-yaml reads otherwise than the `yaml` library, or accepts where it refuses, outside
 * comments. Each check is on characters and errs towards the full parse (slower, never different).
 */
const READ_DIFFERENTLY: readonly RegExp[] = [
  FULL_PARSE_ONLY,
  // `---a` or `...a` at a line start: a document marker to js-yaml, a plain scalar to yaml.
  /^(?:---|\.\.\.)[^\s]/m,
  // `--- a: 1`: js-yaml takes a block collection on the marker's line, yaml refuses it.
  /^---[ \t]+[^\s]/m,
  // A tab in a line's indentation: js-yaml takes some that yaml refuses.
  /^ *\t/m,
  // A `#` right after a closing quote or bracket (`"a"#b`): a comment to js-yaml, an error to yaml.
  /["'\]}]#/,
  // A block scalar's indentation indicator (`|2`): counted from another column at the top level.
  /[|>][-+]?[0-9]/,
  // Explicit keys (`? `) and collections as keys (`[a]: 1`): js-yaml joins them as "a,b", yaml as "[ a, b ]".
  /\?(?:[\s,\]}]|$)/,
  /[\]}][ \t]*:/,
  // An empty list entry (`-` alone): js-yaml adds the next, less indented `- b` to its list.
  /^[ \t]*(?:-[ \t]+)*-[ \t]*(?:#.*)?\r?$/m,
];

/** The yaml library refuses an implicit key of more than 1024 characters; js-yaml takes it. */
const MAX_IMPLICIT_KEY_CHARS = 1024;

// The YAML 1.2 core schema's resolution of plain scalars (YAML 1.2.2 section 10.3.2), which is what
// the `yaml` library applies by default. js-yaml's own CORE_SCHEMA differs at the edges (it reads
// `0b101`, `+0x1F` and `-0o7` as numbers and `+.5` as a string), so the four types are stated here.
const coreType = (tag: string, pattern: RegExp, construct: (s: string) => unknown): jsyaml.Type =>
  new jsyaml.Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    resolve: (s: string | null) => pattern.test(s ?? ''),
    construct: (s: string | null) => construct(s ?? ''),
  });

const CORE_SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: [
    coreType('null', /^(?:~|null|Null|NULL|)$/, () => null),
    coreType('bool', /^(?:true|True|TRUE|false|False|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'),
    coreType('int', /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/, (s) =>
      s.startsWith('0o') ? parseInt(s.slice(2), 8) : s.startsWith('0x') ? parseInt(s.slice(2), 16) : Number(s),
    ),
    coreType('float', /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/, (s) => {
      const lower = s.toLowerCase();
      if (lower.endsWith('.inf')) return s[0] === '-' ? -Infinity : Infinity;
      if (lower === '.nan') return NaN;
      // `1e-400`: the full parse reports it at its line (number-underflow.ts); the throw declines.
      if (underflowsToZero(s, Number(s))) throw new Error(`${s} underflows to 0`);
      return Number(s);
    }),
  ],
});

/**
 * The file's content as plain values, or undefined when the fast path does not take this text,
 * cannot parse it or finds no mapping at its top (the caller then reads it with the `yaml` library,
 * which reports the problem). Duplicate keys and multiple documents are parse failures here, as in
 * the full parse.
 */
export function plainYamlValue(text: string): { readonly value: unknown } | undefined {
  if (READ_DIFFERENTLY_ANYWHERE.test(text) || hasLongLine(text)) return undefined;
  // Most files hold nothing the checks look for. A file that does may hold it only in comments
  // (`# weight > 0`): then which `#` starts a comment is known only once the scalars that may hold
  // one are (quoted and block scalars), so it is checked again after the parse. Removing every
  // candidate comment removes at least as much, so a file that declines even so is not parsed.
  const recheck = declines(text);
  if (recheck && declines(withoutComments(text, []))) return undefined;
  let multiLine = false;
  let otherwise = false;
  const opened: number[] = [];
  const parentStarts: Array<number | undefined> = [];
  // Where a `#` is text, not a comment: [start, end) of every quoted or block scalar.
  const scalars: Array<readonly [number, number]> = [];
  // A flow collection or a quoted or plain scalar over several lines: js-yaml takes continuation
  // lines the yaml library refuses as under-indented. A flow collection closes right after its `]`
  // or `}`; a block scalar (`|`, `>`) is one over several lines by design.
  const listener = (event: 'open' | 'close', state: jsyaml.State): void => {
    if (event === 'open') {
      opened.push(state.position);
      parentStarts.length = opened.length;
      return;
    }
    const first = firstNonSpace(text, opened.pop() ?? 0);
    const end = state.position;
    const flow = (state.kind === 'sequence' || state.kind === 'mapping') && (text[end - 1] === ']' || text[end - 1] === '}');
    const inline = state.kind === 'scalar' && text[first] !== '|' && text[first] !== '>';
    if (flow || inline) {
      const nl = text.indexOf('\n', first);
      if (nl !== -1 && nl < end) multiLine = true;
    }
    // A collection as a key with no value (`{[a]}`, `{b: 1, {c: 1}}`): js-yaml names it "a" or
    // "[object Object]", yaml "[ a ]" or "{ c: 1 }". A value follows a `:`.
    if (flow && opened.length > 0 && text[lastNonSpaceBefore(text, first)] !== ':') {
      // Found once per parent: past its leading comments, which a hostile file could make long.
      const top = opened.length - 1;
      if (parentStarts[top] === undefined) parentStarts[top] = nodeStart(text, opened[top]!);
      if (text[parentStarts[top]!] === '{') otherwise = true;
    }
    if (state.kind === 'scalar' && (text[first] === '|' || text[first] === '>') && deeperLeadingBlank(text, first)) otherwise = true;
    // A plain scalar ends before ` #`; one reached past a comment (`a: # c` then `  b`) keeps it.
    if (recheck && state.kind === 'scalar' && MAY_HOLD_HASH.includes(text[first]!)) scalars.push([first, end]);
  };
  let value: unknown;
  try {
    value = jsyaml.load(text, { schema: CORE_SCHEMA, listener });
  } catch {
    return undefined;
  }
  if (recheck && declines(withoutComments(text, scalars))) return undefined;
  // Only a mapping can be a topology file; anything else (where js-yaml's top-level scalars also
  // differ) is left to the full parse, which reports it. js-yaml names a null key (`~: 1`, `{: 1}`)
  // "null", yaml names it "".
  if (!isMapping(value) || multiLine || otherwise || hasNullKey(value)) return undefined;
  return { value };
}

/**
 * Whether the block scalar whose header starts at `header` has a leading empty line holding more
 * spaces than the first line after those: yaml refuses it ("more-indented leading empty lines"),
 * js-yaml reads an empty scalar when that line is a comment (`a: |`, `   `, `  # c`).
 */
function deeperLeadingBlank(text: string, header: number): boolean {
  let deepest = 0;
  for (let line = text.indexOf('\n', header) + 1; line > 0 && line < text.length; line = text.indexOf('\n', line) + 1) {
    let i = line;
    while (text[i] === ' ') i++;
    if (i < text.length && text[i] !== '\n' && text[i] !== '\r') return i - line < deepest;
    deepest = Math.max(deepest, i - line);
  }
  return false;
}

/** The first character of a scalar that may hold a `#` starting no comment: quotes, block scalars. */
const MAY_HOLD_HASH = `"'|>#`;

function declines(text: string): boolean {
  return READ_DIFFERENTLY.some((re) => re.test(text)) || (/^[ \t]+$/.test(lastLine(text)) && /[|>][0-9]?\+/.test(text));
}

// A keep-chomping block scalar (`|+`) and a last line of spaces with no line break (tested above):
// js-yaml keeps one more line break than yaml.
function lastLine(text: string): string {
  return text.slice(text.lastIndexOf('\n') + 1);
}

/**
 * `text` without its comments, for the checks above: a `#` at a line start or after a space or tab
 * starts a comment (YAML 1.2.2 section 6.6) that runs to the line break, unless it lies in one of
 * `scalars` ([start, end) ranges). A comment ends before `\r` or `\n`, so the line structure (and a
 * lone `\r`) stays for the checks.
 */
function withoutComments(text: string, scalars: Array<readonly [number, number]>): string {
  // Close order is document order, but a node kept as its parent's result closes twice.
  scalars.sort((a, b) => a[0] - b[0]);
  let out = '';
  let from = 0;
  let k = 0;
  let coveredTo = 0;
  for (let at = text.indexOf('#'); at !== -1; at = text.indexOf('#', at + 1)) {
    const before = text[at - 1];
    if (at > 0 && before !== ' ' && before !== '\t' && before !== '\n') continue;
    for (; k < scalars.length && scalars[k]![0] <= at; k++) coveredTo = Math.max(coveredTo, scalars[k]![1]);
    if (coveredTo > at) continue;
    out += text.slice(from, at);
    from = lineEnd(text, at);
    at = from - 1;
  }
  return out + text.slice(from);
}

function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) if (text[i] === '\n' || text[i] === '\r') return i;
  return text.length;
}

function hasLongLine(text: string): boolean {
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    if (end - start > MAX_IMPLICIT_KEY_CHARS) return true;
    start = end + 1;
  }
  return false;
}

/** Where the node whose reading began at `from` starts: past spaces, line breaks and comments. */
function nodeStart(text: string, from: number): number {
  let i = firstNonSpace(text, from);
  while (text[i] === '#') i = firstNonSpace(text, lineEnd(text, i));
  return i;
}

function lastNonSpaceBefore(text: string, at: number): number {
  let i = at - 1;
  while (i >= 0 && (text[i] === ' ' || text[i] === '\t')) i--;
  return i;
}

function firstNonSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\r' || text[i] === '\n')) i++;
  return i;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasNullKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasNullKey);
  if (typeof value !== 'object' || value === null) return false;
  for (const [k, v] of Object.entries(value)) if (k === 'null' || hasNullKey(v)) return true;
  return false;
}
