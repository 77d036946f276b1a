/**
 * Problems the Kubernetes source finds in cluster objects. They never stop the source: the object
 * falls back to a documented default (or is left out) and the problem is logged and listed in
 * `status().problems` (contract: docs/kubernetes-discovery.md, "Problems").
 */

export type ProblemReason =
  /** The weight annotation is not a weight the topology file would take (0, or MIN_POSITIVE_WEIGHT to MAX_WEIGHT); the GPU labels or defaultWeight apply. */
  | 'bad-weight-annotation'
  /** nvidia.com/gpu.memory or gpu.count is missing its partner, not a whole number, or their product past MAX_WEIGHT; defaultWeight applies. */
  | 'bad-gpu-labels'
  /** The identity label/annotation is absent; the endpoint is left out. */
  | 'missing-identity'
  /** The identity value is not a valid endpoint id; the endpoint is left out. */
  | 'bad-identity'
  /** Two pods give the same identity; only the first by pod name is kept. */
  | 'duplicate-identity'
  /**
   * A slice endpoint names a pod that is not (yet) known, or an earlier pod of that name (another
   * uid; without uid, an address the pod, not started, does not have); the endpoint is left out.
   */
  | 'pod-not-found'
  /** The pod's node is not known; locality falls back to the slice zone, weight to the default. */
  | 'node-not-found'
  /** A slice endpoint has no Pod targetRef; it is left out. */
  | 'no-target-pod'
  /**
   * Slices of a Service list pods without a usable port (no port named portName, or without
   * portName no port at all; a port without number); their endpoints are left out. Reported once
   * per Service (kind `Service`), naming a few slices of each fault and counting the rest.
   */
  | 'no-port'
  /**
   * Without portName, the slices of one Service start with different ports, so their pods get
   * different ports (each slice's first); reported once per Service (kind `Service`, `value` its
   * slices' first port names), naming a few slices of each port; the endpoints are kept.
   */
  | 'ambiguous-port'
  /** The slice's addressType is FQDN; its endpoints are left out (proxies need IP literals). */
  | 'unsupported-address-type'
  /** A slice endpoint has no address; it is left out. */
  | 'no-address'
  /** A slice endpoint's address is not an IP literal of the slice's addressType; it is left out. */
  | 'bad-address';

export interface SourceProblem {
  readonly reason: ProblemReason;
  /** The object at fault; `Service` for a problem of a Service's slices taken together. */
  readonly kind: 'Pod' | 'Node' | 'EndpointSlice' | 'Service';
  readonly namespace?: string;
  readonly name: string;
  /** The field at fault, e.g. `metadata.annotations["keyway.io/weight"]`. */
  readonly field?: string;
  /** The offending value as found. */
  readonly value?: string;
  readonly message: string;
}

/**
 * Longest object value a problem quotes (in `value` and its message). An annotation may hold up to
 * 256 KiB; quoted whole by 100 listed problems it would make every /readyz answer tens of MB.
 */
export const MAX_PROBLEM_VALUE_CHARS = 200;

/** What clipValue appends to a value it cut. */
const CLIPPED_TAIL = /^\.\.\. \(\d+ characters\)$/;

/**
 * `text` as a problem quotes it: cut at MAX_PROBLEM_VALUE_CHARS, saying how long it was. A value
 * already so cut is quoted as it is: trim.ts keeps an over-long annotation in this form, and its
 * problem must still give the length the annotation had.
 */
export function clipValue(text: string): string {
  if (text.length <= MAX_PROBLEM_VALUE_CHARS || isClipped(text)) return text;
  return `${text.slice(0, MAX_PROBLEM_VALUE_CHARS)}... (${text.length} characters)`;
}

/** Whether `text` is what clipValue makes of a longer value (its tail is at most 30 characters). */
function isClipped(text: string): boolean {
  return text.length <= MAX_PROBLEM_VALUE_CHARS + 30 && CLIPPED_TAIL.test(text.slice(MAX_PROBLEM_VALUE_CHARS));
}

/** A stable key for de-duplicating and diffing problems. */
export function problemKey(p: SourceProblem): string {
  return `${p.kind}/${p.namespace ?? ''}/${p.name}/${p.reason}/${p.field ?? ''}/${p.value ?? ''}`;
}
