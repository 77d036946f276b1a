/**
 * The Kubernetes source (contract: docs/kubernetes-discovery.md): configuration parsing, the pure
 * EndpointSlice/Pod/Node → Endpoint core, and the informer-driven runner.
 */
export {
  parseKubernetesSourceConfig,
  readServiceAccountNamespace,
  KUBERNETES_DEFAULTS,
  KUBERNETES_KEYS,
  NAMESPACE_ENV,
  SERVICE_ACCOUNT_NAMESPACE_FILE,
  type KubernetesSourceConfig,
  type IdentitySource,
  type TerminatingPolicy,
  type NamespaceDefaults,
} from './config.js';
export {
  createKubernetesSource,
  KubernetesSource,
  DEFAULT_INFORMER_TIMING,
  DEFAULT_INITIAL_SYNC_TIMEOUT_MS,
  MAX_LISTED_PROBLEMS,
  type KubernetesSourceOptions,
  type StartClock,
  type KubernetesSourceStatus,
  type ResourceStatus,
} from './source.js';
export { discoverEndpoints, type ClusterView, type DiscoveredEndpoints } from './endpoints.js';
export { endpointReady } from './readiness.js';
export { endpointWeight, gpuMemoryGiB, parseWeight } from './weight.js';
export { type SourceProblem, type ProblemReason } from './problem.js';
export { type InformerTiming, type InformerState } from './informer.js';
export { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
export * from './well-known.js';
