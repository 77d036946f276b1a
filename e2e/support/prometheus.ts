/**
 * A real Prometheus (Debian package `prometheus`, installed by scripts/install-prometheus.sh) for
 * the e2e tier: its configuration is checked with promtool, it listens on 127.0.0.1 on a free
 * port, keeps its TSDB in a temporary directory, scrapes every second, and is stopped (and its
 * directory removed) by `stop()` or, failing that, when the test process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { httpGetText, httpRequest } from './http.js';
import { freePort } from './ports.js';
import { isRunning, terminate, track } from './processes.js';
import { eventually } from '../../test/support/eventually.js';

const SEARCH = ['/usr/bin', '/usr/local/bin', '/opt/prometheus'];

function find(binary: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SEARCH]) {
    const p = path.join(dir, binary);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Paths of the prometheus and promtool binaries, or undefined when either is missing. */
export function prometheusBinaries(): { prometheus: string; promtool: string } | undefined {
  const prometheus = find('prometheus');
  const promtool = find('promtool');
  return prometheus && promtool ? { prometheus, promtool } : undefined;
}

/**
 * For node:test's `skip` option: a reason when Prometheus is missing, else false. With
 * `KEYWAY_REQUIRE_E2E=1` (CI) a missing Prometheus is an error, not a skip.
 * @throws Error when Prometheus is missing and KEYWAY_REQUIRE_E2E=1
 */
