/**
 * What the informers keep of each object (docs/kubernetes-discovery.md "Memory"), like client-go's
 * SetTransform: only the fields discoverEndpoints reads, plus what the cache itself needs (name,
 * namespace, resourceVersion). A GPU node's object is tens of kilobytes (status.images, the
 * feature-discovery labels, managedFields), of which keyway reads a few labels; kept whole, two
 * thousand of them held over 100 MB.
 */
import type { V1Endpoint, V1EndpointSlice, V1Node, V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import type { KubernetesSourceConfig } from './config.js';
import { ownString } from '../../core/own-string.js';
import { clipValue } from './problem.js';
import { MAX_WEIGHT_TEXT_CHARS } from './weight.js';
import { GPU_COUNT_LABEL, GPU_MEMORY_LABEL, REGION_LABEL, SERVICE_NAME_LABEL, ZONE_LABEL } from './well-known.js';

/** The longest endpoint id, as ENDPOINT_ID_PATTERN allows (annotation-memory.test.ts checks the two agree). */
export const MAX_ENDPOINT_ID_CHARS = 253;

/** Reduces one object as listed or watched to what the source keeps. */
export type Trim<T> = (obj: T) => T;

/** The settings that name the labels and annotations read. */
export type TrimSettings = Pick<KubernetesSourceConfig, 'identity' | 'subzoneLabel' | 'subzoneFrom' | 'weightAnnotation'>;

/** A Node: its name and the labels for locality and weight. */
export function nodeTrim(settings: TrimSettings): Trim<V1Node> {
  const labels = [REGION_LABEL, ZONE_LABEL, GPU_MEMORY_LABEL, GPU_COUNT_LABEL, ...(settings.subzoneFrom === 'node' ? [settings.subzoneLabel] : [])];
  return (node) => ({ metadata: meta(node.metadata, { labels }) });
}

/**
 * A Pod: identity (name, uid, the identity label or annotation), node, weight, subzone, deletion,
 * its IPs and whether its phase is `Pending` (which slice entry is the pod's current one, when the
 * slice names no uid; the phase only then, so a running pod keeps nothing more).
 * An annotation read is kept whole only up to the longest value keyway takes from it (a weight,
 * an endpoint id); a longer one, never valid, is kept as its problem quotes it. Kept whole, a
 * 200 KB value on 2000 pods held 380 MB (the API server allows 256 KiB of annotations per object).
 */
export function podTrim(settings: TrimSettings): Trim<V1Pod> {
  const { identity } = settings;
  const labels = [...(identity.from === 'label' ? [identity.key] : []), ...(settings.subzoneFrom === 'pod' ? [settings.subzoneLabel] : [])];
  const annotations = [settings.weightAnnotation, ...(identity.from === 'annotation' ? [identity.key] : [])];
  const longest = new Map<string, number>([[settings.weightAnnotation, MAX_WEIGHT_TEXT_CHARS]]);
  // One annotation may be both the weight and the identity: the longer bound keeps what either takes.
  if (identity.from === 'annotation') longest.set(identity.key, Math.max(longest.get(identity.key) ?? 0, MAX_ENDPOINT_ID_CHARS));
  return (pod) => {
    const m = pod.metadata;
    const nodeName = pod.spec?.nodeName;
    const ips = podIps(pod);
    const pending = pod.status?.phase === PENDING;
    return {
      metadata: {
        ...meta(m, { labels, annotations, longest }),
        ...(m?.uid !== undefined ? { uid: m.uid } : {}),
        ...(m?.deletionTimestamp !== undefined && m.deletionTimestamp !== null ? { deletionTimestamp: m.deletionTimestamp } : {}),
      },
      // containers is required by the type, never read.
      ...(nodeName !== undefined ? { spec: { nodeName, containers: [] } } : {}),
      ...(ips.length > 0 || pending ? { status: { ...(pending ? { phase: PENDING } : {}), ...(ips.length > 0 ? { podIPs: ips.map((ip) => ({ ip })) } : {}) } } : {}),
    };
  };
}

/** The phase of a pod the API server has accepted and whose containers do not run yet. */
const PENDING = 'Pending';

/**
 * The pod's IPs: `status.podIPs` (one per family), else `status.podIP` (the API server fills both;
 * an object written by hand may carry only the latter). Serves discoverEndpoints, which tells a
 * pod's current slice entry from a stale one by it.
 */
export function podIps(pod: V1Pod): string[] {
  const listed = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => typeof ip === 'string' && ip !== '');
  if (listed.length > 0) return listed;
  const single = pod.status?.podIP;
  return typeof single === 'string' && single !== '' ? [single] : [];
}

/**
 * An EndpointSlice: its address type, ports and of each endpoint what discovery reads (addresses,
 * conditions, the Pod reference, node and zone); not its metadata but name and Service label, nor
 * an endpoint's topology hints, `deprecatedTopology` or hostname. Kept whole, endpoints of 5 KB
 * (hints and topology a controller may write) held 184 MB for 20,000 pods instead of 66 MB.
 */
export const sliceTrim: Trim<V1EndpointSlice> = (slice) => ({
  metadata: meta(slice.metadata, { labels: [SERVICE_NAME_LABEL] }),
  addressType: slice.addressType,
  endpoints: (slice.endpoints ?? []).map(endpointTrim),
  ...(slice.ports !== undefined ? { ports: slice.ports } : {}),
});

function endpointTrim(ep: V1Endpoint): V1Endpoint {
  const ref = ep.targetRef;
  return {
    addresses: ep.addresses,
    ...(ep.conditions !== undefined ? { conditions: ep.conditions } : {}),
    ...(ref !== undefined ? { targetRef: defined({ kind: ref.kind, name: ref.name, namespace: ref.namespace, uid: ref.uid }) } : {}),
    ...(ep.nodeName !== undefined ? { nodeName: ep.nodeName } : {}),
    ...(ep.zone !== undefined ? { zone: ep.zone } : {}),
  };
}

/** `o` without its undefined fields (an absent field and an undefined one compare alike). */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Name, namespace, resourceVersion (the cache compares and resumes by it) and the named labels and
 * annotations; an annotation named in `longest` and longer than its bound is kept clipped.
 */
function meta(
  m: V1ObjectMeta | undefined,
  keep: { labels: readonly string[]; annotations?: readonly string[]; longest?: ReadonlyMap<string, number> },
): V1ObjectMeta {
  if (!m) return {};
  const labels = pick(m.labels, keep.labels);
  const annotations = pick(m.annotations, keep.annotations ?? [], keep.longest);
  return {
    ...(m.name !== undefined ? { name: m.name } : {}),
    ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
    ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
    ...(labels ? { labels } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

function pick(from: Record<string, string> | undefined, keys: readonly string[], longest?: ReadonlyMap<string, number>): Record<string, string> | undefined {
  if (!from) return undefined;
  const out: Record<string, string> = {};
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(from, k)) continue;
    const value = from[k]!;
    const bound = longest?.get(k);
    out[k] = bound !== undefined && value.length > bound ? ownString(clipValue(value)) : value;
  }
  return out;
}
