/**
 * The stage interface of `keyway serve` (docs/architecture.md "The composition root"): how the
 * later pipeline stages (the xDS stage, telemetry) plug into the runner without the runner knowing
 * them. A stage reads the serving state and hands back readers for the admin API; it never gets
 * the admin server itself, so no stage depends on the HTTP framework.
 */
import type { Logger } from 'pino';
import type { WarmReportSink } from './handoff.js';
import type { LoadReportIntake } from './load.js';
import type { ProxyStatusReader } from './proxy.js';
import type { ServingReader } from './serving.js';

export interface StageContext {
  /** Subscribe with `state.onShardMap(...)`; `state.current()` already holds the first view. */
  readonly state: ServingReader;
  readonly logger: Logger;
  /** `--xds-port` / KEYWAY_XDS_PORT (0: pick a free port and report it in `listening`). */
  readonly xdsPort: number;
  /** Interface the servers bind (`--host`); the xDS server should bind the same. */
  readonly host: string;
  /** Where the ownership stream's warm reports go (the runner's handoff planner). */
  readonly warm?: WarmReportSink;
  /** Where the ownership stream's load reports go, and what telemetry exports of them (docs/load-reports.md). */
  readonly load?: LoadReportIntake;
}

/** The metrics reader: renders every metric for one scrape of `GET /metrics`. */
export interface MetricsReader {
  /** The media type of {@link render}'s text (Prometheus text format 0.0.4). */
  readonly contentType: string;
  render(): Promise<string>;
}

/** What a started stage offers the admin API: each reader adds its routes. */
export interface StageReaders {
  /** Adds `GET /v1/proxies` and `GET /debug/config_dump`. */
  readonly proxies?: ProxyStatusReader;
  /** Adds `GET /metrics`. */
  readonly metrics?: MetricsReader;
}

export interface StartedStage {
  /** Stops the stage (close servers, streams, timers). Called once, on shutdown. */
  close(): Promise<void>;
  /** Readers the admin API serves. */
  readonly readers?: StageReaders;
  /** Ports the stage bound, merged into the `listening` log line, e.g. `{ xdsPort: 18000 }`. */
  readonly listening?: Readonly<Record<string, number>>;
}

export interface ServeStage {
  readonly name: string;
  /** Called once, after the first shard map was published and before the admin server listens. */
  start(ctx: StageContext): Promise<StartedStage>;
}
