/**
 * CLI of the example cache node:
 *   node --import tsx examples/cache-node/main.ts --id gpu-a1 --port 7001 \
 *     (--keyway-xds 127.0.0.1:18000 [--keyway-xds ...] | --keyway-url http://127.0.0.1:8080) \
 *     [--grpc-port 0] [--zone Z --subzone F] [--l1-capacity 1000] [--warm-limit 5000]
 *     [--shard-metrics [--shard-metrics-limit 100000]] [--serve-rps N [--miss-cost K [--load-work]]]
 * `--keyway-xds` (repeatable, or comma-separated: one per keyway replica, or `dns:///host:port` for
 * every address the name resolves to, such as keyway's headless Service) takes ownership from the
 * ownership stream, warms the shards the node gains and reports its requests per shard once per
 * `--load-window-ms` (keyway's hotShards.windowMs, default 10000; 0: no load reports,
 * docs/load-reports.md); `--keyway-url` alone polls REST.
 * Prints one JSON line `{"msg":"listening","node":...,"httpPort":...,"grpcPort":...}` once bound,
 * then one line per ownership change or failed poll. SIGTERM/SIGINT close it. `--serve-rps`
 * simulates a serving capacity (a GPU's inference rate): at most N data requests a second, queued
 * in arrival order (serving-capacity.ts); `--miss-cost` K: a request not served from L1 takes K
 * service times; `--load-work` (with `--miss-cost`): the load reports count each request as the
 * service times it took (the node's work) instead of 1 (docs/load-reports.md "What a node counts").
 */
import { parseArgs } from 'node:util';
import { startCacheNodeServer } from './server.js';
import { MAX_WARM_LIMIT } from './warm.js';

const USAGE = `usage: cache-node --id ID [--port N] [--grpc-port N] [--host H]
                  [--keyway-xds [dns:///]HOST:PORT[,...]]... [--keyway-url URL]
                  [--region R] [--zone Z] [--subzone F] [--l1-capacity N] [--l2-capacity N]
                  [--l3-delay-ms N] [--poll-ms N] [--warm-limit N] [--load-window-ms N]
                  [--shard-metrics [--shard-metrics-limit N]] [--serve-rps N [--miss-cost K [--load-work]]]`;

function usageError(message: string): never {
  process.stderr.write(`${message}\n${USAGE}\n`);
  process.exit(2);
}

