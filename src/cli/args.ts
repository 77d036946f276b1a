/**
 * Command-line parsing for `keyway` (public contract: README "Running keyway", `keyway --help`).
 * Flags win over environment variables, which win over defaults.
 */
import { parseArgs } from 'node:util';
import { MAX_PORT } from '../core/limits.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const SERVE_SYNOPSIS = `  keyway serve --config FILE [--http-port N] [--xds-port N] [--ext-proc-port N|off]
               [--host ADDR] [--admin-host ADDR]
               [--admin-token-file FILE] [--xds-tls-cert FILE --xds-tls-key FILE
               [--xds-tls-client-ca FILE [--xds-tls-allowed-sans LIST]]] [--log-level LEVEL]`;

const SERVE_SUMMARY = 'Watch the topology file, keep the shard map, serve the REST API (and xDS).';
const CHECK_SUMMARY = `Validate a topology file as serve does: every problem with file, line and field (exit 2),
            then every warning serve would log (exit 0).`;

const CONFIG_OPTION = '  -c, --config FILE      Topology file (YAML). Required by serve and check.';

const SERVE_OPTIONS = `      --http-port N      REST API port       [env KEYWAY_HTTP_PORT, default 8080; 0 = any free port]
      --xds-port N       xDS gRPC port       [env KEYWAY_XDS_PORT, default 18000]
      --ext-proc-port N  Endpoint picker (ext_proc) gRPC port for gateways  [env KEYWAY_EXT_PROC_PORT,
                         default 9002; 0 or off turns the picker off]
      --host ADDR        Interface the xDS server binds  [env KEYWAY_HOST, default 0.0.0.0]
      --admin-host ADDR  Interface the REST API binds    [env KEYWAY_ADMIN_HOST, default 127.0.0.1;
                         0.0.0.0 in Kubernetes (KUBERNETES_SERVICE_HOST set), where probes need it]
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
${HELP_OPTION}

Exit status: 0 success (and after SIGTERM/SIGINT), 1 runtime failure (such as a server that cannot be
reached), 2 bad usage or invalid topology file.`;

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

/** Parses `argv` (without node and script) with `env` for the fallbacks. @throws UsageError */
export function parseCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
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
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return helpCommand(positionals);
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (command !== 'serve' && command !== 'check') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (!values.config) throw new UsageError('--config FILE is required');
  if (command === 'check') return { command, config: values.config };
  const adminTokenFile = nonEmpty(values['admin-token-file'] ?? env.KEYWAY_ADMIN_TOKEN_FILE);
  const xdsTls = xdsTlsFlags(
    nonEmpty(values['xds-tls-cert'] ?? env.KEYWAY_XDS_TLS_CERT),
    nonEmpty(values['xds-tls-key'] ?? env.KEYWAY_XDS_TLS_KEY),
    nonEmpty(values['xds-tls-client-ca'] ?? env.KEYWAY_XDS_TLS_CLIENT_CA),
    nonEmpty(values['xds-tls-allowed-sans'] ?? env.KEYWAY_XDS_TLS_ALLOWED_SANS),
  );
  const extProcPort = extProcPortFlag(values['ext-proc-port'] ?? env.KEYWAY_EXT_PROC_PORT);
  return {
    command,
    config: values.config,
    httpPort: port('--http-port', values['http-port'] ?? env.KEYWAY_HTTP_PORT, 8080),
    xdsPort: port('--xds-port', values['xds-port'] ?? env.KEYWAY_XDS_PORT, 18000),
    ...(extProcPort !== undefined ? { extProcPort } : {}),
    host: values.host ?? env.KEYWAY_HOST ?? '0.0.0.0',
    adminHost: values['admin-host'] ?? nonEmpty(env.KEYWAY_ADMIN_HOST) ?? defaultAdminHost(env),
    ...(adminTokenFile !== undefined ? { adminTokenFile } : {}),
    ...(xdsTls ? { xdsTls } : {}),
    logLevel: logLevel(values['log-level'] ?? env.KEYWAY_LOG_LEVEL),
  };
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
  return (env.KUBERNETES_SERVICE_HOST ?? '') !== '' ? '0.0.0.0' : '127.0.0.1';
}

function nonEmpty(raw: string | undefined): string | undefined {
  return raw === undefined || raw === '' ? undefined : raw;
}

/** Checks that the TLS flags come in the combinations that mean something. @throws UsageError */
function xdsTlsFlags(cert?: string, key?: string, clientCa?: string, sans?: string): XdsTlsFlags | undefined {
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
  return { certFile: cert, keyFile: key, ...(clientCa !== undefined ? { clientCaFile: clientCa } : {}), ...(allowedSans?.length ? { allowedSans } : {}) };
}

function port(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_PORT) {
    throw new UsageError(`${name} must be an integer from 0 to ${MAX_PORT}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

/** The picker's port, default 9002; `0` and `off` turn it off (docs/gateways.md). @throws UsageError */
function extProcPortFlag(raw: string | undefined): number | undefined {
  if (raw === 'off') return undefined;
  const n = port('--ext-proc-port', raw, DEFAULT_EXT_PROC_PORT);
  return n === 0 ? undefined : n;
}

/** The endpoint picker's default port, the one gateway examples give the picker. */
export const DEFAULT_EXT_PROC_PORT = 9002;

function logLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(' | ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as LogLevel;
}
