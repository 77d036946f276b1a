/**
 * How later pipeline stages (the xDS server, telemetry) plug into `keyway serve` without the
 * runner knowing them: each gets the serving state and may add admin routes.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { ConfigSection } from '../config/index.js';
import type { Source } from '../sources/source.js';
import type { ServingState } from '../app/serving-state.js';

export interface StageContext {
  /** Subscribe with `state.onShardMap(...)`; `state.current()` already holds the first view. */
  readonly state: ServingState;
  readonly logger: Logger;
  /** `--xds-port` / KEYWAY_XDS_PORT (0: pick a free port and report it in `listening`). */
  readonly xdsPort: number;
  /** Interface the servers bind (`--host`); the xDS server should bind the same. */
  readonly host: string;
}

export interface StartedStage {
  /** Stops the stage (close servers, streams, timers). Called once, on shutdown. */
  close(): Promise<void>;
  /** Admin routes the stage serves, e.g. `GET /v1/proxies`, registered on the admin app. */
  readonly adminRoutes?: FastifyPluginAsync;
  /** Ports the stage bound, merged into the `listening` log line, e.g. `{ xdsPort: 18000 }`. */
  readonly listening?: Readonly<Record<string, number>>;
}

export interface ServeStage {
  readonly name: string;
  /** Called once, after the first shard map was published and before the admin server listens. */
  start(ctx: StageContext): Promise<StartedStage>;
}

/**
 * Builds the Kubernetes source from the file's raw `kubernetes:` section (validated by the
 * factory; throw KeywayErrors located with `section.locate`).
 */
export type KubernetesSourceFactory = (section: ConfigSection, ctx: { readonly logger: Logger }) => Source;
