/**
 * Command-line parsing for `keyway` (public contract: README "Running keyway", `keyway --help`).
 * Flags win over environment variables, which win over defaults.
 */
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { MAX_PORT } from '../core/limits.js';
import { optionErrorMessage } from './parse-options.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SERVE_SYNOPSIS = `  keyway serve --config FILE [--http-port N] [--xds-port N] [--ext-proc-port N|off]
               [--host ADDR] [--admin-host ADDR]
               [--admin-token-file FILE] [--xds-tls-cert FILE --xds-tls-key FILE
               [--xds-tls-client-ca FILE [--xds-tls-allowed-sans LIST]]] [--log-level LEVEL]`;

const SERVE_SUMMARY = 'Watch the topology file, keep the shard map, serve the REST API (and xDS).';
const CHECK_SUMMARY = `Validate a topology file as serve does: its problems with file, line and field (exit 2),
            then every warning serve would log (exit 0).`;

const CONFIG_OPTION = '  -c, --config FILE      Topology file (YAML). Required by serve and check.';

const SERVE_OPTIONS = `      --http-port N      REST API port       [env KEYWAY_HTTP_PORT, default 8080; 0 = any free port]
      --xds-port N       xDS gRPC port       [env KEYWAY_XDS_PORT, default 18000]
      --ext-proc-port N  Endpoint picker (ext_proc) gRPC port for gateways  [env KEYWAY_EXT_PROC_PORT,
                         default 9002; 0 or off turns the picker off]
      --host ADDR        Interface the xDS server and endpoint picker bind  [env KEYWAY_HOST,
                         default :: (IPv4 and IPv6; 0.0.0.0 on a host without IPv6)]
      --admin-host ADDR  Interface the REST API binds    [env KEYWAY_ADMIN_HOST, default 127.0.0.1;
                         :: in Kubernetes (KUBERNETES_SERVICE_HOST set), where probes need it]
      --admin-token-file FILE  Bearer token required for /v1 and /debug (/healthz, /readyz,
                         /metrics stay open)  [env KEYWAY_ADMIN_TOKEN_FILE, default none]
      --xds-tls-cert FILE, --xds-tls-key FILE  Serve xDS over TLS with this PEM certificate and key
                         [env KEYWAY_XDS_TLS_CERT, KEYWAY_XDS_TLS_KEY; files re-read every minute]
      --xds-tls-client-ca FILE  mTLS: require client certificates from this CA; a stream's node id
                         must equal a URI or DNS SAN or the CN of its certificate
                         [env KEYWAY_XDS_TLS_CLIENT_CA]
      --xds-tls-allowed-sans LIST  mTLS: comma-separated patterns (\`*\` wildcard) one SAN or the CN
                         must match  [env KEYWAY_XDS_TLS_ALLOWED_SANS, default any]
      --log-level LEVEL  ${LOG_LEVELS.join(' | ')}  [env KEYWAY_LOG_LEVEL, default info]`;

const HELP_OPTION = '  -h, --help             Show this help.';

export const USAGE = `Usage:
${SERVE_SYNOPSIS}
  keyway check --config FILE
  keyway status   [--server URL] [--token T] [-o table|json]
  keyway shardmap [--endpoint ID] [--zone Z] [--subzone S] [--shards] [--server URL] [--token T] [-o table|json]
  keyway lookup KEY [--server URL] [--token T] [-o table|json]
  keyway diff OLD.yaml NEW.yaml [--shards] [--load SNAPSHOTS.json] [-o table|json]
  keyway COMMAND --help
  keyway --help

Commands:
  serve     ${SERVE_SUMMARY}
  check     ${CHECK_SUMMARY}
  status    Readiness, shard-map version, and every proxy's xDS sync state (REST API).
  shardmap  Ownership against weight per endpoint and fabric; owners per shard (REST API).
  lookup    The shard of a key and its owners (REST API).
  diff      Offline: which shards two topology files move, and how much cached data goes cold.

Options:
${CONFIG_OPTION}
${SERVE_OPTIONS}
      --server URL       REST API of a running keyway, for status, shardmap, lookup
                         [env KEYWAY_SERVER, default http://127.0.0.1:8080]
      --token TOKEN      Admin bearer token for status, shardmap, lookup  [env KEYWAY_TOKEN]
  -o, --output FORMAT    table | json (status, shardmap, lookup, diff)  [default table]
                         --server, --token and -o go after the command or before it:
                         keyway status --server URL, or keyway --server URL status
${HELP_OPTION}

Exit status: 0 success (and after SIGTERM/SIGINT), 1 runtime failure (such as a server that cannot be
reached, or an internal error: KEYWAY_DEBUG=1 prints its stack trace), 2 bad usage or invalid
topology file.`;

/** `keyway serve --help`: serve's synopsis and options only. */
export const SERVE_USAGE = `Usage:
${SERVE_SYNOPSIS}

${SERVE_SUMMARY}

Options:
${CONFIG_OPTION}
${SERVE_OPTIONS}
${HELP_OPTION}

Exit status: 0 after SIGTERM/SIGINT (graceful shutdown), 1 runtime failure (such as a port in use),
2 bad usage or invalid topology file.`;

/** `keyway check --help`. */
export const CHECK_USAGE = `Usage: keyway check --config FILE

${CHECK_SUMMARY.replace(/\n\s+/, '\n')}

Options:
${CONFIG_OPTION}
${HELP_OPTION}

Exit status: 0 valid (warnings included), 1 check itself failed, 2 invalid topology file.`;

export type Command =
  /** `topic`: the command whose help was asked (`keyway check --help`, `keyway help status`). */
  | { readonly command: 'help'; readonly topic?: string }
  | { readonly command: 'check'; readonly config: string }
  | {
      readonly command: 'serve';
      readonly config: string;
      readonly httpPort: number;
      readonly xdsPort: number;
      /** The endpoint picker's port (docs/gateways.md); undefined: the picker is off. */
      readonly extProcPort?: number;
      readonly host: string;
      readonly adminHost: string;
      /** File holding the admin bearer token; absent: the REST API asks for none. */
      readonly adminTokenFile?: string;
      /** TLS for the xDS port; absent: plaintext. */
      readonly xdsTls?: XdsTlsFlags;
      readonly logLevel: LogLevel;
    };

/** The `--xds-tls-*` flags (docs/security.md "TLS and mTLS for xDS"). */
export interface XdsTlsFlags {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
  readonly allowedSans?: readonly string[];
}

/** A usage error: the CLI prints it with the usage text and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The options of `serve`, `check` and `help` (the client commands have theirs in commands/). */
const SERVE_OPTIONS_CONFIG = {
  config: { type: 'string', short: 'c' },
  'http-port': { type: 'string' },
  'xds-port': { type: 'string' },
  'ext-proc-port': { type: 'string' },
  host: { type: 'string' },
  'admin-host': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'xds-tls-cert': { type: 'string' },
  'xds-tls-key': { type: 'string' },
  'xds-tls-client-ca': { type: 'string' },
  'xds-tls-allowed-sans': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The client commands of docs/cli.md, which commands/index.ts dispatches (parseCommand names them in its messages). */
export const CLIENT_COMMANDS = ['status', 'shardmap', 'lookup', 'diff'] as const;

/** The client commands' options, unknown to serve and check: what their usage errors add. */
const CLIENT_OPTION_HINTS: Readonly<Record<string, string>> = {
  '--server': 'an option of status, shardmap and lookup: keyway status --server URL',
  '--token': 'an option of status, shardmap and lookup: keyway status --token TOKEN',
  '--output': 'an option of status, shardmap, lookup and diff: keyway status --output json',
  '-o': 'an option of status, shardmap, lookup and diff: keyway status -o json',
};

/** Parses `argv` (without node and script) with `env` for the fallbacks. @throws UsageError */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  // The client options too: `keyway -server X status` reaches here, the command not found behind it.
  refuseSingleDashLongOptions(argv, [...Object.keys(SERVE_OPTIONS_CONFIG), 'server', 'token', 'output']);
  const [first, second] = argv;
  if (first !== undefined && Object.hasOwn(CLIENT_OPTION_HINTS, first) && second !== undefined && (CLIENT_COMMANDS as readonly string[]).includes(second)) {
    // `keyway --server status`: the command was taken as the option's value, and none is left.
    throw new UsageError(`${first} needs a value before the command: keyway ${first} ${first === '--token' ? 'TOKEN' : first === '--server' ? 'URL' : 'json'} ${second}`);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, strict: true, options: SERVE_OPTIONS_CONFIG });
  } catch (err) {
    throw new UsageError(misplacedBeforeClientCommand(argv) ?? optionErrorMessage(err, argv, SERVE_OPTIONS_CONFIG, CLIENT_OPTION_HINTS));
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return helpCommand(positionals);
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (command !== undefined && (CLIENT_COMMANDS as readonly string[]).includes(command)) {
    // Reached after `--` or a serve option: the client commands are dispatched only as the first argument.
    throw new UsageError(`the command ${JSON.stringify(command)} must come first, before other arguments: keyway ${command} [options]`);
  }
  if (command !== 'serve' && command !== 'check') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (!values.config) throw new UsageError('--config FILE is required');
  if (command === 'check') return { command, config: values.config };
  const setting = (flag: SettingFlag): string | undefined => settingValue(flag, values[flag], env);
  // A bad value is named where it was given: the flag, or the variable when the flag is left out.
  const source = (flag: SettingFlag): string => (values[flag] !== undefined ? `--${flag}` : SETTINGS[flag].variable);
  const adminTokenFile = setting('admin-token-file');
  const xdsTls = xdsTlsFlags(setting('xds-tls-cert'), setting('xds-tls-key'), setting('xds-tls-client-ca'), setting('xds-tls-allowed-sans'), source('xds-tls-allowed-sans'));
  const extProcPort = extProcPortFlag(setting('ext-proc-port'), source('ext-proc-port'));
  return {
    command,
    config: values.config,
    httpPort: port(source('http-port'), setting('http-port'), 8080),
    xdsPort: port(source('xds-port'), setting('xds-port'), 18000),
    ...(extProcPort !== undefined ? { extProcPort } : {}),
    host: setting('host') ?? anyAddress(),
    adminHost: setting('admin-host') ?? defaultAdminHost(env),
    ...(adminTokenFile !== undefined ? { adminTokenFile } : {}),
    ...(xdsTls ? { xdsTls } : {}),
    logLevel: logLevel(source('log-level'), setting('log-level')),
  };
}

