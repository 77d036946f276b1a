/**
 * The pure core of the Kubernetes source: EndpointSlices + Pods + Nodes → the normalized endpoint
 * list every source publishes (docs/architecture.md "The pipeline"; contract: docs/kubernetes-discovery.md).
 * No I/O: the runner (source.ts) feeds it the informers' caches.
 */
import { isIP } from 'node:net';
import type { V1Endpoint, V1EndpointSlice, V1Node, V1Pod } from '@kubernetes/client-node';
import { ENDPOINT_ID_PATTERN, type Endpoint, isIpLiteral } from '../../core/endpoint.js';
import type { KubernetesSourceConfig } from './config.js';
import { clipValue, problemKey, type SourceProblem } from './problem.js';
import { endpointDraining, endpointReady } from './readiness.js';
import { podIps } from './trim.js';
import { endpointWeight } from './weight.js';
import { REGION_LABEL, SERVICE_NAME_LABEL, ZONE_LABEL } from './well-known.js';
import { compareStrings } from '../../core/order.js';

/** What the informers hold: every object the source watches. */
export interface ClusterView {
  readonly slices: readonly V1EndpointSlice[];
  readonly pods: readonly V1Pod[];
  readonly nodes: readonly V1Node[];
}

export interface DiscoveredEndpoints {
  /** Sorted by id; one entry per identity. */
  readonly endpoints: readonly Endpoint[];
  /** Sorted and de-duplicated. */
  readonly problems: readonly SourceProblem[];
  /**
   * The pods (`namespace/name`) and nodes the slices named, found or not: the endpoints depend on
   * no other pod or node, so the source need not recompute when another one changes.
   */
  readonly read: { readonly pods: ReadonlySet<string>; readonly nodes: ReadonlySet<string> };
}

/** One slice endpoint resolved to its pod, before identities are merged. */
interface Candidate {
  readonly endpoint: Endpoint;
  readonly pod: string;
  readonly ipv4: boolean;
  /** The address is one of the pod's IPs (false when the pod has none known yet). */
  readonly atPodIp: boolean;
  readonly serviceRank: number;
  readonly slice: string;
}

/**
 * Builds the endpoint list. For each EndpointSlice of a configured Service (in the configured
 * namespace) and each of its endpoints: address = first address, port = the `portName` port (or
 * the slice's first), identity/weight/locality from the target pod and its node, readiness from
 * the conditions. A pod listed more than once (several slices, Services or address families) is
 * one endpoint: an entry at one of the pod's IPs wins, then an IPv4 entry, then the earlier Service
 * in `services`, then the ready entry, then the slice name. Anything malformed is reported in
 * `problems`, never thrown.
 */
