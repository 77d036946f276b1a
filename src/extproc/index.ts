/**
 * The endpoint picker (docs/gateways.md): keyway as the `ext_proc` server of the Gateway API
 * Inference Extension's endpoint picker protocol, answering each request with its shard's owners.
 */
export { extProcStage, type ExtProcStageOptions } from './stage.js';
export { startExtProcServer, type ExtProcServer, type ExtProcServerOptions } from './server.js';
export { PickerStream, type PickerEvents, type ServedBy, type ProcessorContext } from './processor.js';
export { MAX_ANY_CANDIDATES, pickEndpoints, type HeaderText, type PickDecision } from './pick.js';
export { pickTable, hostPort, type PickTable } from './pick-table.js';
export { subsetHint, type SubsetHint } from './subset-hint.js';
export { HEALTH_SERVICE, ServingStatus, healthOf } from './health.js';
export * from './protocol.js';