/** The client options that may come before a client command (docs/cli.md), as commands/invocation.ts moves them. */
const LEADING_CLIENT_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

/**
 * The client commands' other options that take a value (commands/index.ts: shardmap's filters,
 * diff's --load), so that in `keyway --zone status shardmap` "status" reads as --zone's value, not
 * as the command. A copy, since commands/ stays unloaded for serve; a test checks it against the
 * commands' usage lines.
 */
export const CLIENT_VALUE_OPTIONS = {
  endpoint: { type: 'string' },
  zone: { type: 'string' },
  subzone: { type: 'string' },
  load: { type: 'string' },
} as const;

/** The names a command line's command can have: what the first of them names is the command. */
const COMMAND_NAMES: readonly string[] = ['serve', 'check', 'help', ...CLIENT_COMMANDS];

/**
 * For `keyway -o json --zone z shardmap`: a client command that an option other than --server,
 * --token and -o comes before, so it was not dispatched as one (commands/invocation.ts). The
 * message names that option; read as serve's, the line's first client option was called unknown,
 * `-o` here, which docs/cli.md allows before the command. Only when the line's command (its first
 * command name) is a client one: in `keyway check --conifg shardmap` the command is check, and
 * the unknown option's own message stands. `--help` is named last: `keyway --help shardmap` is
 * valid, so in `keyway --help --zone z shardmap` the option to move is --zone.
 */
