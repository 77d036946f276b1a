/**
 * Typed errors. Every error keyway raises on bad input or a failed dependency carries a stable
 * `code` (documented in docs/errors.md) and, where it applies, where the problem is.
 */

/**
 * Every error code, the one list: the type below, the REST error schema (OpenAPI) and
 * docs/errors.md (a test checks it documents exactly these) derive from it.
 */
export const ERROR_CODES = [
  /** The topology file is not valid YAML. */
  'CONFIG_PARSE',
  /** The topology file parsed but a field is missing, of the wrong type or out of range. */
  'CONFIG_INVALID',
  /** The topology file could not be read. */
  'CONFIG_READ',
  /** Two endpoints share one identity. */
  'DUPLICATE_ENDPOINT',
  /** An argument to a public function or REST route is out of range. */
  'BAD_ARGUMENT',
  /** A requested shard, endpoint or proxy does not exist. */
  'NOT_FOUND',
  /** The Kubernetes API could not be reached or answered with an error. */
  'SOURCE_UNAVAILABLE',
  /** A generated xDS snapshot is inconsistent (a name referenced but not defined). */
  'SNAPSHOT_INCONSISTENT',
  /** The client library (keyway/client) got no usable answer from keyway's REST API. */
  'KEYWAY_UNAVAILABLE',
  /** A topology is valid field by field but exceeds the documented work budget (shards x replicas x endpoints, or endpoints alone). */
  'BUDGET_EXCEEDED',
  /** A client went past a documented limit (names per subscription, streams per connection or node id, buffered bytes, request size). */
  'LIMIT_EXCEEDED',
  /** A REST request lacks the admin bearer token, or an xDS stream's node id does not match its client certificate. */
  'UNAUTHENTICATED',
  /** keyway failed in a way that is not the caller's fault (REST 5xx); the message says what failed. */
  'INTERNAL',
] as const;

export type KeywayErrorCode = (typeof ERROR_CODES)[number];

/** Where a problem sits: a file, a line (1-based) and a field path such as `endpoints[3].weight`. */
export interface ErrorLocation {
  readonly file?: string;
  readonly line?: number;
  readonly column?: number;
  readonly field?: string;
}

/**
 * The error keyway and its libraries raise (docs/errors.md): callers and the REST error body go by
 * `code`, which is stable; the message is for people.
 */
export class KeywayError extends Error {
  override readonly name = 'KeywayError';
  constructor(
    readonly code: KeywayErrorCode,
    message: string,
    readonly location: ErrorLocation = {},
    options?: { cause?: unknown },
  ) {
    super(KeywayError.format(message, location), options);
  }

  /** Renders `file:line:column: field: message`, leaving out the parts that are unknown. */
  static format(message: string, loc: ErrorLocation): string {
    const where = [loc.file, loc.line, loc.line !== undefined ? loc.column : undefined]
      .filter((p) => p !== undefined)
      .join(':');
    const field = loc.field ? `${loc.field}: ` : '';
    return `${where ? `${where}: ` : ''}${field}${message}`;
  }

  toJSON(): { code: KeywayErrorCode; message: string } & ErrorLocation {
    return { code: this.code, message: this.message, ...this.location };
  }
}

/** Several problems found in one input (a config file), reported together so a user fixes them in one pass. */
export class KeywayErrors extends Error {
  override readonly name = 'KeywayErrors';
  constructor(readonly errors: readonly KeywayError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
  get code(): KeywayErrorCode {
    return this.errors[0]?.code ?? 'CONFIG_INVALID';
  }
}

/**
 * Sorts problems by line and column so the report reads top to bottom like the topology file
 * (the sections validated after loading, such as `kubernetes:`, too). Stable: problems at one
 * place keep their order.
 */
export function inFileOrder(errors: readonly KeywayError[]): KeywayError[] {
  const key = (e: KeywayError): [number, number] => [e.location.line ?? 0, e.location.column ?? 0];
  return [...errors].sort((a, b) => key(a)[0] - key(b)[0] || key(a)[1] - key(b)[1]);
}

/** A topology file that cannot be read, parsed or validated (the CLI's exit status 2). */
export function isConfigError(err: unknown): err is KeywayError | KeywayErrors {
  return (err instanceof KeywayErrors || err instanceof KeywayError) && CONFIG_ERROR_CODES.includes(err.code);
}

/** The codes that mean "the topology file is bad". */
const CONFIG_ERROR_CODES: readonly KeywayErrorCode[] = ['CONFIG_READ', 'CONFIG_PARSE', 'CONFIG_INVALID', 'DUPLICATE_ENDPOINT', 'BUDGET_EXCEEDED'];
