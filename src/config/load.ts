/**
 * Reading the topology file (public contract: docs/configuration.md): YAML text in, a complete
 * validated config out, or every problem with its file, line and field.
 */
import { constants as fsConstants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { type Document, isAlias, LineCounter, type Node, parseDocument, visit } from 'yaml';
import type { HandoffSettings } from '../core/handoff.js';
import type { HotShardSettings } from '../core/load.js';
import type { Topology } from '../core/settings.js';
import { inFileOrder, KeywayError, KeywayErrors } from '../core/errors.js';
import { MAX_TOPOLOGY_FILE_BYTES } from '../core/limits.js';
import { createLocator, type Locate } from './locator.js';
import { underflowProblems } from './number-underflow.js';
import { plainYamlValue } from './plain-yaml.js';
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
  if (fast !== undefined) {
    // Positions are not needed unless something is wrong: a file that fails here is read again
    // below, and its errors come from that reading (plain-yaml.ts says why).
    const result = validateConfig(fast.value, (path) => ({ file, field: formatFieldPath(path) }));
    if (result.ok) {
      let located: Locate | undefined;
      return assembled(result.config, (path) => (located ??= parseLocated(text, file).locate)(path), file);
    }
  }
  const { value, locate, problems } = parseLocated(text, file);
  const result = validateConfig(value, locate);
  const errors = [...problems, ...(result.ok ? [] : result.errors)];
  if (errors.length > 0 || !result.ok) throw new KeywayErrors(inFileOrder(errors));
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
      ? { kubernetes: { value: kubernetes.value, locate: (path) => locate(['kubernetes', ...path]) } satisfies ConfigSection }
      : {}),
  };
}

/**
 * The full parse: plain values, a locator by file, line and column, and the numbers that read as 0
 * only by rounding (`1e-400`, CONFIG_INVALID: number-underflow.ts).
 * @throws KeywayErrors: CONFIG_PARSE for YAML errors and the alias limits below.
 */
function parseLocated(source: string, file: string): { value: unknown; locate: Locate; problems: KeywayError[] } {
  // A byte order mark is no column of line 1 to an editor, but the line counter would count it.
  const text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new KeywayErrors(
      doc.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        return new KeywayError('CONFIG_PARSE', `invalid YAML: ${e.message} (${e.code})`, { file, line, column: col }, { cause: e });
      }),
    );
  }
  const locate = createLocator(doc, lines, file);
  return { value: toPlainValue(doc, lines, file), locate, problems: underflowProblems(doc, locate) };
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
 *   alias past MAX_YAML_ALIASES, or at the first alias when the aliases expand past MAX_YAML_ALIAS_COUNT.
 */
function toPlainValue(doc: Document, lines: LineCounter, file: string): unknown {
  const at = (node: Node, message: string): KeywayError => {
    const { line, col } = lines.linePos(node.range?.[0] ?? 0);
    return new KeywayError('CONFIG_PARSE', `invalid YAML: ${message}`, { file, line, column: col });
  };
  const anchored = new Set<string>();
  const aliases: Node[] = [];
  const unresolved: KeywayError[] = [];
  visit(doc, {
    Node(_key, node) {
      // Document order: an alias refers to the latest anchor of its name set before it.
      if (isAlias(node)) {
        aliases.push(node);
        if (aliases.length > MAX_YAML_ALIASES) {
          unresolved.push(at(node, `more than ${MAX_YAML_ALIASES} aliases in one file (resolving each costs a scan of the file); write the values out`));
          return visit.BREAK;
        }
        if (!anchored.has(node.source)) unresolved.push(at(node, `unknown alias *${node.source}: no anchor &${node.source} is set before it`));
      } else if (node.anchor) {
        anchored.add(node.anchor);
      }
    },
  });
  if (unresolved.length > 0) throw new KeywayErrors(unresolved);
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_COUNT });
  } catch (err) {
    if (!(err instanceof ReferenceError) || aliases.length === 0) throw err;
    throw new KeywayErrors([
      at(aliases[0]!, `the file's aliases expand to more than ${MAX_YAML_ALIAS_COUNT} copies (nested aliases multiply, as in a "billion laughs"); write the values out or share fewer levels`),
    ]);
  }
}

/**
 * Reads and parses the topology file at `file`.
 * @throws KeywayErrors: CONFIG_READ when the file cannot be read, else as {@link parseConfig}.
 */
export async function loadConfigFile(file: string): Promise<KeywayConfig> {
  return parseConfig(await readConfigText(file), file);
}

/**
 * Reads the topology file's text, for callers that compare contents before parsing (the file source).
 * Only a regular file (after symlinks) is read: a FIFO, a device, a socket or a directory is refused
 * by its type, without waiting for it. A file past MAX_TOPOLOGY_FILE_BYTES is refused without being
 * read whole: by its size, or once one byte more has come (a file that grew since it was opened).
 * @throws KeywayErrors with one CONFIG_READ error naming the file and the system's reason or the
 *   file's type, or one BUDGET_EXCEEDED error for a file past the size budget
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
    if (st.size > MAX_TOPOLOGY_FILE_BYTES) throw tooLarge(file, st.size);
    const bytes = await readAtMost(handle, MAX_TOPOLOGY_FILE_BYTES + 1);
    // A file that grew since stat: one byte past the budget is enough to know.
    if (bytes.length > MAX_TOPOLOGY_FILE_BYTES) throw tooLarge(file, undefined);
    return bytes.toString('utf8');
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

