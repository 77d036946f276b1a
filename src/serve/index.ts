/** `keyway serve` as a library: start the pipeline, subscribe to shard maps, plug in stages. */
export { startServer, type ServeOptions, type RunningServer, DEFAULT_HTTP_PORT, DEFAULT_XDS_PORT } from './server.js';
export {
  ServingState,
  type ServingView,
  type ShardMapChange,
  type ViewListener,
  type ChangeCause,
  type SourceErrorListener,
  HISTORY_LENGTH,
} from './state.js';
export type { ServeStage, StageContext, StartedStage, KubernetesSourceFactory } from './stage.js';
export { nextShardMap, endpointChanges } from './recompute.js';
