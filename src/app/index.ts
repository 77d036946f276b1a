/** `keyway serve` as a library: start the pipeline, subscribe to shard maps, plug in stages. */
export { startServer, type ServeOptions, type RunningServer, DEFAULT_HTTP_PORT, DEFAULT_XDS_PORT } from './runner.js';
export {
  ServingState,
  type ServingView,
  type ShardMapChange,
  type ViewListener,
  type ChangeCause,
  type SourceErrorListener,
  HISTORY_LENGTH,
} from './serving-state.js';
export type { ServeStage, StageContext, StartedStage, KubernetesSourceFactory } from '../core/stage.js';
export { nextShardMap, endpointChanges } from '../sharding/next-map.js';