function misplacedBeforeClientCommand(argv: readonly string[]): string | undefined {
  // Non-strict, node:util reads every option as the strict parse does but keeps going past unknown ones.
  const { tokens } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: { ...SERVE_OPTIONS_CONFIG, ...CLIENT_VALUE_OPTIONS, ...LEADING_CLIENT_OPTIONS },
    tokens: true,
  });
  const first = tokens.find((t) => t.kind === 'positional' && COMMAND_NAMES.includes(t.value));
  if (first?.kind !== 'positional' || !(CLIENT_COMMANDS as readonly string[]).includes(first.value)) return undefined;
  const command = first.value;
  const before = tokens.filter((t) => t.index < first.index && t.kind === 'option' && !Object.hasOwn(LEADING_CLIENT_OPTIONS, t.name));
  const misplaced = before.find((t) => t.kind === 'option' && t.name !== 'help') ?? before[0];
  if (misplaced?.kind !== 'option') return undefined;
  return `${JSON.stringify(misplaced.rawName)} comes before the command ${JSON.stringify(command)}: only --server, --token and -o may; its other options go after it: keyway ${command} [options]`;
}

/**
 * Refuses `-config`, `-server=x`, `-help`: one dash before a long option's name. Read as short
 * options they became `-c onfig` (a config file named "onfig"), `-o utput` or "unknown option '-s'",
 * none of which says what was wrong. Arguments after `--` are positionals and left alone.
 * @throws UsageError naming the argument and the spelling meant
 */
