/**
 * The validation kit of the topology file and of the sections other stages own (`kubernetes:`):
 * typed readers that check one field, report a problem at its file, line and field path, and
 * return a usable value (the default when the field is absent or wrong), so a file's problems are
 * all collected in one pass.
 */
import { inFileOrder, KeywayError, KeywayErrors, type ErrorLocation, type KeywayErrorCode } from '../core/errors.js';
import { type ConfigPathSegment, quotedText } from './section.js';

export type FieldPath = readonly ConfigPathSegment[];

/** Where the two dialects of the file differ (kept so every message stays as documented). */
export interface FieldStyle {
  /** Whether `key:` with nothing after it (null) counts as absent, or as a value of the wrong type. */
  readonly nullIsAbsent: boolean;
  /** Between the choices of an enum in "must be one of a | b". */
  readonly choiceSeparator: string;
  /** How an error message shows null. */
  readonly nullWord: string;
}

/** The topology file's top level: null is a wrong value ("got nothing"), choices read `a | b`. */
export const TOPOLOGY_STYLE: FieldStyle = { nullIsAbsent: false, choiceSeparator: ' | ', nullWord: 'nothing' };

/**
 * Most problems one topology file reports (docs/configuration.md "Errors"); past it they are
 * counted, and one last line says how many more there are. Each value of a file can be a problem:
 * the 500,000 empty list entries of a 1 MiB file took about 320 MB as located errors, and their
 * 48 MB message was logged and shown by `/readyz` on every probe.
 */
export const MAX_REPORTED_PROBLEMS = 100;

/**
 * A file's problems as thrown: in file order, at most MAX_REPORTED_PROBLEMS of them, then one line
 * located at `file` saying how many more were found (`omitted` by the steps that found them, and
 * any past the cap here). Shared by the topology loader and the sections other stages validate.
 */
export function reportedProblems(file: string | undefined, errors: readonly KeywayError[], omitted: number): KeywayErrors {
  const kept = inFileOrder(errors).slice(0, MAX_REPORTED_PROBLEMS);
  const more = omitted + errors.length - kept.length;
  if (more === 0 || kept.length === 0) return new KeywayErrors(kept);
  const message = `${more} more ${more === 1 ? 'problem' : 'problems'} not listed (a file's first ${MAX_REPORTED_PROBLEMS} are); fix these and read the file again`;
  return new KeywayErrors([...kept, new KeywayError(kept[0]!.code, message, file === undefined ? {} : { file })]);
}

/** Collects located problems and reads fields of plain mappings. A reader's `path` ends with the field's key in `obj`. */
export class Fields {
  /** The problems kept: the first `maxProblems` found. */
  readonly problems: KeywayError[] = [];
  #omitted = 0;

  constructor(
    readonly locate: (path: FieldPath) => ErrorLocation,
    readonly style: FieldStyle = TOPOLOGY_STYLE,
    readonly maxProblems = Number.POSITIVE_INFINITY,
  ) {}

  /** Reports `message` at `path`; past `maxProblems`, only counts it. */
  add(path: FieldPath, message: string, code: KeywayErrorCode = 'CONFIG_INVALID'): void {
    if (this.problems.length >= this.maxProblems) {
      this.#omitted++;
      return;
    }
    this.problems.push(new KeywayError(code, message, this.locate(path)));
  }

  /** Problems found past `maxProblems`, counted but not kept. */
  get omitted(): number {
    return this.#omitted;
  }

  /** Every problem found, kept or not. */
  get found(): number {
    return this.problems.length + this.#omitted;
  }

  /** A value as this file's error messages show it: strings quoted, containers by kind. */
  describe(v: unknown): string {
    return describeValue(v, this.style.nullWord);
  }

  /** Reports `is required`; returns undefined. */
  missing(path: FieldPath): undefined {
    this.add(path, 'is required');
    return undefined;
  }

  /** An integer in [min, max]; `unit` (e.g. "milliseconds") is named in the message. */
  integerIn(obj: Record<string, unknown>, path: FieldPath, min: number, max: number, dflt: number, unit?: string): number {
    const v = obj[keyOf(path)];
    if (this.#absent(obj, path)) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      this.add(path, `must be an integer ${range}${unit ? ` (${unit})` : ''}, got ${this.describe(v)}`);
      return dflt;
    }
    return v;
  }

  /** A finite number >= 0. */
  nonNegativeNumber(obj: Record<string, unknown>, path: FieldPath, dflt: number): number {
    const v = obj[keyOf(path)];
    if (this.#absent(obj, path)) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      this.add(path, `must be a number >= 0, got ${this.describe(v)}`);
      return dflt;
    }
    return v;
  }

