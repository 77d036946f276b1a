/**
 * The `kubernetes:` section of the topology file (public contract: docs/kubernetes-discovery.md,
 * "Settings"). Validates what the config loader hands over and fills every default, reporting each
 * problem at its file, line and field.
 */
import { readFileSync } from 'node:fs';
import { Fields, isPlainMapping, MAX_REPORTED_PROBLEMS, reportedProblems, type FieldPath, type FieldStyle } from '../../config/fields.js';
import type { ConfigSection } from '../../config/section.js';
import type { KeywayErrors } from '../../core/errors.js';

/** How an endpoint's identity is read from its pod. */
export type IdentitySource =
  | { readonly from: 'pod-name' }
  | { readonly from: 'label' | 'annotation'; readonly key: string };

/**
 * What a terminating endpoint owns. `release` (default): nothing, from the moment it is marked
 * terminating, so its shards move to their replicas while it drains. `while-serving`: it keeps its
 * shards as long as the EndpointSlice says it is still serving.
 */
export type TerminatingPolicy = 'release' | 'while-serving';

export interface KubernetesSourceConfig {
  /** Namespace of the Services, their EndpointSlices and pods. */
  readonly namespace: string;
  /** Services whose EndpointSlices (label kubernetes.io/service-name) list the cache nodes; ≥ 1. */
  readonly services: readonly string[];
  /** EndpointSlice port to use; undefined = each slice's first port. */
  readonly portName?: string;
  readonly identity: IdentitySource;
  /** Label giving the NVLink fabric (the endpoint's subzone). */
  readonly subzoneLabel: string;
  /** Whether `subzoneLabel` is read from the pod's node or from the pod. */
  readonly subzoneFrom: 'node' | 'pod';
  /** Pod annotation holding the weight (a number ≥ 0); wins when present and valid. */
  readonly weightAnnotation: string;
  /** Otherwise weight = node labels nvidia.com/gpu.memory (MiB) × nvidia.com/gpu.count, in GiB. */
  readonly weightFromGpuLabels: boolean;
  /** Weight when neither the annotation nor the GPU labels give a valid value. */
  readonly defaultWeight: number;
  /** Debounce: quiet time after the last change before publishing. */
  readonly holdOffMs: number;
  /** Debounce: longest delay from the first change of a burst to its publication. */
  readonly maxDelayMs: number;
  readonly terminating: TerminatingPolicy;
  /**
   * At start: how long a resource whose first list is not complete may go without a list page
   * arriving (from the start for its first page) before start() fails.
   */
  readonly startTimeoutMs: number;
  /** At start: the longest the first lists may take in all, pages arriving or not. */
  readonly startMaxMs: number;
}

export const KUBERNETES_DEFAULTS = {
  identity: 'pod-name',
  subzoneLabel: 'nvidia.com/gpu.clique',
  subzoneFrom: 'node',
  weightAnnotation: 'keyway.io/weight',
  weightFromGpuLabels: true,
  defaultWeight: 1,
  holdOffMs: 500,
  maxDelayMs: 5000,
  terminating: 'release',
  // One minute without a page is an API server that does not answer (or RBAC that refuses: no
  // page ever comes); a list still paging is waited for, up to ten minutes in all.
  startTimeoutMs: 60_000,
  startMaxMs: 600_000,
} as const;

/** The keys the section accepts; anything else is reported (usually a typo). */
export const KUBERNETES_KEYS = [
  'namespace',
  'services',
  'portName',
  'identity',
  'subzoneLabel',
  'subzoneFrom',
  'weightAnnotation',
  'weightFromGpuLabels',
  'defaultWeight',
  'holdOffMs',
  'maxDelayMs',
  'terminating',
  'startTimeoutMs',
  'startMaxMs',
] as const;

/** Where the namespace comes from when the section does not say. */
export const NAMESPACE_ENV = 'KEYWAY_NAMESPACE';
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** Longest hold-off / max delay accepted: beyond that the source would lag behind the cluster. */
export const MAX_DEBOUNCE_MS = 300_000;