function int(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^[0-9]+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    usageError(`--${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`}, got ${JSON.stringify(v)}`);
  }
  return n;
}

const port = (name: string, v: string | undefined): number | undefined => int(name, v, 0, 65535);

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        id: { type: 'string' },
        port: { type: 'string' },
        'grpc-port': { type: 'string' },
        host: { type: 'string' },
        'keyway-url': { type: 'string' },
        'keyway-xds': { type: 'string', multiple: true },
        'warm-limit': { type: 'string' },
        region: { type: 'string' },
        zone: { type: 'string' },
        subzone: { type: 'string' },
        'l1-capacity': { type: 'string' },
        'l2-capacity': { type: 'string' },
        'l3-delay-ms': { type: 'string' },
        'poll-ms': { type: 'string' },
        'load-window-ms': { type: 'string' },
        'shard-metrics': { type: 'boolean' },
        'shard-metrics-limit': { type: 'string' },
        'serve-rps': { type: 'string' },
        'miss-cost': { type: 'string' },
        'load-work': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!values.id) usageError('--id is required (the endpoint id keyway knows this node by)');
  const xds = (values['keyway-xds'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (values['keyway-xds'] !== undefined && xds.length === 0) usageError(`--keyway-xds names no address, got ${JSON.stringify(values['keyway-xds'].join(','))}`);
  for (const address of xds) {
    // dns:///HOST:PORT: every address HOST resolves to, kept up to date (a headless Service of the replicas).
    const m = /^(?:dns:\/\/\/)?(?:[^\s:/[\]]+|\[[0-9a-fA-F:.]+\]):([0-9]{1,5})$/.exec(address);
    const p = m ? Number(m[1]) : 0;
    if (p < 1 || p > 65535) usageError(`--keyway-xds must be host:port with a port in 1..65535, got ${JSON.stringify(address)} (or dns:///host:port: every address the name resolves to)`);
  }
  const keywayUrl = values['keyway-url'];
  // The poller speaks plain HTTP (node:http), as keyway's REST port does.
  if (keywayUrl !== undefined && (!/^http:\/\/[^/]/.test(keywayUrl) || !URL.canParse(keywayUrl))) {
    usageError(`--keyway-url must be an http:// URL of keyway's REST API, e.g. http://127.0.0.1:8080, got ${JSON.stringify(keywayUrl)}`);
  }
  // Without a miss cost every request is one service time: work and requests are the same count.
  if (values['load-work'] && values['miss-cost'] === undefined) usageError('--load-work needs --miss-cost (the service times a miss takes)');
  // Flags the others make moot are said once at start (as `warn` lines), not dropped in silence.
  const moot: string[] = [];
  if (keywayUrl !== undefined && xds.length > 0) moot.push('--keyway-url is not used with --keyway-xds: ownership comes from the ownership stream');
  if (values['poll-ms'] !== undefined && (keywayUrl === undefined || xds.length > 0)) moot.push('--poll-ms applies only to --keyway-url without --keyway-xds (REST polling)');
  if (values['load-window-ms'] !== undefined && xds.length === 0) moot.push('--load-window-ms applies only with --keyway-xds (load reports go to keyway over the ownership stream)');
  if (values['shard-metrics-limit'] !== undefined && !values['shard-metrics']) moot.push('--shard-metrics-limit applies only with --shard-metrics');
  if (values['miss-cost'] !== undefined && values['serve-rps'] === undefined && !values['load-work']) moot.push('--miss-cost applies only with --serve-rps or --load-work');
  const log = (record: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...record })}\n`);
  for (const msg of moot) log({ level: 'warn', msg: `${msg}; ignored` });
  const optional = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : ({ [k]: v } as { [P in K]?: V }));
  const node = await startCacheNodeServer({
    id: values.id,
    host: values.host ?? '0.0.0.0',
    port: port('port', values.port) ?? 0,
    ...optional('grpcPort', port('grpc-port', values['grpc-port'])),
    ...optional('keywayUrl', values['keyway-url']),
    ...(xds.length > 0 ? { keywayXds: xds } : {}),
    // Peers answer /v1/warm with at most MAX_WARM_LIMIT entries and refuse a larger limit.
    ...optional('warmLimit', int('warm-limit', values['warm-limit'], 1, MAX_WARM_LIMIT)),
    ...optional('region', values.region),
    ...optional('zone', values.zone),
    ...optional('subzone', values.subzone),
    ...optional('l1Capacity', int('l1-capacity', values['l1-capacity'], 0)),
    ...optional('l2Capacity', int('l2-capacity', values['l2-capacity'], 0)),
    ...optional('l3DelayMs', int('l3-delay-ms', values['l3-delay-ms'], 0)),
    ...optional('pollIntervalMs', int('poll-ms', values['poll-ms'], 10)),
    ...optional('loadWindowMs', int('load-window-ms', values['load-window-ms'], 0)),
    ...optional('shardMetrics', values['shard-metrics']),
    ...optional('shardSeriesLimit', int('shard-metrics-limit', values['shard-metrics-limit'], 1)),
    ...optional('serveRps', int('serve-rps', values['serve-rps'], 1)),
    ...optional('missCost', int('miss-cost', values['miss-cost'], 1)),
    ...optional('loadWork', values['load-work']),
    log,
  });
  const stop = (): void => {
    void node.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main().catch((err: unknown) => {
  process.stderr.write(`cache-node: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