export function discoverEndpoints(view: ClusterView, config: KubernetesSourceConfig): DiscoveredEndpoints {
  const problems = new Map<string, SourceProblem>();
  const report = (p: SourceProblem): void => {
    // One problem per key, several slices may find it (a pod two Services list, a node of several
    // pods): keep the first message in order, not the last reported, which followed the caches'
    // order, that is the order each replica's events came in.
    const key = problemKey(p);
    const held = problems.get(key);
    if (held === undefined || compareStrings(p.message, held.message) < 0) problems.set(key, p);
  };
  const pods = new Map(view.pods.map((p) => [`${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`, p]));
  const nodes = new Map(view.nodes.map((n) => [n.metadata?.name ?? '', n]));

  const read = { pods: new Set<string>(), nodes: new Set<string>() };
  const candidates: Candidate[] = [];
  const firstPorts = new SliceGroups();
  const portless = new SliceGroups();
  for (const slice of view.slices) {
    const ns = slice.metadata?.namespace ?? '';
    const sliceName = slice.metadata?.name ?? '';
    const serviceRank = config.services.indexOf(slice.metadata?.labels?.[SERVICE_NAME_LABEL] ?? '');
    if (ns !== config.namespace || serviceRank < 0) continue;
    const sliceProblem = (reason: SourceProblem['reason'], message: string, field?: string, value?: string): void =>
      report({ reason, kind: 'EndpointSlice', namespace: ns, name: sliceName, ...(field ? { field } : {}), ...(value !== undefined ? { value } : {}), message });

    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') {
      sliceProblem('unsupported-address-type', `addressType ${slice.addressType} is not supported (proxies need IP addresses); its endpoints are left out`, 'addressType', String(slice.addressType));
      continue;
    }
    // The EndpointSlice controller keeps a placeholder slice, without ports or endpoints, for a
    // Service that selects no pod with an address yet (one per family): it leaves nothing out.
    if ((slice.endpoints ?? []).length === 0) continue;
    const port = slicePort(slice, config.portName);
    portless.count(serviceRank);
    if (typeof port === 'string') {
      portless.note(serviceRank, sliceName, port, (slice.endpoints ?? []).length);
      continue;
    }
    // By name: one port name that resolves to another number on other pods (a named target port
    // moved in a new pod template) is still each pod's own port.
    if (config.portName === undefined) firstPorts.note(serviceRank, sliceName, slice.ports?.[0]?.name || '(unnamed)');
    for (const ep of slice.endpoints ?? []) {
      const c = candidate(ep, { ns, sliceName, serviceRank, port, ipv4: slice.addressType === 'IPv4' }, { pods, nodes, read }, config, report, sliceProblem);
      if (c) candidates.push(c);
    }
  }

  reportAmbiguousPorts(firstPorts, config, report);
  reportPortless(portless, config, report);
  const endpoints = mergeByIdentity(candidates, report);
  const sortedProblems = [...problems.entries()].sort(([a, pa], [b, pb]) => problemOrder(pa, pb) || compareStrings(a, b)).map(([, p]) => p);
  return { endpoints, problems: sortedProblems, read };
}

