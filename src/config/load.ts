/**
 * Reading the topology file (public contract: docs/configuration.md): YAML text in, a complete
 * validated config out, or every problem with its file, line and field.
 */
import { createHash } from 'node:crypto';
import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { type Alias, CST, type Document, isAlias, isCollection, isPair, isScalar, Lexer, LineCounter, type Node, parseDocument, visit, type YAMLError, YAMLParseError } from 'yaml';
import type { HandoffSettings } from '../core/handoff.js';
import type { HotShardSettings } from '../core/load.js';
import type { Topology } from '../core/settings.js';
import { KeywayError, KeywayErrors } from '../core/errors.js';
import { MAX_TOPOLOGY_FILE_BYTES } from '../core/limits.js';
import { isPlainMapping, MAX_REPORTED_PROBLEMS, reportedProblems } from './fields.js';
import { createLocator, type Locate } from './locator.js';
import { underflowProblems } from './number-underflow.js';
import { plainYamlValue } from './plain-yaml.js';
import { YamlLevels } from './yaml-levels.js';
import { type ConfigSection, formatFieldPath } from './section.js';
import { validateConfig, type ValidatedConfig, type XdsTiming } from './validate.js';

/** A loaded topology file: what every later stage starts from. */
export interface KeywayConfig {
  /** The path the file was read from, as given (errors and logs print it). */
  readonly file: string;
  /** Policy, xDS settings and endpoints. `endpoints` is empty when `kubernetes` is set. */
  readonly topology: Topology;
  /** The raw `kubernetes:` section for the Kubernetes source to validate, when present. */
  readonly kubernetes?: ConfigSection;
  /** Coalescing of xDS pushes (`xds.holdOffMs`, `xds.maxDelayMs`). */
  readonly xdsTiming: XdsTiming;
  /** Two-phase moves (`handoff:`, docs/ownership.md). */
  readonly handoff: HandoffSettings;
  /** Hot shards (`hotShards:`, docs/hot-shards.md). */
  readonly hotShards: HotShardSettings;
}

/**
 * Parses and validates topology-file text. `file` names the source in error locations.
 * @throws KeywayErrors holding every problem: CONFIG_PARSE (not YAML), CONFIG_INVALID,
 *   DUPLICATE_ENDPOINT, BUDGET_EXCEEDED; each located by file, line, column and field.
 */
export function parseConfig(text: string, file: string): KeywayConfig {
  // Before parsing: the parse itself is the cost the work budget bounds (docs/security.md "Work budget").
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_TOPOLOGY_FILE_BYTES) throw tooLarge(file, bytes);
  const fast = plainYamlValue(text);
  // A file nested too deeply is left to the full parse, which refuses it at the level past the limit.
  if (fast !== undefined && !(mayNestTooDeeply(withoutByteOrderMark(text)) && nestedPast(fast.value, MAX_YAML_NESTING))) {
    // Positions are not needed unless something is wrong: a file that fails here is read again
    // below, and its errors come from that reading (plain-yaml.ts says why).
    const result = validateConfig(fast.value, (path) => ({ file, field: formatFieldPath(path) }));
    if (result.ok) {
      let located: Locate | undefined;
      return assembled(result.config, (path) => (located ??= parseLocated(text, file).locate)(path), file);
    }
  }
  const { value, locate, problems, omitted } = parseLocated(text, file);
  const result = validateConfig(value, locate);
  const errors = [...problems, ...(result.ok ? [] : result.errors)];
  if (errors.length > 0 || !result.ok) throw reportedProblems(file, errors, omitted + (result.ok ? 0 : result.omitted));
  return assembled(result.config, locate, file);
}

function assembled(config: ValidatedConfig, locate: Locate, file: string): KeywayConfig {
  const { policy, xds, xdsTiming, handoff, hotShards, endpoints, kubernetes } = config;
  return {
    file,
    topology: { policy, xds, endpoints },
    xdsTiming,
    handoff,
    hotShards,
    ...(kubernetes
      ? { kubernetes: { value: keysSorted(kubernetes.value), locate: (path) => locate(['kubernetes', ...path]) } satisfies ConfigSection }
      : {}),
  };
}

/**
 * `value` with the keys of every mapping in it in sorted order (lists keep theirs). Sections are
 * compared by their JSON to tell whether a reload changed them; the order keys are written in
 * means nothing, and a section compared as written restarted the Kubernetes source on a reload
 * that only reordered its keys.
 */
function keysSorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(keysSorted);
  if (!isPlainMapping(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    // defineProperty: a key written `__proto__` stays a key, as the parse made it.
    Object.defineProperty(out, key, { value: keysSorted(value[key]), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/**
 * The full parse: plain values, a locator by file, line and column, and the numbers that read as 0
 * only by rounding (`1e-400`, CONFIG_INVALID: number-underflow.ts).
 * @throws KeywayErrors: CONFIG_PARSE for YAML errors and the nesting, value and alias limits below.
 */
function parseLocated(source: string, file: string): { value: unknown; locate: Locate; problems: KeywayError[]; omitted: number } {
  const text = withoutByteOrderMark(source);
  const beyondParser = parserLimitProblem(text, file);
  if (beyondParser) throw new KeywayErrors([beyondParser]);
  const lines = new LineCounter();
  // Duplicate keys are found by duplicateKeys below: the library's own check is quadratic.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false });
  const yamlErrors = inTextOrder(doc.errors, duplicateKeys(doc));
  if (yamlErrors.length > 0) {
    // In text order already: the first MAX_REPORTED_PROBLEMS are the ones reported.
    const located = yamlErrors.slice(0, MAX_REPORTED_PROBLEMS).map((e) => {
      const { line, col } = lines.linePos(e.pos[0]);
      return new KeywayError('CONFIG_PARSE', `invalid YAML: ${e.message} (${e.code})`, { file, line, column: col }, { cause: e });
    });
    throw reportedProblems(file, located, yamlErrors.length - located.length);
  }
  const locate = createLocator(doc, lines, file);
  const underflows = underflowProblems(doc, locate, MAX_REPORTED_PROBLEMS);
  return { value: toPlainValue(doc, lines, file), locate, problems: underflows.problems, omitted: underflows.omitted };
}

/**
 * A DUPLICATE_KEY error at each key that names the same property of its mapping as an earlier key,
 * by the name the plain value gives it: `1` and `"1"`, `~` and `""`, `.nan` twice, or an alias of
 * an earlier key (`*k : 2` after `&k shards: 1`). The yaml library's `uniqueKeys: true` compares
 * key values with ===, so each of those pairs passed and the last value silently won. A collection
 * key (no field takes one) is left to validation. One Set per mapping: the library compares each key
 * with every key before it, and a 1 MiB file of 100,000 keys took over two minutes to parse.
 */
function duplicateKeys(doc: Document): YAMLError[] {
  const found: YAMLError[] = [];
  const anchors = anchorsOf(doc);
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        const name = propertyName(pair.key, anchors);
        if (name === undefined) continue;
        if (!seen.has(name)) seen.add(name);
        else {
          const at = (pair.key as Node).range?.[0] ?? 0;
          found.push(new YAMLParseError([at, at + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
        }
      }
    },
  });
  return found;
}

/** Every anchored node of `doc` by its anchor's name, in text order (a name may be set again). */
type Anchors = ReadonlyMap<string, ReadonlyArray<{ readonly at: number; readonly node: Node }>>;

function anchorsOf(doc: Document): Anchors {
  const anchors = new Map<string, Array<{ at: number; node: Node }>>();
  visit(doc, {
    Node(_key, node) {
      if (isAlias(node) || !node.anchor) return;
      const list = anchors.get(node.anchor) ?? [];
      list.push({ at: node.range?.[0] ?? 0, node });
      anchors.set(node.anchor, list);
    },
  });
  return anchors;
}

/**
 * The property name a mapping key becomes in the plain value (as the yaml library's toJS names
 * it): a scalar's value as text, '' for null; an alias's, from the last anchor of its name before
 * it. Undefined for a collection or a tagged object (binary, timestamp), or an unknown alias
 * (reported as such later).
 */
function propertyName(key: unknown, anchors: Anchors): string | undefined {
  let node = key;
  if (isAlias(key)) {
    const at = key.range?.[0] ?? 0;
    node = lastBefore(anchors.get(key.source) ?? [], at);
  }
  if (!isScalar(node)) return undefined;
  const v = node.value;
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? undefined : String(v);
}

/** The node of the last entry of `list` (in text order) that starts before `at`. */
function lastBefore(list: ReadonlyArray<{ readonly at: number; readonly node: Node }>, at: number): Node | undefined {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.at < at) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? list[lo - 1]!.node : undefined;
}

/** Two lists of errors each in text order, merged into one. */
function inTextOrder(a: readonly YAMLError[], b: readonly YAMLError[]): YAMLError[] {
  const out: YAMLError[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]!.pos[0] <= b[j]!.pos[0])) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/**
 * Deepest nesting of collections a topology file may have: block collections by indentation
 * (`a:` then `  b:` ...) or on one line (`- - - x`, `? ? x`), flow collections inside one another
 * (`[[[`, `{a: {b: `), or both. A topology file needs about five. The yaml library builds a node
 * per level by recursion: a 1 MiB file of `[` took 6 s and about 1 GB, and one nested 700 to 1100
 * levels by indentation was accepted or refused (RESOURCE_EXHAUSTION, a stack overflow) depending
 * on how much stack the thread had left.
 */
export const MAX_YAML_NESTING = 100;

/** A byte order mark is no column of line 1 to an editor, but the line counter would count it. */
function withoutByteOrderMark(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/**
 * Whether plain `value` has lists or mappings nested more than `levels` deep. The fast parse has
 * no aliases, so each is one collection of the text.
 */
function nestedPast(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (levels === 0) return true;
  return Object.values(value).some((v) => nestedPast(v, levels - 1));
}

/**
 * Most values one topology file may hold, counted on its tokens: every scalar (a key or a value),
 * alias, flow collection, list entry (`-`), key indicator (`?`) and value indicator (`:`). The
 * largest valid file, 5000 endpoints with every key written out, holds about 155,000. The yaml
 * library keeps about 1 KB per node: a 1 MiB file of 520,000 one-letter entries of flow lists
 * (`[a,a,...]`) took 11 s and 560 MB, past the memory limit of keyway's own manifest (512 MiB), so
 * a bad reload could kill the process instead of keeping the last good topology.
 */
export const MAX_YAML_VALUES = 250_000;

/**
 * A CONFIG_PARSE error at the first level past MAX_YAML_NESTING or the first value past
 * MAX_YAML_VALUES, or undefined. A count of the characters clears most files (see mayNestTooDeeply
 * and mayHoldTooManyValues); the others are tokenized to count the real levels (yaml-levels.ts)
 * and values, at about a fifth of the cost of the parse that follows. Counted on tokens, the levels
 * are never limited by the stack the thread has left, so the answer is the same in every thread.
 */
function parserLimitProblem(text: string, file: string): KeywayError | undefined {
  const countValues = mayHoldTooManyValues(text);
  const levels = mayNestTooDeeply(text) ? new YamlLevels() : undefined;
  if (!countValues && !levels) return undefined;
  let offset = 0;
  let values = 0;
  for (const token of new Lexer().lex(text)) {
    const opened = levels?.next(token, offset);
    if (opened !== undefined && levels!.depth > MAX_YAML_NESTING) {
      const message = `invalid YAML: collections nested more than ${MAX_YAML_NESTING} levels deep (a topology file needs about five; the parser's cost grows out of proportion past that)`;
      return new KeywayError('CONFIG_PARSE', message, { file, ...positionOf(text, opened) });
    }
    if (countValues) {
      const type = CST.tokenType(token);
      if (type !== null && VALUE_TOKENS.has(type) && ++values > MAX_YAML_VALUES) {
        const message = `invalid YAML: more than ${MAX_YAML_VALUES} values (keys, values and list entries) in one file (5000 endpoints hold about 155,000; the parser keeps about 1 KB for each)`;
        return new KeywayError('CONFIG_PARSE', message, { file, ...positionOf(text, offset) });
      }
    }
    // The lexer's control tokens (document, scalar and flow-error markers) are not in the text.
    if (token !== '\x02' && token !== '\x18' && token !== '\x1f') offset += token.length;
  }
  return undefined;
}

/** The tokens MAX_YAML_VALUES counts: each makes at least one node of the parse, or holds its place. */
const VALUE_TOKENS: ReadonlySet<string> = new Set([
  'scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'block-scalar-header', 'alias',
  'flow-map-start', 'flow-seq-start', 'seq-item-ind', 'explicit-key-ind', 'map-value-ind',
]);

/** Line and column (1-based) of `offset` in `text`. */
function positionOf(text: string, offset: number): { line: number; column: number } {
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  return { line: countNewlines(text, lineStart) + 1, column: offset - lineStart + 1 };
}

/** Whether `text` may hold more than MAX_YAML_VALUES values: each counted token takes one character or more. */
function mayHoldTooManyValues(text: string): boolean {
  return text.length > MAX_YAML_VALUES;
}

/**
 * Whether `text` may hold more than MAX_YAML_NESTING levels, by a count that is never below the
 * real one: every `[` and `{` in the file (one in a comment or quoted text counts too, and no
 * closing bracket is subtracted, since one in quotes closes nothing), plus twice the deepest line
 * and 2. A line's depth is its lead (the indentation and leading indicators: a block collection
 * starts no further right than its end) plus every `-` or `?` on it followed by a space, a tab, a
 * line break or the end (an indicator where the parser sees one). Each block level starts right
 * of its parent, but for a list under a key at the key's column, so two levels take at least one
 * column. A lone `\r` breaks no line for the parser, so only `\n` ends a line.
 */
function mayNestTooDeeply(text: string): boolean {
  let opened = 0;
  let onLine = 0;
  let lead = 0;
  let leading = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      onLine = 0;
      lead = 0;
      leading = true;
      continue;
    }
    if (c === 0x5b || c === 0x7b) opened++;
    const next = text.charCodeAt(i + 1);
    const indicator = (c === 0x2d || c === 0x3f) && (Number.isNaN(next) || next === 0x20 || next === 0x09 || next === 0x0a || next === 0x0d);
    if (indicator) onLine++;
    if (leading && (indicator || c === 0x20 || c === 0x09)) lead++;
    else leading = false;
    if (opened + 2 * (lead + onLine) + 2 > MAX_YAML_NESTING) return true;
  }
  return false;
}

