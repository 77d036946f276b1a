/** The in-process Kubernetes API server for tests (list/watch protocol; see server.ts). */
export { KubeApiServer, type KubeApiServerOptions, type RecordedRequest, type OutageMode } from './server.js';
export { type StoredObject, type StoreEvent } from './store.js';
export { parseLabelSelector, matchesLabels, type LabelSelector, type Requirement } from './label-selector.js';