function candidate(
  ep: V1Endpoint,
  where: { ns: string; sliceName: string; serviceRank: number; port: number; ipv4: boolean },
  { pods, nodes, read }: { pods: ReadonlyMap<string, V1Pod>; nodes: ReadonlyMap<string, V1Node>; read: { pods: Set<string>; nodes: Set<string> } },
  config: KubernetesSourceConfig,
  report: (p: SourceProblem) => void,
  sliceProblem: (reason: SourceProblem['reason'], message: string, field?: string, value?: string) => void,
): Candidate | undefined {
  const address = ep.addresses?.[0];
  const ref = ep.targetRef;
  if (!ref || ref.kind !== 'Pod' || !ref.name) {
    sliceProblem('no-target-pod', `endpoint ${address ?? '(no address)'} has no Pod targetRef; it is left out`, 'endpoints[].targetRef');
    return undefined;
  }
  const podNs = ref.namespace ?? where.ns;
  const podName = ref.name;
  read.pods.add(`${podNs}/${podName}`);
  const podProblem = (reason: SourceProblem['reason'], message: string, field?: string, value?: string): void =>
    report({ reason, kind: 'Pod', namespace: podNs, name: podName, ...(field ? { field } : {}), ...(value !== undefined ? { value } : {}), message });
  if (!address) {
    podProblem('no-address', `EndpointSlice ${where.sliceName} lists pod ${podName} without an address; it is left out`);
    return undefined;
  }
  if (!isIpLiteral(address) || isIP(address) !== (where.ipv4 ? 4 : 6)) {
    // The API server validates slice addresses, but keyway does not rely on it: a host name here
    // would make every proxy NACK the whole assignment (docs/configuration.md "address").
    const family = where.ipv4 ? 'IPv4' : 'IPv6';
    const shown = clipValue(address);
    sliceProblem('bad-address', `endpoint ${shown} of pod ${podName} is not an ${family} address as the slice's addressType says; it is left out`, 'endpoints[].addresses', shown);
    return undefined;
  }
  const pod = pods.get(`${podNs}/${podName}`);
  if (!pod) {
    // Slices and pods arrive on separate watches; a pod not seen yet is left out until it is.
    podProblem('pod-not-found', `EndpointSlice ${where.sliceName} lists pod ${podName}, which keyway has not seen; it is left out until it appears`);
    return undefined;
  }
  const listedUid = ref.uid;
  const podUid = pod.metadata?.uid;
  if (listedUid && podUid && listedUid !== podUid) {
    // A pod recreated under the same name (a StatefulSet pod moved to another node) before the
    // slice dropped the old one: this entry is the old pod's address, conditions and node, so
    // reading the new pod for it would publish a gone address with the new pod's node and weight.
    podProblem('pod-not-found', `EndpointSlice ${where.sliceName} lists pod ${podName} with uid ${listedUid}, which has been replaced by a pod of that name with uid ${podUid}; the old entry is left out`);
    return undefined;
  }

  const ownIp = atPodIp(address, pod);
  const notStarted = listedUid ? undefined : notStartedState(pod);
  if (!ownIp && notStarted !== undefined) {
    // The entry names its pod by name alone, and the pod of that name has not started: it serves
    // at no address yet, so an address it does not have is an earlier pod's (recreated under the
    // name). Used, it published the gone address, ready as last written, until the pod got an IP
    // of its own or its writer dropped the entry.
    podProblem('pod-not-found', `EndpointSlice ${where.sliceName} lists pod ${podName} at ${address} without a uid, but pod ${podName} has not started (${notStarted}): the entry is an earlier pod's of that name; it is left out`);
    return undefined;
  }

  const id = identityOf(pod, config, podProblem);
  if (id === undefined) return undefined;

  const nodeName = ep.nodeName ?? pod.spec?.nodeName;
  if (nodeName) read.nodes.add(nodeName);
  const node = nodeName ? nodes.get(nodeName) : undefined;
  if (nodeName && !node) {
    report({ reason: 'node-not-found', kind: 'Node', name: nodeName, message: `node ${nodeName} of pod ${podName} is not known; its locality falls back to the EndpointSlice zone and its weight to the annotation or defaultWeight` });
  }
  const nodeLabels = node?.metadata?.labels;
  const subzoneLabels = config.subzoneFrom === 'node' ? nodeLabels : pod.metadata?.labels;
  const { weight, problems } = endpointWeight(pod, node, config);
  problems.forEach(report);
  const podTerminating = pod.metadata?.deletionTimestamp !== undefined && pod.metadata?.deletionTimestamp !== null;
  // An entry without uid at the pod's own IP before the pod has started is not ready, whatever its
  // conditions say: a Pending pod is never Ready (a container has not started), and its writer
  // did not say which pod it wrote for. A hostNetwork pod recreated on its node has the gone pod's
  // IP, so the gone pod's entry, ready as last written, published it ready for the image pull.
  const ready = notStarted === undefined && endpointReady(ep.conditions, podTerminating, config.terminating);

  return {
    endpoint: {
      id,
      address,
      port: where.port,
      locality: {
        region: ownValue(nodeLabels, REGION_LABEL) ?? '',
        zone: ownValue(nodeLabels, ZONE_LABEL) ?? ep.zone ?? '',
        subzone: ownValue(subzoneLabels, config.subzoneLabel) ?? '',
      },
      weight,
      ready,
      // A pod that has not started holds nothing to warm from: not a planned departure.
      ...(notStarted === undefined && endpointDraining(ep.conditions, podTerminating, ready) ? { draining: true } : {}),
    },
    pod: `${podNs}/${podName}`,
    ipv4: where.ipv4,
    atPodIp: ownIp,
    serviceRank: where.serviceRank,
    slice: where.sliceName,
  };
}

