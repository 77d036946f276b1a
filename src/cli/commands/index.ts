/**
 * The client commands of `keyway` (public contract: docs/cli.md, `keyway --help`): `status`,
 * `shardmap` and `lookup` read a running keyway's REST API; `diff` works offline on two files.
 * Exit status: 0 success, 1 server unreachable or failing (or a filter that matches nothing),
 * 2 bad usage or an invalid topology file.
 */
import { CLIENT_COMMANDS, UsageError } from '../args.js';
import { clientInvocation, type ClientCommand, isClientCommand } from './invocation.js';
import { diffCommand } from './diff.js';
import { lookupCommand } from './lookup.js';
import { internalErrorText } from '../internal-error.js';
import { CliError, type CommandIo, parseCommandArgs, serverUrl, token } from './options.js';
import { RestClient } from './rest-client.js';
import { shardMapCommand } from './shardmap.js';
import { statusCommand } from './status.js';
import { printable } from './table.js';

export { CLIENT_COMMANDS, clientInvocation, isClientCommand, type ClientCommand };

const SERVER = { server: { type: 'string' }, token: { type: 'string' } } as const;

/** What an unknown-option error adds for an option of another client command. */
const ELSEWHERE: Readonly<Record<string, string>> = {
  '--endpoint': 'an option of shardmap',
  '--zone': 'an option of shardmap',
  '--subzone': 'an option of shardmap',
  '--shards': 'an option of shardmap and diff',
  '--load': 'an option of diff',
};
/** diff reads files, no server. */
const DIFF_ELSEWHERE: Readonly<Record<string, string>> = {
  ...ELSEWHERE,
  '--server': 'diff works offline, on two files: it reads no server',
  '--token': 'diff works offline, on two files: it reads no server',
};

/** The REST client of `--server` and `--token` (or their environment variables). */
function restClient(values: { server?: string; token?: string }, env: NodeJS.ProcessEnv): RestClient {
  return new RestClient(serverUrl(values.server, env), undefined, token(values.token, env));
}

/** Usage of one client command, printed by `keyway COMMAND --help` and after its usage errors. */
export const COMMAND_USAGE: Readonly<Record<ClientCommand, string>> = {
  status: `Usage: keyway status [--server URL] [--token T] [-o table|json]

Readiness, shard-map version and source health (GET /readyz), then every connected proxy with
its xDS sync state per type (GET /v1/proxies): SYNCED, STALE (sent, not yet acknowledged),
NACKED (rejected; the text is listed below the table) or NOT_SENT.

Exit status: 0 ready or degraded, 1 not ready (GET /readyz answered 503) or a runtime failure, 2 bad usage.`,
  shardmap: `Usage: keyway shardmap [--endpoint ID]... [--zone Z]... [--subzone S]... [--shards] [--server URL] [--token T] [-o table|json]

The shard map (GET /v1/shardmap): per endpoint its weight, shards owned and led, and its share of
keys as primary against its share of weight; per subzone (NVLink fabric) the same sums.
Filters combine (AND); a filter given twice matches either value. --shards lists the owners of
every shard that a selected endpoint owns (every shard without filters).`,
  lookup: `Usage: keyway lookup KEY [--server URL] [--token T] [-o table|json]

The shard of KEY (murmur3 of the key, or of its {tag}, mod S) and its owners, primary first
(GET /v1/lookup?key=KEY). A key starting with "-" goes after "--".`,
  diff: `Usage: keyway diff OLD.yaml NEW.yaml [--shards] [--load SNAPSHOTS.json] [-o table|json]

Offline (no server): computes the shard maps of two topology files and prints which shards would
move, from whom to whom, per endpoint the shards gained and lost, and the share of cached data
that would go cold (docs/cli.md "Cold data"). --shards lists every moved shard. --load applies
each file's hotShards: policy under those load snapshots and lists the hot shards: extra readers
and moved primaries, and why (docs/hot-shards.md).`,
};

/**
 * Runs a client command with its arguments (after the command name). Resolves with the exit
 * status; every error is printed on stderr as `keyway COMMAND: ...` (docs/cli.md).
 */
