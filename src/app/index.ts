/**
 * The composition root (docs/architecture.md "The composition root"): the only module that
 * imports every stage. `keyway serve` as a library: start the pipeline, plug in stages.
 */
export { startServer, type ServeOptions, type RunningServer, type KubernetesSourceFactory, DEFAULT_HTTP_PORT, DEFAULT_XDS_PORT } from './runner.js';
export { ServingState, HISTORY_LENGTH } from './serving-state.js';
export { serveStages, kubernetesSourceFactory } from './wiring.js';
export { metricsStage } from './metrics-stage.js';
export { xdsStage, startXdsStage, type XdsStageOptions, type RunningXds } from './xds-stage.js';
export { pushTelemetry, type PushTelemetry, type PushTelemetryOptions } from './push-telemetry.js';
export type { ServingReader, ServingView, ShardMapChange, ViewListener, ChangeCause, SourceErrorListener, SourceStatus } from '../core/serving.js';
export type { ServeStage, StageContext, StartedStage, StageReaders } from '../core/stage.js';
export { topologyWarnings, translationWarning } from './topology-warnings.js';
export { serveCommand, type ServeCommandOptions } from './serve-command.js';