export function refuseSingleDashLongOptions(argv: readonly string[], longNames: readonly string[]): void {
  for (const arg of argv) {
    if (arg === '--') return;
    const m = /^-([a-z][a-z-]+)(=.*)?$/s.exec(arg);
    if (m && longNames.includes(m[1]!)) throw new UsageError(`${JSON.stringify(arg)}: a long option takes two dashes: --${m[1]}${m[2] ?? ''}`);
  }
}

interface Setting {
  readonly variable: string;
  readonly metavar: string;
  /** What leaving it out does, completing "leave the flag out ...". */
  readonly unset: string;
  readonly protects?: true;
}

/**
 * The serve flags that take a value, with their environment variables and what leaving them out
 * means. `protects`: the setting turns a protection on (docs/security.md).
 */
const SETTINGS = {
  'http-port': { variable: 'KEYWAY_HTTP_PORT', metavar: 'N', unset: 'for the default, 8080' },
  'xds-port': { variable: 'KEYWAY_XDS_PORT', metavar: 'N', unset: 'for the default, 18000' },
  'ext-proc-port': { variable: 'KEYWAY_EXT_PROC_PORT', metavar: 'N|off', unset: 'for the default, 9002' },
  host: { variable: 'KEYWAY_HOST', metavar: 'ADDR', unset: 'for the default, :: (0.0.0.0 without IPv6)' },
  'admin-host': { variable: 'KEYWAY_ADMIN_HOST', metavar: 'ADDR', unset: 'for the default, 127.0.0.1 (:: in Kubernetes)' },
  'admin-token-file': { variable: 'KEYWAY_ADMIN_TOKEN_FILE', metavar: 'FILE', unset: 'to serve the REST API without a token', protects: true },
  'xds-tls-cert': { variable: 'KEYWAY_XDS_TLS_CERT', metavar: 'FILE', unset: 'to serve xDS in plaintext', protects: true },
  'xds-tls-key': { variable: 'KEYWAY_XDS_TLS_KEY', metavar: 'FILE', unset: 'to serve xDS in plaintext', protects: true },
  'xds-tls-client-ca': { variable: 'KEYWAY_XDS_TLS_CLIENT_CA', metavar: 'FILE', unset: 'for TLS without client certificates', protects: true },
  'xds-tls-allowed-sans': { variable: 'KEYWAY_XDS_TLS_ALLOWED_SANS', metavar: 'LIST', unset: 'to accept any certificate of the client CA', protects: true },
  'log-level': { variable: 'KEYWAY_LOG_LEVEL', metavar: 'LEVEL', unset: 'for the default, info' },
} as const satisfies Record<string, Setting>;
type SettingFlag = keyof typeof SETTINGS;

/**
 * A serve setting: the flag, else the variable, else undefined (the default). An empty flag is
 * refused: it is never meant (`--admin-token-file "$UNSET"`). An empty variable counts as unset,
 * as `VAR=` usually means, except where the setting turns a protection on: there it is refused,
 * or a template that rendered nothing (`value: ""`) would serve without it, silently.
 * @throws UsageError
 */