export async function runClientCommand(
  name: ClientCommand,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CommandIo = { out: (s) => void process.stdout.write(s), err: (s) => void process.stderr.write(s) },
): Promise<number> {
  try {
    return await dispatch(name, argv, env, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`keyway ${name}: ${err.message}\n\n${COMMAND_USAGE[name]}\n`);
      return 2;
    }
    if (err instanceof CliError) {
      // Messages quote server answers and file contents: escaped, line by line.
      io.err(`keyway ${name}: ${err.message.split('\n').map(printable).join('\n')}\n`);
      return err.exitCode;
    }
    // A bug, or a runtime limit (an answer too deeply nested to print): one line, exit 1.
    io.err(internalErrorText(name, err, env));
    return 1;
  }
}


async function dispatch(name: ClientCommand, argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandIo): Promise<number> {
  switch (name) {
    case 'status': {
      const a = parseCommandArgs<{ server?: string; token?: string }>(argv, SERVER, ELSEWHERE);
      if (a.help) return help(io, name);
      expectPositionals(a.positionals, 0);
      return statusCommand(restClient(a.values, env), a.output, io);
    }
    case 'shardmap': {
      const a = parseCommandArgs<{ server?: string; token?: string; endpoint?: string[]; zone?: string[]; subzone?: string[]; shards?: boolean }>(argv, {
        ...SERVER,
        endpoint: { type: 'string', multiple: true },
        zone: { type: 'string', multiple: true },
        subzone: { type: 'string', multiple: true },
        shards: { type: 'boolean' },
      }, ELSEWHERE);
      if (a.help) return help(io, name);
      expectPositionals(a.positionals, 0);
      const filters = { endpoints: a.values.endpoint ?? [], zones: a.values.zone ?? [], subzones: a.values.subzone ?? [] };
      return shardMapCommand(restClient(a.values, env), filters, a.values.shards === true, a.output, io);
    }
    case 'lookup': {
      const a = parseCommandArgs<{ server?: string; token?: string }>(argv, SERVER, ELSEWHERE);
      if (a.help) return help(io, name);
      if (a.positionals.length === 0) throw new UsageError('KEY is required');
      expectPositionals(a.positionals, 1);
      return lookupCommand(restClient(a.values, env), a.positionals[0]!, a.output, io);
    }
    case 'diff': {
      const a = parseCommandArgs<{ shards?: boolean; load?: string }>(argv, { shards: { type: 'boolean' }, load: { type: 'string' } }, DIFF_ELSEWHERE);
      if (a.help) return help(io, name);
      if (a.positionals.length < 2) throw new UsageError('OLD.yaml and NEW.yaml are required');
      expectPositionals(a.positionals, 2);
      // An empty name is an unset shell variable: say which argument, not "cannot read ''".
      if (a.positionals[0] === '') throw new UsageError('OLD.yaml is empty: give the path of a topology file');
      if (a.positionals[1] === '') throw new UsageError('NEW.yaml is empty: give the path of a topology file');
      if (a.values.load === '') throw new UsageError('--load is given an empty value: give SNAPSHOTS.json, or leave the flag out');
      return diffCommand(a.positionals[0]!, a.positionals[1]!, a.values.shards === true, a.output, io, a.values.load);
    }
  }
}

function expectPositionals(positionals: readonly string[], n: number): void {
  if (positionals.length > n) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[n])}`);
}

function help(io: CommandIo, name: ClientCommand): number {
  // diff works offline: it takes no --server or --token, so its help does not offer them.
  const options = name === 'diff' ? OUTPUT_OPTION : `${SERVER_OPTIONS}\n${OUTPUT_OPTION}`;
  io.out(`${COMMAND_USAGE[name]}\n\nCommon options:\n${options}\n`);
  return 0;
}

/** The options of the commands that read a running keyway (status, shardmap, lookup). */
const SERVER_OPTIONS = `      --server URL       keyway REST API     [env KEYWAY_SERVER, default http://127.0.0.1:8080]
      --token TOKEN      admin bearer token, when keyway serve has --admin-token-file  [env KEYWAY_TOKEN]`;

/** The output option every client command takes. */
const OUTPUT_OPTION = `  -o, --output FORMAT    table | json        [default table]`;