/** Bounds of startTimeoutMs and startMaxMs: below a second no API server answers a page; an hour is past any real list. */
export const MIN_START_TIMEOUT_MS = 1000;
export const MAX_START_TIMEOUT_MS = 3_600_000;

/** The section's dialect: null means "not given", choices read `a, b`. */
const KUBERNETES_STYLE: FieldStyle = { nullIsAbsent: true, choiceSeparator: ', ', nullWord: 'null' };

/** RFC 1123 label: namespaces, port names. */
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** RFC 1035 label: Service names. */
const DNS_1035_LABEL = /^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** Kubernetes qualified name (label and annotation keys): optional DNS-subdomain prefix, then a name. */
const QUALIFIED_NAME =
  /^(?:(?=[^/]{1,253}\/)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\/)?(?=[^/]{1,63}$)[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export interface NamespaceDefaults {
  /** Environment to read KEYWAY_NAMESPACE from (default: process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Reads the service-account namespace file; undefined when absent (default: the real file). */
  readonly serviceAccountNamespace?: () => string | undefined;
}

/**
 * Validates the raw `kubernetes:` section and fills defaults (contract: docs/kubernetes-discovery.md).
 * Throws KeywayErrors holding one CONFIG_INVALID KeywayError per problem, each located by
 * `section.locate`: at most MAX_REPORTED_PROBLEMS, then one line counting the rest, as the
 * topology loader reports (a section of 100,000 unknown keys would otherwise list every one). The namespace, when not given, is KEYWAY_NAMESPACE, else the pod's
 * service-account namespace file, else `default`.
 */
export function parseKubernetesSourceConfig(section: ConfigSection, defaults: NamespaceDefaults = {}): KubernetesSourceConfig {
  const f = new Fields((path) => section.locate(path), KUBERNETES_STYLE, MAX_REPORTED_PROBLEMS);
  const problem = (path: FieldPath, message: string): void => f.add(path, message);
  const raw = section.value;
  if (!isPlainMapping(raw)) {
    problem([], `must be a mapping with at least \`services\` (the Services whose EndpointSlices list the cache nodes), got ${f.describe(raw)}`);
    throw problemsOf(f);
  }
  const v = raw;
  f.unknownKeys(v, [], KUBERNETES_KEYS, () => `unknown setting; the kubernetes section accepts ${KUBERNETES_KEYS.join(', ')}`);

  const str = (key: string, pattern: RegExp, what: string): string | undefined => f.patterned(v, [key], pattern, undefined, what);
  const ms = (key: string, fallback: number): number => f.integerIn(v, [key], 0, MAX_DEBOUNCE_MS, fallback, 'milliseconds');

  let namespace = str('namespace', DNS_LABEL, 'a namespace name (lowercase letters, digits and "-", at most 63)');
  // Null (`namespace:` left empty) means not given, as for every setting of this section; a
  // written but invalid name has been reported by `str` and gets no fallback.
  if (namespace === undefined && (v.namespace === undefined || v.namespace === null)) namespace = defaultNamespace(defaults, (m) => problem([], m));

  const services: string[] = [];
  if (v.services === undefined || v.services === null) {
    problem(['services'], 'is required: list the Services whose EndpointSlices hold the cache nodes, e.g. [cache-node]');
  } else if (!Array.isArray(v.services) || v.services.length === 0) {
    problem(['services'], `must be a non-empty list of Service names, got ${f.describe(v.services)}`);
  } else {
    // A Set, not a scan of the list: a 1 MiB file lists 80,000 names, and the scan took 11 s.
    const listed = new Set<string>();
    v.services.forEach((s: unknown, i: number) => {
      if (typeof s !== 'string' || !DNS_1035_LABEL.test(s)) problem(['services', i], `must be a Service name (a lowercase RFC 1035 label), got ${f.describe(s)}`);
      else if (listed.has(s)) problem(['services', i], `${s} is listed twice`);
      else {
        listed.add(s);
        services.push(s);
      }
    });
  }

  const portName = str('portName', DNS_LABEL, 'a port name (lowercase letters, digits and "-", at most 63)');

  let identity: IdentitySource = { from: 'pod-name' };
  if (v.identity !== undefined && v.identity !== null) {
    const m = typeof v.identity === 'string' ? /^(label|annotation):(.*)$/.exec(v.identity) : null;
    if (v.identity === 'pod-name') identity = { from: 'pod-name' };
    else if (m && QUALIFIED_NAME.test(m[2]!)) identity = { from: m[1] as 'label' | 'annotation', key: m[2]! };
    else problem(['identity'], `must be pod-name, label:<key> or annotation:<key> with a valid label/annotation key, got ${f.describe(v.identity)}`);
  }

  const subzoneLabel = str('subzoneLabel', QUALIFIED_NAME, 'a label key such as nvidia.com/gpu.clique') ?? KUBERNETES_DEFAULTS.subzoneLabel;
  const subzoneFrom = f.oneOf(v, ['subzoneFrom'], ['node', 'pod'] as const, KUBERNETES_DEFAULTS.subzoneFrom);
  const weightAnnotation = str('weightAnnotation', QUALIFIED_NAME, 'an annotation key such as keyway.io/weight') ?? KUBERNETES_DEFAULTS.weightAnnotation;

  const weightFromGpuLabels = f.boolean(v, ['weightFromGpuLabels'], KUBERNETES_DEFAULTS.weightFromGpuLabels);
  const defaultWeight = f.weight(v, ['defaultWeight'], KUBERNETES_DEFAULTS.defaultWeight);

  const holdOffMs = ms('holdOffMs', KUBERNETES_DEFAULTS.holdOffMs);
  const maxDelayMs = ms('maxDelayMs', Math.max(KUBERNETES_DEFAULTS.maxDelayMs, holdOffMs));
  if (maxDelayMs < holdOffMs) problem(['maxDelayMs'], `must be at least holdOffMs (${holdOffMs}), got ${maxDelayMs}`);
  const terminating = f.oneOf(v, ['terminating'], ['release', 'while-serving'] as const, KUBERNETES_DEFAULTS.terminating);
  const startMs = (key: string, fallback: number): number => f.integerIn(v, [key], MIN_START_TIMEOUT_MS, MAX_START_TIMEOUT_MS, fallback, 'milliseconds');
  const startTimeoutMs = startMs('startTimeoutMs', KUBERNETES_DEFAULTS.startTimeoutMs);
  const startMaxMs = startMs('startMaxMs', Math.max(KUBERNETES_DEFAULTS.startMaxMs, startTimeoutMs));
  if (startMaxMs < startTimeoutMs) problem(['startMaxMs'], `must be at least startTimeoutMs (${startTimeoutMs}), got ${startMaxMs}`);

  // The validator goes field by field; the report reads top to bottom like the file.
  if (f.found > 0) throw problemsOf(f);
  return {
    namespace: namespace!,
    services,
    ...(portName !== undefined ? { portName } : {}),
    identity,
    subzoneLabel,
    subzoneFrom,
    weightAnnotation,
    weightFromGpuLabels,
    defaultWeight,
    holdOffMs,
    maxDelayMs,
    terminating,
    startTimeoutMs,
    startMaxMs,
  };
}

/** The section's problems as thrown: in file order, capped as the topology file's are. */
function problemsOf(f: Fields): KeywayErrors {
  return reportedProblems(f.problems[0]?.location.file, f.problems, f.omitted);
}

function defaultNamespace(defaults: NamespaceDefaults, problem: (message: string) => void): string | undefined {
  const env = defaults.env ?? process.env;
  const fromEnv = env[NAMESPACE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    if (DNS_LABEL.test(fromEnv)) return fromEnv;
    problem(`namespace is not set and ${NAMESPACE_ENV}=${JSON.stringify(fromEnv)} is not a namespace name`);
    return undefined;
  }
  const fromFile = (defaults.serviceAccountNamespace ?? readServiceAccountNamespace)();
  if (fromFile !== undefined && DNS_LABEL.test(fromFile)) return fromFile;
  return 'default';
}

/** The namespace Kubernetes mounts into every pod with a service account; undefined outside a pod. */
export function readServiceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return undefined;
  }
}
