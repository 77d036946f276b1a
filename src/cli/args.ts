/**
 * Command-line parsing for `keyway` (public contract: README "Running keyway", `keyway --help`).
 * Flags win over environment variables, which win over defaults.
 */
import { parseArgs } from 'node:util';
import { MAX_PORT } from '../core/limits.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const USAGE = `Usage:
  keyway serve --config FILE [--http-port N] [--xds-port N] [--host ADDR] [--log-level LEVEL]
  keyway check --config FILE
  keyway status   [--server URL] [-o table|json]
  keyway shardmap [--endpoint ID] [--zone Z] [--subzone S] [--shards] [--server URL] [-o table|json]
  keyway lookup KEY [--server URL] [-o table|json]
  keyway diff OLD.yaml NEW.yaml [--shards] [-o table|json]
  keyway COMMAND --help
  keyway --help

Commands:
  serve     Watch the topology file, keep the shard map, serve the REST API (and xDS).
  check     Validate a topology file as serve does: every problem with file, line and field (exit 2),
            then every warning serve would log (exit 0).
  status    Readiness, shard-map version, and every proxy's xDS sync state (REST API).
  shardmap  Ownership against weight per endpoint and fabric; owners per shard (REST API).
  lookup    The shard of a key and its owners (REST API).
  diff      Offline: which shards two topology files move, and how much cached data goes cold.

Options:
  -c, --config FILE      Topology file (YAML). Required by serve and check.
      --http-port N      REST API port       [env KEYWAY_HTTP_PORT, default 8080; 0 = any free port]
      --xds-port N       xDS gRPC port       [env KEYWAY_XDS_PORT, default 18000]
      --host ADDR        Interface to bind   [env KEYWAY_HOST, default 0.0.0.0]
      --log-level LEVEL  ${LOG_LEVELS.join(' | ')}  [env KEYWAY_LOG_LEVEL, default info]
      --server URL       REST API of a running keyway, for status, shardmap, lookup
                         [env KEYWAY_SERVER, default http://127.0.0.1:8080]
  -o, --output FORMAT    table | json (status, shardmap, lookup, diff)  [default table]
  -h, --help             Show this help.

Exit status: 0 success (and after SIGTERM/SIGINT), 1 runtime failure (such as a server that cannot be
reached), 2 bad usage or invalid topology file.`;

export type Command =
  | { readonly command: 'help' }
  | { readonly command: 'check'; readonly config: string }
  | {
      readonly command: 'serve';
      readonly config: string;
      readonly httpPort: number;
      readonly xdsPort: number;
      readonly host: string;
      readonly logLevel: LogLevel;
    };

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
        host: { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0 || positionals[0] === 'help') return { command: 'help' };
  const [command, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
  if (command !== 'serve' && command !== 'check') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (!values.config) throw new UsageError('--config FILE is required');
  if (command === 'check') return { command, config: values.config };
  return {
    command,
    config: values.config,
    httpPort: port('--http-port', values['http-port'] ?? env.KEYWAY_HTTP_PORT, 8080),
    xdsPort: port('--xds-port', values['xds-port'] ?? env.KEYWAY_XDS_PORT, 18000),
    host: values.host ?? env.KEYWAY_HOST ?? '0.0.0.0',
    logLevel: logLevel(values['log-level'] ?? env.KEYWAY_LOG_LEVEL),
  };
}

function port(name: string, raw: string | undefined, dflt: number): number {
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_PORT) {
    throw new UsageError(`${name} must be an integer from 0 to ${MAX_PORT}, got ${JSON.stringify(raw)}`);
  }
  return Number(raw);
}

function logLevel(raw: string | undefined): LogLevel {
  if (raw === undefined || raw === '') return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(raw)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(' | ')}, got ${JSON.stringify(raw)}`);
  }
  return raw as LogLevel;
}