function countNewlines(text: string, end: number): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < end; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * Most alias expansions a topology file may make (the yaml library's own default, stated here so
 * docs/configuration.md can name it): a few shared locality blocks need far fewer, and a "billion
 * laughs" of nested aliases would otherwise expand into gigabytes.
 */
export const MAX_YAML_ALIAS_COUNT = 100;

/**
 * Most aliases (`*name`) one topology file may hold. The yaml library resolves each alias by a scan
 * over the file's anchors and aliases, so n aliases cost O(n^2) on the event loop: 20,000 take about
 * 13 s; 1,000 take about 60 ms.
 */
export const MAX_YAML_ALIASES = 1000;

/**
 * The document as plain JavaScript, anchors resolved. The yaml library reports alias problems only
 * here, as a bare ReferenceError with no position; this turns them into located CONFIG_PARSE errors.
 * @throws KeywayErrors: CONFIG_PARSE at each alias whose anchor is not defined before it, at the
 *   alias past MAX_YAML_ALIASES, at an alias inside the node its anchor names, at the alias whose
 *   copy takes the file past MAX_YAML_VALUES, or at the first alias when the aliases expand past
 *   MAX_YAML_ALIAS_COUNT.
 */
function toPlainValue(doc: Document, lines: LineCounter, file: string): unknown {
  const at = (node: Node, message: string): KeywayError => {
    const { line, col } = lines.linePos(node.range?.[0] ?? 0);
    return new KeywayError('CONFIG_PARSE', `invalid YAML: ${message}`, { file, line, column: col });
  };
  // The latest node of each anchor's name, and what each alias names (undefined: unknown).
  const anchored = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const aliases: Node[] = [];
  const unresolved: KeywayError[] = [];
  let tooMany: KeywayError | undefined;
  visit(doc, {
    Node(_key, node, path) {
      // Document order: an alias refers to the latest anchor of its name set before it.
      if (isAlias(node)) {
        aliases.push(node);
        if (aliases.length > MAX_YAML_ALIASES) {
          tooMany = at(node, `more than ${MAX_YAML_ALIASES} aliases in one file (resolving each costs a scan of the file); write the values out`);
          return visit.BREAK;
        }
        const target = anchored.get(node.source);
        if (!target) unresolved.push(at(node, `unknown alias *${node.source}: no anchor &${node.source} is set before it`));
        else if (path.includes(target)) unresolved.push(at(node, `alias *${node.source} is inside the node &${node.source} names, which would contain itself without end; no topology field takes that`));
        else targets.set(node, target);
      } else if (node.anchor) {
        anchored.set(node.anchor, node);
      }
    },
  });
  if (tooMany) {
    // Listed within the problem cap like any file's problems (up to 1000 unknown aliases were
    // listed), but never counted away: it is why the file cannot be read.
    const listed = unresolved.slice(0, MAX_REPORTED_PROBLEMS - 1);
    throw reportedProblems(file, [...listed, tooMany], unresolved.length - listed.length);
  }
  if (unresolved.length > 0) throw reportedProblems(file, unresolved, 0);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof ReferenceError) || aliases.length === 0) throw err;
    throw new KeywayErrors([
      at(aliases[0]!, `the file's aliases expand to more than ${MAX_YAML_ALIAS_COUNT} copies (nested aliases multiply, as in a "billion laughs"); write the values out or share fewer levels`),
    ]);
  }
  // Within the copies allowed, each copy may be large: the plain value shares them, but not all its readers do.
  const past = aliases.length > 0 ? aliasPastValueLimit(doc, targets) : undefined;
  if (past) {
    const message = `the file's aliases copy it to more than ${MAX_YAML_VALUES} values (each alias counts as a copy of what its anchor names); write the values out or share smaller blocks`;
    throw new KeywayErrors([at(past, message)]);
  }
  return value;
}