function identityOf(
  pod: V1Pod,
  config: KubernetesSourceConfig,
  podProblem: (reason: SourceProblem['reason'], message: string, field?: string, value?: string) => void,
): string | undefined {
  const name = pod.metadata?.name ?? '';
  if (config.identity.from === 'pod-name') return name;
  const { from, key } = config.identity;
  const source = from === 'label' ? pod.metadata?.labels : pod.metadata?.annotations;
  const field = `metadata.${from}s[${JSON.stringify(key)}]`;
  const value = ownValue(source, key);
  if (value === undefined) {
    podProblem('missing-identity', `identity is read from ${from} ${key}, which pod ${name} does not have; it is left out`, field);
    return undefined;
  }
  if (!ENDPOINT_ID_PATTERN.test(value)) {
    const shown = clipValue(value);
    podProblem('bad-identity', `${from} ${key}=${JSON.stringify(shown)} is not a valid endpoint id (letters, digits and . _ : / -, at most 253); it is left out`, field, shown);
    return undefined;
  }
  return value;
}

/**
 * The value of label or annotation `key`, when the object has it. Looked up as an own property:
 * `constructor` or `toString` are valid keys to configure, and a plain lookup on an object without
 * them gave the function every object inherits (a function as the subzone, or as the identity).
 */
function ownValue(map: Readonly<Record<string, string>> | undefined, key: string): string | undefined {
  return map !== undefined && Object.prototype.hasOwnProperty.call(map, key) ? map[key] : undefined;
}

/**
 * How many groups of slices a problem on a Service lists before counting the rest: the first port
 * names of an `ambiguous-port` problem, the faults (no port of that name, a port without number)
 * of a `no-port` problem.
 */
export const MAX_LISTED_FIRST_PORTS = 5;

/** How many slices such a problem names for each group it lists before counting the rest. */
export const MAX_LISTED_SLICES_PER_PORT = 3;

/**
 * Slices of each configured Service grouped by a label (a first port name, why a slice has no
 * port), for the problems reported once per Service: `ambiguous-port` and `no-port`. One problem
 * per slice filled the listed problems (MAX_LISTED_PROBLEMS) with a Service of a few hundred
 * slices and pushed every pod and node problem out of them; a problem on the Service names a few
 * slices of each group and counts the rest, and its key (the Service and, for `ambiguous-port`,
 * its port names) holds while slices come and go, so it is logged once.
 */
class SliceGroups {
  private readonly byService = new Map<number, { groups: Map<string, string[]>; endpoints: number }>();
  private readonly slices = new Map<number, number>();

  /** One more slice of the Service, grouped or not (the `of the n slices` of a message). */
  count(serviceRank: number): void {
    this.slices.set(serviceRank, (this.slices.get(serviceRank) ?? 0) + 1);
  }

  note(serviceRank: number, slice: string, group: string, endpoints = 0): void {
    let service = this.byService.get(serviceRank);
    if (!service) this.byService.set(serviceRank, (service = { groups: new Map(), endpoints: 0 }));
    service.endpoints += endpoints;
    const names = service.groups.get(group);
    if (names) names.push(slice);
    else service.groups.set(group, [slice]);
  }

  /** Each Service with grouped slices: its groups sorted by label, how many slices and endpoints they hold, and how many slices it has. */
  *services(): Generator<{ rank: number; groups: [string, string[]][]; grouped: number; endpoints: number; slices: number }> {
    for (const [rank, { groups, endpoints }] of this.byService) {
      const sorted = [...groups.entries()].sort(([a], [b]) => compareStrings(a, b));
      const grouped = sorted.reduce((n, [, names]) => n + names.length, 0);
      yield { rank, groups: sorted, grouped, endpoints, slices: this.slices.get(rank) ?? grouped };
    }
  }
}

/** `a (n slices: ...); b (...); and k more <noun>`: at most MAX_LISTED_FIRST_PORTS groups. */
function listedGroups(groups: readonly [string, readonly string[]][], noun: string): string {
  const listed = groups.slice(0, MAX_LISTED_FIRST_PORTS).map(([label, names]) => `${label} (${countedSlices(names)})`);
  const rest = groups.length - listed.length;
  return `${listed.join('; ')}${rest > 0 ? `; and ${rest} more ${noun}` : ''}`;
}