  /**
   * An endpoint weight: 0, or a number from {@link MIN_POSITIVE_WEIGHT} to {@link MAX_WEIGHT}, so
   * every rendezvous score is a normal double (docs/configuration.md, `weight`).
   */
  weight(obj: Record<string, unknown>, path: FieldPath, dflt: number): number {
    const before = this.found;
    const v = this.nonNegativeNumber(obj, path, dflt);
    if (this.found > before || this.#absent(obj, path)) return v;
    const outside = weightRangeProblem(v);
    if (outside !== undefined) {
      this.add(path, `${outside}, got ${v}`);
      return dflt;
    }
    return v;
  }

  /** true or false. */
  boolean(obj: Record<string, unknown>, path: FieldPath, dflt: boolean): boolean {
    const v = obj[keyOf(path)];
    if (this.#absent(obj, path)) return dflt;
    if (typeof v !== 'boolean') {
      this.add(path, `must be true or false, got ${this.describe(v)}`);
      return dflt;
    }
    return v;
  }

  /** One of `allowed`. */
  oneOf<T extends string>(obj: Record<string, unknown>, path: FieldPath, allowed: readonly T[], dflt: T): T {
    const v = obj[keyOf(path)];
    if (this.#absent(obj, path)) return dflt;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.add(path, `must be one of ${allowed.join(this.style.choiceSeparator)}, got ${this.describe(v)}`);
      return dflt;
    }
    return v as T;
  }

  /** A string matching `pattern`; `what` completes "must be ...". */
  patterned<D extends string | undefined>(obj: Record<string, unknown>, path: FieldPath, pattern: RegExp, dflt: D, what: string): string | D {
    const v = obj[keyOf(path)];
    if (this.#absent(obj, path)) return dflt;
    if (typeof v !== 'string' || !pattern.test(v)) {
      this.add(path, `must be ${what}, got ${this.describe(v)}`);
      return dflt;
    }
    return v;
  }

  /** A non-empty string that must be given (null counts as not given). */
  requiredString(obj: Record<string, unknown>, path: FieldPath): string | undefined {
    const key = keyOf(path);
    if (!(key in obj) || obj[key] === null) return this.missing(path);
    const v = obj[key];
    if (typeof v !== 'string' || v === '') {
      this.add(path, `must be a non-empty string, got ${this.describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** A nested mapping, or undefined when absent or null. */
  optionalMapping(obj: Record<string, unknown>, path: FieldPath): Record<string, unknown> | undefined {
    const key = keyOf(path);
    if (!(key in obj) || obj[key] === null) return undefined;
    const v = obj[key];
    if (!isPlainMapping(v)) {
      this.add(path, `must be a mapping, got ${this.describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** Reports every key of `obj` (at `at`) that is not in `known`, with `message(key)`. */
  unknownKeys(obj: Record<string, unknown>, at: FieldPath, known: readonly string[], message: (key: string) => string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.add([...at, key], message(key));
    }
  }

  #absent(obj: Record<string, unknown>, path: FieldPath): boolean {
    const key = keyOf(path);
    return !(key in obj) || (this.style.nullIsAbsent && (obj[key] === null || obj[key] === undefined));
  }
}

/**
 * The largest weight. The score is -weight / ln(u) with u at most 1 - 2^-53 (docs/hashing.md), so
 * |1 / ln(u)| is at most 2^53 and a score at most weight x 2^53: overflow (Infinity, every tie
 * then broken by id) starts near 2e292 (Number.MAX_VALUE / 2^53). 1e290 leaves a factor of 200 for
 * the selection's rounding margins, and the weights of 5000 endpoints sum to a finite total.
 */
export const MAX_WEIGHT = 1e290;
/**
 * The smallest weight above 0: below about 1e-306 a score (weight / -ln(u), -ln(u) at most
 * 53 ln 2 ~ 36.7) is a subnormal double with too few bits to rank, and ties fall to the id order.
 */
export const MIN_POSITIVE_WEIGHT = 1e-290;

/**
 * Why a finite weight >= 0 cannot be used (without "got ..."), or undefined when it can. Shared
 * by the topology file and the Kubernetes source's annotations and labels.
 */
export function weightRangeProblem(w: number): string | undefined {
  if (w > MAX_WEIGHT) return `must be at most ${MAX_WEIGHT} (beyond it the rendezvous score overflows; weights are relative, so scale them all down)`;
  if (w > 0 && w < MIN_POSITIVE_WEIGHT) return `must be 0 or at least ${MIN_POSITIVE_WEIGHT} (below it the rendezvous score loses the precision to rank; weights are relative, so scale them all up)`;
  return undefined;
}

function keyOf(path: FieldPath): string {
  return String(path[path.length - 1]);
}

/** A mapping as YAML gives it: an object that is not a list, Map or Set. */
export function isPlainMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set);
}

/** A value as an error message shows it: strings quoted (cut past MAX_QUOTED_CHARS), containers by kind, null as `nullWord`. */
function describeValue(v: unknown, nullWord = TOPOLOGY_STYLE.nullWord): string {
  if (v === null || v === undefined) return nullWord;
  if (typeof v === 'string') return quotedText(v);
  if (Array.isArray(v)) return 'a list';
  // What YAML's explicit tags make (!!omap, !!set, !!binary, !!timestamp): none is a plain mapping,
  // and "must be a mapping, got a mapping" would not say why.
  if (v instanceof Map) return 'an ordered mapping (!!omap)';
  if (v instanceof Set) return 'a set (!!set)';
  if (v instanceof Uint8Array) return 'binary data (!!binary)';
  if (v instanceof Date) return 'a timestamp (!!timestamp)';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}