/**
 * The alias at which the file, with every alias counted as a copy of the node its anchor names,
 * passes MAX_YAML_VALUES nodes (scalars and collections), or undefined. The plain value shares one
 * object per anchor, but what keyway keeps of the `kubernetes` section (sorted keys, compared as
 * JSON on each reload) copies each alias: within the alias limits (MAX_YAML_ALIAS_COUNT copies
 * of one anchor), a 520 KB file of 40,000 small mappings aliased 99 times took 7 s and 440 MB to
 * read, and made a 32 MB JSON text. Each node is counted once, in document order, where an anchor's
 * node ends before any alias of it (an alias inside it is refused before this).
 */
function aliasPastValueLimit(doc: Document, targets: ReadonlyMap<Alias, Node>): Node | undefined {
  const sizes = new Map<Node, number>();
  let total = 0;
  let past: Node | undefined;
  // Recursion follows the document's nesting, bounded by MAX_YAML_NESTING, never an alias.
  const count = (node: unknown): void => {
    if (past || node === null || typeof node !== 'object') return;
    if (isAlias(node)) {
      total += sizes.get(targets.get(node)!) ?? 1;
      if (total > MAX_YAML_VALUES) past = node;
      return;
    }
    if (isPair(node)) {
      count(node.key);
      count(node.value);
      return;
    }
    const start = total;
    total++;
    if (isCollection(node)) for (const item of node.items) count(item);
    sizes.set(node as Node, total - start);
  };
  count(doc.contents);
  return past;
}