/**
 * `ambiguous-port`, once per Service, when `portName` is not set. The EndpointSlice controller
 * lists a Service's ports in the Service's order, but only those a pod resolves (a named target
 * port the pod lacks is left out), and groups pods by the ports they resolve: after a rollout that
 * adds a port ahead of the cache's, the old pods' slices start with the cache port and the new
 * pods' with the new one. Each slice's first port then sends part of the cache traffic to another
 * port. No rule on the slices alone knows which port is the cache's (the slices in force change as
 * the rollout ends), so keyway keeps the documented default and says so: `portName` settles it.
 */
function reportAmbiguousPorts(firstPorts: SliceGroups, config: KubernetesSourceConfig, report: (p: SourceProblem) => void): void {
  for (const { rank, groups, grouped } of firstPorts.services()) {
    if (groups.length < 2) continue;
    const service = config.services[rank]!;
    report({
      reason: 'ambiguous-port',
      kind: 'Service',
      namespace: config.namespace,
      name: service,
      field: 'ports',
      value: clipValue(groups.map(([port]) => port).join(',')),
      message:
        `kubernetes.portName is not set, so each slice's first port is used, and the ${grouped} slices of Service ${service} start with ` +
        `${groups.length} different ports: ${listedGroups(groups, 'ports')}; ` +
        `the pods of each slice get its first port, so some pods get another port than the rest: set portName to the port that serves the cache`,
    });
  }
}

/** `no-port`, once per Service: its slices that list pods without a usable port, whose endpoints are left out. */
function reportPortless(portless: SliceGroups, config: KubernetesSourceConfig, report: (p: SourceProblem) => void): void {
  const setting = config.portName === undefined ? "kubernetes.portName is not set, so each slice's first port is used" : `kubernetes.portName is ${config.portName}`;
  for (const { rank, groups, grouped, endpoints, slices } of portless.services()) {
    const service = config.services[rank]!;
    report({
      reason: 'no-port',
      kind: 'Service',
      namespace: config.namespace,
      name: service,
      field: 'ports',
      message:
        `${setting}, and ${grouped} of the ${slices} slices of Service ${service} ${grouped === 1 ? 'has' : 'have'} no usable port: ` +
        `${listedGroups(groups, 'faults')}; ${endpoints === 1 ? 'its 1 endpoint is' : `their ${endpoints} endpoints are`} left out`,
    });
  }
}

/**
 * Problems on a Service first: one covers many slices and endpoints, and sorted with the rest by
 * kind it came after every pod problem and was the first left out of the listed problems.
 */
function problemOrder(a: SourceProblem, b: SourceProblem): number {
  return (a.kind === 'Service' ? 0 : 1) - (b.kind === 'Service' ? 0 : 1);
}

/** `n slices: a, b, c and k more`, the names sorted, at most MAX_LISTED_SLICES_PER_PORT of them. */
function countedSlices(names: readonly string[]): string {
  const sorted = [...names].sort(compareStrings);
  const shown = sorted.slice(0, MAX_LISTED_SLICES_PER_PORT).join(', ');
  const more = sorted.length - MAX_LISTED_SLICES_PER_PORT;
  return `${sorted.length} slice${sorted.length === 1 ? '' : 's'}: ${shown}${more > 0 ? ` and ${more} more` : ''}`;
}

/**
 * Why a pod has not started, or undefined when it may have: it has no IP yet, or its phase is
 * `Pending` (the API server's phase from creation until its containers run; the kubelet gives it
 * an IP before pulling images, which for a GPU cache's image may take minutes).
 */
function notStartedState(pod: V1Pod): string | undefined {
  const ips = podIps(pod);
  const pending = pod.status?.phase === 'Pending';
  if (ips.length === 0) return pending ? 'phase Pending, no IP yet' : 'no IP yet';
  return pending ? `phase Pending, IP ${ips.join(', ')}` : undefined;
}

/** Whether `address` (an IP literal) is one of the pod's IPs, compared in canonical form. */
function atPodIp(address: string, pod: V1Pod): boolean {
  const own = canonicalIp(address);
  return podIps(pod).some((ip) => canonicalIp(ip) === own);
}