export function prometheusSkipReason(env: NodeJS.ProcessEnv = process.env): string | false {
  if (prometheusBinaries()) return false;
  const reason = 'prometheus/promtool not installed (run scripts/install-prometheus.sh)';
  if (env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${reason}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return reason;
}

export interface ScrapeJob {
  readonly job: string;
  /** `host:port` of each target. */
  readonly targets: readonly string[];
  readonly metricsPath?: string;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  /** Instant vector: `[time, "value"]`. */
  readonly value: [number, string];
}

export interface QueryResult {
  readonly resultType: 'vector' | 'matrix' | 'scalar' | 'string';
  /** Series of a vector result; a scalar result is given as one series without labels. */
  readonly series: PromSample[];
}

export interface PrometheusProcess {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly configPath: string;
  /** What `promtool check config` printed for the configuration it runs. */
  readonly configCheck: string;
  /** Instant query through `/api/v1/query`. @throws Error with Prometheus's error text on a bad query */
  query(expr: string): Promise<QueryResult>;
  /** Values of a label over series matching `selector` (`/api/v1/label/<label>/values`). */
  labelValues(label: string, selector: string): Promise<string[]>;
  /** Scrape targets with their health (`up`, `down`, `unknown`). */
  targets(): Promise<{ job: string; url: string; health: string; lastError: string }[]>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/** Writes a prometheus.yml scraping `jobs` every `intervalS` seconds (written in whole ms: Prometheus takes no `0.5s`). */
export function prometheusConfig(jobs: readonly ScrapeJob[], intervalS = 1): string {
  const ms = Math.round(intervalS * 1000);
  const lines = ['global:', `  scrape_interval: ${ms}ms`, `  scrape_timeout: ${Math.round(intervalS * 800)}ms`, `  evaluation_interval: ${ms}ms`, 'scrape_configs:'];
  for (const j of jobs) {
    lines.push(`  - job_name: ${JSON.stringify(j.job)}`, `    metrics_path: ${JSON.stringify(j.metricsPath ?? '/metrics')}`, '    static_configs:');
    lines.push(`      - targets: [${j.targets.map((t) => JSON.stringify(t)).join(', ')}]`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `promtool check config FILE`; resolves with its output.
 * @throws Error with promtool's output when the file is rejected
 */
export function promtoolCheckConfig(file: string): string {
  const bins = prometheusBinaries();
  if (!bins) throw new Error('promtool is not installed');
  const r = spawnSync(bins.promtool, ['check', 'config', file], { encoding: 'utf8', timeout: 30_000 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.status !== 0) throw new Error(`promtool check config ${file} failed (exit ${r.status}):\n${out}`);
  return out;
}

/** A Prometheus process started from a whole configuration: its address, log and stop. */
export interface RawPrometheus {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly configPath: string;
  /** What `promtool check config` printed for the configuration it runs. */
  readonly configCheck: string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Starts Prometheus with `config` (a whole prometheus.yml: target labels, two jobs for one target).
 * `openMetrics`: history backfilled before the start by `promtool tsdb create-blocks-from
 * openmetrics` (samples at exact timestamps; the text must end with `# EOF`). `args`: more flags
 * (`--query.max-samples=...`). Resolves when `/-/ready` answers.
 */
export async function startRawPrometheus(opts: { config: string; openMetrics?: string; args?: readonly string[]; readyTimeoutMs?: number }): Promise<RawPrometheus> {
  const bins = prometheusBinaries();
  if (!bins) throw new Error('prometheus is not installed (scripts/install-prometheus.sh)');
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-prometheus-'));
  const remove = (): void => {
    if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  };
  const configPath = path.join(dir, 'prometheus.yml');
  const data = path.join(dir, 'data');
  writeFileSync(configPath, opts.config);
  let configCheck: string;
  try {
    configCheck = promtoolCheckConfig(configPath);
    if (opts.openMetrics !== undefined) {
      const input = path.join(dir, 'history.om');
      writeFileSync(input, opts.openMetrics);
      const r = spawnSync(bins.promtool, ['tsdb', 'create-blocks-from', 'openmetrics', input, data], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`promtool tsdb create-blocks-from openmetrics failed (exit ${r.status}):\n${r.stdout}${r.stderr}`);
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const logPath = path.join(dir, 'prometheus.log');
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // A backfilled history is older than any short retention.
    const retention = opts.openMetrics !== undefined ? '100y' : '1h';
    child = spawn(
      bins.prometheus,
      [`--config.file=${configPath}`, `--storage.tsdb.path=${data}`, `--web.listen-address=127.0.0.1:${port}`, `--storage.tsdb.retention.time=${retention}`, '--log.level=info', ...(opts.args ?? [])],
      { stdio: ['ignore', fd, fd], cwd: dir },
    );
  } finally {
    closeSync(fd);
  }
  track(child);
  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logPath, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async (): Promise<void> => {
    await terminate(child, 5_000);
    remove();
  };
  try {
    await eventually(`prometheus /-/ready on ${url}`, async () => {
      if (!isRunning(child)) throw new Error(`prometheus exited (code ${child.exitCode})`);
      return httpGetText(`${url}/-/ready`, 2_000);
    }, { accept: (body) => body.length > 0, timeoutMs: opts.readyTimeoutMs ?? 30_000, intervalMs: 200 });
  } catch (err) {
    const tail = logTail();
    await stop();
    throw new Error(`${(err as Error).message}\n--- prometheus log ---\n${tail}`, { cause: err });
  }
  return { url, configPath, configCheck, logTail, stop };
}

/** Starts Prometheus scraping `jobs`; resolves when `/-/ready` answers. */
export async function startPrometheus(opts: { jobs: readonly ScrapeJob[]; scrapeIntervalS?: number; readyTimeoutMs?: number }): Promise<PrometheusProcess> {
  const raw = await startRawPrometheus({ config: prometheusConfig(opts.jobs, opts.scrapeIntervalS ?? 1), ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}) });
  const { url, configPath, configCheck, logTail, stop } = raw;

  const api = async <T>(pathAndQuery: string): Promise<T> => {
    // Prometheus answers a bad query with 400/422 and a JSON error body: read it whatever the status.
    const res = await httpRequest(`${url}${pathAndQuery}`, { timeoutMs: 10_000 });
    let body: { status: string; data: T; error?: string; errorType?: string };
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      throw new Error(`prometheus ${pathAndQuery}: HTTP ${res.status}: ${res.body.slice(0, 300)}`);
    }
    if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.errorType ?? ''}: ${body.error ?? ''}`);
    return body.data;
  };

  return {
    url,
    configPath,
    configCheck,
    async query(expr) {
      const data = await api<{ resultType: QueryResult['resultType']; result: unknown }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
      if (data.resultType === 'scalar') return { resultType: 'scalar', series: [{ metric: {}, value: data.result as [number, string] }] };
      return { resultType: data.resultType, series: data.result as PromSample[] };
    },
    labelValues: (label, selector) => api<string[]>(`/api/v1/label/${encodeURIComponent(label)}/values?match[]=${encodeURIComponent(selector)}`),
    async targets() {
      const data = await api<{ activeTargets: { labels: { job: string }; scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets');
      return data.activeTargets.map((t) => ({ job: t.labels.job, url: t.scrapeUrl, health: t.health, lastError: t.lastError }));
    },
    logTail,
    stop,
  };
}