/**
 * Reads and parses the topology file at `file`.
 * @throws KeywayErrors: CONFIG_READ when the file cannot be read, else as {@link parseConfig}.
 */
export async function loadConfigFile(file: string): Promise<KeywayConfig> {
  return parseConfig(await readConfigText(file), file);
}

/**
 * A topology file refused for its content before any parse: past MAX_TOPOLOGY_FILE_BYTES
 * (BUDGET_EXCEEDED) or not UTF-8 (CONFIG_PARSE). `content` identifies what was refused, so a
 * caller that re-reads the file can tell the same content from a new one, as it does for text
 * that does not parse: a hash of the bytes, or for a file too large to read, its size, inode and
 * modification time.
 */
export class RejectedContent extends KeywayErrors {
  constructor(
    errors: readonly KeywayError[],
    readonly content: string,
  ) {
    super(errors);
  }
}

/**
 * Reads the topology file's text, for callers that compare contents before parsing (the file source).
 * Only a regular file (after symlinks) is read: a FIFO, a device, a socket or a directory is refused
 * by its type, without waiting for it. A file past MAX_TOPOLOGY_FILE_BYTES is refused without being
 * read whole: by its size, or once one byte more has come (a file that grew since it was opened).
 * @throws KeywayErrors with one CONFIG_READ error naming the file and the system's reason or the
 *   file's type; RejectedContent with one BUDGET_EXCEEDED error for a file past the size budget,
 *   or one CONFIG_PARSE error for a file that is not UTF-8
 */
