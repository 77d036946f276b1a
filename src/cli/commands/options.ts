/**
 * Options shared by the client commands (`status`, `shardmap`, `lookup`, `diff`; public contract:
 * docs/cli.md): `--server URL` (env KEYWAY_SERVER), `--token TOKEN` (env KEYWAY_TOKEN) and `-o table|json`.
 * Flags win over the environment.
 */
import { parseArgs } from 'node:util';
import { CLIENT_COMMANDS, refuseSingleDashLongOptions, UsageError } from '../args.js';
import { optionErrorMessage, type Options } from '../parse-options.js';
import { adminTokenFault } from '../../core/admin-token.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';
export const OUTPUT_FORMATS = ['table', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Where a command writes; the real CLI passes process.stdout/stderr, tests may capture. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
}

/** A failure the CLI reports on stderr as `keyway: <message>` and exits with `exitCode`. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    /** 1: runtime failure (server unreachable or failing); 2: bad usage or bad input file. */
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

export interface ParsedCommand<V> {
  readonly values: V;
  readonly positionals: readonly string[];
  readonly output: OutputFormat;
  readonly help: boolean;
}

/**
 * Parses one client command's arguments: its own `options` plus `-o/--output` and `-h/--help`.
 * @throws UsageError for an unknown flag, a long one with one dash (`-server`), or a bad `-o` value
 */
export function parseCommandArgs<V extends Record<string, unknown>>(argv: readonly string[], options: Options, elsewhere: Readonly<Record<string, string>> = {}): ParsedCommand<V> {
  const all: Options = { ...options, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } };
  refuseSingleDashLongOptions(argv, Object.keys(all));
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: all });
  } catch (err) {
    throw new UsageError(optionErrorMessage(err, argv, all, elsewhere));
  }
  const values = parsed.values as Record<string, unknown>;
  const output = (values.output as string | undefined) ?? 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(output)) {
    throw new UsageError(`-o/--output must be one of ${OUTPUT_FORMATS.join(' | ')}, got ${JSON.stringify(output)}`);
  }
  return { values: values as V, positionals: parsed.positionals, output: output as OutputFormat, help: values.help === true };
}

/**
 * The REST API base URL: `--server`, else KEYWAY_SERVER, else {@link DEFAULT_SERVER}. A bare
 * `host:port` gets `http://`. @throws UsageError when it is not an http(s) URL, or holds a user or password
 */
export function serverUrl(flag: string | undefined, env: NodeJS.ProcessEnv): URL {
  const fromEnv = env.KEYWAY_SERVER || undefined;
  const raw = flag ?? fromEnv ?? DEFAULT_SERVER;
  const name = flag !== undefined ? '--server' : 'KEYWAY_SERVER';
  // `keyway --server status shardmap`: the value forgotten, the next command taken as the server.
  if (flag !== undefined && (CLIENT_COMMANDS as readonly string[]).includes(flag)) {
    throw new UsageError(`--server is given ${JSON.stringify(flag)}, a command's name: its value is missing (--server URL)`);
  }
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${name} must be a URL such as ${DEFAULT_SERVER}, got ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${name} must be an http:// or https:// URL, got ${JSON.stringify(raw)}`);
  }
  if (url.username !== '' || url.password !== '') {
    // Not quoted: the part before @ may be a password.
    throw new UsageError(`${name} must not hold a user name or password (user:password@host): keyway's REST API takes the admin token from --token or KEYWAY_TOKEN`);
  }
  // A base path (keyway behind a path-routing proxy) is kept: routes are resolved below it.
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * The admin bearer token (docs/security.md "The admin API"): `--token`, else KEYWAY_TOKEN, else
 * none. Prefer the variable: a flag shows in the process list.
 * @throws UsageError when `--token` is empty, or when it cannot be the token keyway reads from its
 *   token file: a character that is not visible ASCII (white space, a control character, or beyond ASCII)
 */
export function token(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  // `--token "$UNSET"`: refused, not read as "no token", which would also drop KEYWAY_TOKEN.
  if (flag !== undefined && flag.trim() === '') throw new UsageError('--token is given an empty value: give the token, or leave the flag out to use KEYWAY_TOKEN');
  const raw = flag ?? (env.KEYWAY_TOKEN || undefined);
  const value = raw === undefined || raw.trim() === '' ? undefined : raw.trim();
  if (value === undefined) return undefined;
  // The rule `keyway serve` applies to its token file; the message says where, never the token.
  const fault = adminTokenFault(value);
  if (fault !== undefined) {
    throw new UsageError(`${flag !== undefined ? '--token' : 'KEYWAY_TOKEN'} must be one word of visible ASCII characters, as keyway's --admin-token-file holds; character ${fault.position} is ${fault.what}`);
  }
  return value;
}

/** Prints `value` as indented JSON (the `-o json` form of every command). */
export function printJson(io: CommandIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