function settingValue(flag: SettingFlag, flagValue: string | boolean | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const s: Setting = SETTINGS[flag];
  if (flagValue === '') throw new UsageError(`--${flag} is given an empty value: give ${s.metavar}, or leave the flag out ${s.unset}`);
  if (typeof flagValue === 'string') return flagValue;
  const raw = env[s.variable];
  if (raw !== '') return raw;
  if (s.protects) throw new UsageError(`${s.variable} is set but empty: set it to ${s.metavar} (as --${flag}), or unset it ${s.unset}`);
  return undefined;
}

/**
 * `keyway --help`, `keyway COMMAND --help` or `keyway help [COMMAND]`: the command named, if any
 * (command.ts knows the client commands and refuses a name that is none).
 */
function helpCommand(positionals: readonly string[]): Command {
  const topic = positionals.find((p) => p !== 'help');
  return topic === undefined ? { command: 'help' } : { command: 'help', topic };
}

/**
 * The REST API's default interface: loopback on a workstation or VM, where nothing else needs it,
 * and every interface in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set in every container),
 * where the kubelet's probes and Prometheus reach it over the pod IP (docs/security.md "The admin API").
 */
export function defaultAdminHost(env: NodeJS.ProcessEnv): string {
  return (env.KUBERNETES_SERVICE_HOST ?? '') !== '' ? anyAddress() : '127.0.0.1';
}

/**
 * Every interface, both address families where the host has IPv6: `::` (a dual-stack socket,
 * which takes IPv4 clients too), else `0.0.0.0`. On `0.0.0.0` alone, the proxies and probes of an
 * IPv6 or IPv6-first cluster (pod IPs are IPv6) could not reach keyway; on a kernel without IPv6
 * (booted with `ipv6.disable=1`), binding `::` fails, so there it stays `0.0.0.0`.
 */
export function anyAddress(hasIpv6: boolean = hostHasIpv6()): string {
  return hasIpv6 ? '::' : '0.0.0.0';
}

/** Linux lists /proc/net/if_inet6 exactly when its kernel has IPv6; other systems always have it. */
function hostHasIpv6(): boolean {
  return process.platform !== 'linux' || existsSync('/proc/net/if_inet6');
}

/** Checks that the TLS flags come in the combinations that mean something. @throws UsageError */
function xdsTlsFlags(cert: string | undefined, key: string | undefined, clientCa: string | undefined, sans: string | undefined, sansName: string): XdsTlsFlags | undefined {
  if (cert === undefined && key === undefined) {
    if (clientCa !== undefined) throw new UsageError('--xds-tls-client-ca needs --xds-tls-cert and --xds-tls-key (mTLS is TLS with client certificates)');
    if (sans !== undefined) throw new UsageError('--xds-tls-allowed-sans needs --xds-tls-cert, --xds-tls-key and --xds-tls-client-ca');
    return undefined;
  }
  if (cert === undefined || key === undefined) throw new UsageError('--xds-tls-cert and --xds-tls-key go together: give both');
  const allowedSans = sans?.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (allowedSans !== undefined && clientCa === undefined) {
    throw new UsageError('--xds-tls-allowed-sans needs --xds-tls-client-ca: without client certificates there is no SAN to check');
  }
  // A list of nothing (`,`) must not read as "no list", which accepts every certificate of the CA.
  if (allowedSans?.length === 0) {
    throw new UsageError(`${sansName} holds no pattern, got ${JSON.stringify(sans)}: give comma-separated patterns, or leave it out to accept any certificate of the client CA`);
  }
  return { certFile: cert, keyFile: key, ...(clientCa !== undefined ? { clientCaFile: clientCa } : {}), ...(allowedSans !== undefined ? { allowedSans } : {}) };
}

function port(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_PORT) {
    throw new UsageError(`${name} must be an integer from 0 to ${MAX_PORT}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

/** The picker's port, default 9002; `0` and `off` turn it off (docs/gateways.md). @throws UsageError */
function extProcPortFlag(raw: string | undefined, name: string): number | undefined {
  if (raw === 'off') return undefined;
  const n = port(name, raw, DEFAULT_EXT_PROC_PORT);
  return n === 0 ? undefined : n;
}

/** The endpoint picker's default port, the one gateway examples give the picker. */
export const DEFAULT_EXT_PROC_PORT = 9002;

function logLevel(name: string, raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new UsageError(`${name} must be one of ${LOG_LEVELS.join(' | ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as LogLevel;
}