export async function readConfigText(file: string): Promise<string> {
  let handle: FileHandle | undefined;
  try {
    // Checked before opening so a socket or device is named, not opened; again after, in case the
    // path was replaced in between.
    refuseUnlessRegular(file, await stat(file));
    handle = await open(file, READ_WITHOUT_WAITING);
    const st = await handle.stat();
    refuseUnlessRegular(file, st);
    // Not read, so known by what stat says of it.
    const unread = `unread:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (st.size > MAX_TOPOLOGY_FILE_BYTES) throw new RejectedContent(tooLarge(file, st.size).errors, unread);
    const bytes = await readAtMost(handle, MAX_TOPOLOGY_FILE_BYTES + 1);
    // A file that grew since stat: one byte past the budget is enough to know.
    if (bytes.length > MAX_TOPOLOGY_FILE_BYTES) throw new RejectedContent(tooLarge(file, undefined).errors, unread);
    try {
      return utf8Text(bytes, file);
    } catch (err) {
      if (!(err instanceof KeywayErrors)) throw err;
      throw new RejectedContent(err.errors, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
    }
  } catch (err) {
    if (err instanceof KeywayErrors) throw err;
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new KeywayErrors([new KeywayError('CONFIG_READ', `cannot read the topology file: ${reason}`, { file }, { cause: err })]);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Opening a FIFO for reading blocks until a writer opens it, in a threadpool thread nothing can
 * cancel: no reload, no shutdown, not even on a second signal. O_NONBLOCK makes that open return
 * at once (the type check then refuses it); on a regular file it changes nothing.
 */
const READ_WITHOUT_WAITING = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** @throws KeywayErrors with one CONFIG_READ error when `st` is not a regular file, naming its type. */
function refuseUnlessRegular(file: string, st: Stats): void {
  if (st.isFile()) return;
  throw new KeywayErrors([new KeywayError('CONFIG_READ', `cannot read the topology file: it is ${fileType(st)}, not a regular file`, { file })]);
}

function fileType(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'of an unknown type';
}

/** The file-size budget error; `bytes` undefined when the size is not known (a file that grew while read). */
function tooLarge(file: string, bytes: number | undefined): KeywayErrors {
  const has = bytes === undefined ? 'more bytes than' : `${bytes} bytes, more than`;
  return new KeywayErrors([new KeywayError('BUDGET_EXCEEDED', `the topology file has ${has} the work budget's ${MAX_TOPOLOGY_FILE_BYTES}`, { file })]);
}

/** Decodes strictly: the one decoder that throws instead of writing U+FFFD for a bad byte. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The file's bytes as text. Bytes that are not UTF-8 (a file saved as Latin-1 or UTF-16) would
 * read as U+FFFD, so `zone: "zé"` and `zone: "zè"` in Latin-1 would silently be one zone; they are
 * a CONFIG_PARSE error at the first such byte instead. A UTF-8 byte order mark stays in the text,
 * where both parses skip it.
 * @throws KeywayErrors with one CONFIG_PARSE error located at the first byte that is not UTF-8
 */
function utf8Text(bytes: Buffer, file: string): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    if (bytes.length >= 2 && ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))) {
      const message = 'the topology file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8';
      throw new KeywayErrors([new KeywayError('CONFIG_PARSE', message, { file, line: 1, column: 1 })]);
    }
    const at = firstNonUtf8Byte(bytes);
    const lineStart = bytes.lastIndexOf(0x0a, at - 1) + 1;
    const line = bytes.subarray(0, lineStart).reduce((n, b) => (b === 0x0a ? n + 1 : n), 1);
    // Columns count characters as the parser's do, after a byte order mark on line 1 (load.ts skips it).
    const before = bytes.subarray(lineStart, at).toString('utf8');
    const column = (lineStart === 0 ? before.replace(/^\uFEFF/, '') : before).length + 1;
    const hex = bytes[at]!.toString(16).padStart(2, '0');
    const message = `the topology file is not valid UTF-8: byte 0x${hex} at line ${line}, column ${column} (YAML files are read as UTF-8; convert a file saved as Latin-1 or another code page)`;
    throw new KeywayErrors([new KeywayError('CONFIG_PARSE', message, { file, line, column })]);
  }
}

/** The offset of the first byte that does not belong to a well-formed UTF-8 sequence (RFC 3629), or the length. */
function firstNonUtf8Byte(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const more = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (more === 0) return i;
    let cp = c & (0x3f >> more);
    for (let k = 1; k <= more; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    const shortest = more === 1 ? 0x80 : more === 2 ? 0x800 : 0x10000;
    if (cp < shortest || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += more + 1;
  }
  return b.length;
}

/** Reads from `handle` until end of file or `limit` bytes, whichever comes first. */
async function readAtMost(handle: FileHandle, limit: number): Promise<Buffer> {
  const buf = Buffer.alloc(limit);
  let filled = 0;
  while (filled < limit) {
    const { bytesRead } = await handle.read(buf, filled, limit - filled, null);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buf.subarray(0, filled);
}

