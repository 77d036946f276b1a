/**
 * Labels the Kubernetes source reads that are not settings: the standard topology labels and the
 * GPU labels NVIDIA GPU Feature Discovery publishes (contract: docs/kubernetes-discovery.md).
 */

/** EndpointSlice → Service link, set by the EndpointSlice controller. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const REGION_LABEL = 'topology.kubernetes.io/region';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
/** Memory of one GPU in MiB (GPU Feature Discovery). */
export const GPU_MEMORY_LABEL = 'nvidia.com/gpu.memory';
/** Number of GPUs on the node (GPU Feature Discovery). */
export const GPU_COUNT_LABEL = 'nvidia.com/gpu.count';