/** An IP literal in one spelling (`fd00:0::1` and `FD00::1` alike); anything else as it is. */
function canonicalIp(ip: string): string {
  if (isIP(ip) !== 6 || ip.includes('%')) return ip;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** The configured port of a slice, or what it lacks (the group of a `no-port` problem). */
function slicePort(slice: V1EndpointSlice, portName: string | undefined): number | string {
  const ports = slice.ports ?? [];
  const port = portName === undefined ? ports[0] : ports.find((p) => (p.name ?? '') === portName);
  if (!port) return portName === undefined ? 'no ports' : `no port named ${portName}`;
  if (typeof port.port !== 'number') return `port ${port.name ?? '(unnamed)'} has no number`;
  return port.port;
}

function mergeByIdentity(candidates: readonly Candidate[], report: (p: SourceProblem) => void): Endpoint[] {
  const byId = new Map<string, Candidate[]>();
  for (const c of candidates) {
    const list = byId.get(c.endpoint.id);
    if (list) list.push(c);
    else byId.set(c.endpoint.id, [c]);
  }
  const out: Endpoint[] = [];
  for (const [id, list] of byId) {
    const podNames = [...new Set(list.map((c) => c.pod))].sort();
    if (podNames.length > 1) {
      // Name the kept pod and count the rest: listing every pod in each pod's problem grows with
      // the square of the pods (an identity label all pods share, e.g. `app`).
      const more = podNames.length - 2;
      for (const pod of podNames.slice(1)) {
        const [ns, name] = pod.split('/') as [string, string];
        const message = `${more === 0 ? `pods ${podNames[0]} and ${pod} both have` : `pods ${podNames[0]}, ${pod} and ${more} more have`} identity ${id}; only ${podNames[0]} is used`;
        report({ reason: 'duplicate-identity', kind: 'Pod', namespace: ns, name, value: id, message });
      }
    }
    const kept = list.filter((c) => c.pod === podNames[0]).sort(preference)[0]!;
    out.push(kept.endpoint);
  }
  return out.sort((a, b) => compareStrings(a.id, b.id));
}

/**
 * Which of a pod's entries gives its endpoint: its family, then its Service, by rules that do not
 * depend on the entries' conditions. The EndpointSlice controller writes a dual-stack Service's
 * IPv4 and IPv6 slices one after the other, in no fixed order, and each Service's slices in a
 * sync of their own, so between two writes the entries disagree on the pod's conditions. The
 * ready entry first moved the endpoint for that gap to its IPv6 address or the other Service's
 * port (a new host for every proxy, and an IPv6 one has no standby alias in Envoy's subset
 * shape), then back, and kept a pod failing its probe ready until the last write. Within one
 * family and Service the ready entry wins: a copy the controller has not yet removed from another
 * slice is stale.
 *
 * Before all of these, an entry at one of the pod's IPs wins over one that is not. An entry names
 * its pod by name, and by uid only when its writer set one (hand-written Endpoints mirrored into
 * slices, some controllers, do not): a pod recreated under its name with a new IP then matches
 * the old pod's entry too, still ready as last written, and the ready rule published the gone
 * address as ready until the writer dropped it. A pod IP never changes in a pod's life, so an entry
 * at another address, beside one at the pod's IP, is the old pod's. An entry at an address the pod
 * does not have (another network's, in hand-written Endpoints) is still used when no entry is at
 * the pod's IP, once the pod has started; before (no IP yet, or phase Pending) candidate() leaves
 * it out, and publishes one at the pod's IP not ready.
 */
function preference(a: Candidate, b: Candidate): number {
  if (a.atPodIp !== b.atPodIp) return a.atPodIp ? -1 : 1;
  if (a.ipv4 !== b.ipv4) return a.ipv4 ? -1 : 1;
  if (a.serviceRank !== b.serviceRank) return a.serviceRank - b.serviceRank;
  if (a.endpoint.ready !== b.endpoint.ready) return a.endpoint.ready ? -1 : 1;
  return compareStrings(a.slice, b.slice);
}
