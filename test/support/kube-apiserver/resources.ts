/**
 * The resource types the in-process API server serves, with the URL, kind and scope each has on a
 * real API server (core group under /api/v1, named groups under /apis/<group>/<version>).
 */

export interface ResourceType {
  /** URL segment, e.g. `endpointslices`. */
  readonly plural: string;
  /** API group; '' is the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const RESOURCE_TYPES: readonly ResourceType[] = [
  { plural: 'pods', group: '', version: 'v1', kind: 'Pod', namespaced: true },
  { plural: 'nodes', group: '', version: 'v1', kind: 'Node', namespaced: false },
  { plural: 'endpointslices', group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', namespaced: true },
];

export function apiVersionOf(t: ResourceType): string {
  return t.group === '' ? t.version : `${t.group}/${t.version}`;
}

export function resourceByKind(kind: string): ResourceType {
  const t = RESOURCE_TYPES.find((r) => r.kind === kind);
  if (!t) throw new Error(`the in-process API server does not serve kind ${JSON.stringify(kind)}`);
  return t;
}

/** A request path resolved to a resource: `/api/v1/namespaces/cache/pods` → pods in `cache`. */
export interface ResolvedPath {
  readonly type: ResourceType;
  readonly namespace?: string;
  readonly name?: string;
}

/** Resolves a request path, or returns undefined for anything this server does not serve. */
export function resolvePath(path: string): ResolvedPath | undefined {
  const seg = path.split('/').filter((s) => s !== '');
  let group: string;
  let rest: string[];
  if (seg[0] === 'api' && seg[1] === 'v1') {
    group = '';
    rest = seg.slice(2);
  } else if (seg[0] === 'apis' && seg.length >= 3) {
    group = seg[1]!;
    rest = seg.slice(3);
  } else {
    return undefined;
  }
  const version = group === '' ? 'v1' : seg[2]!;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, ...extra] = rest;
  if (extra.length > 0) return undefined;
  const type = RESOURCE_TYPES.find((t) => t.plural === plural && t.group === group && t.version === version);
  if (!type) return undefined;
  if (namespace !== undefined && !type.namespaced) return undefined;
  if (name !== undefined && type.namespaced && namespace === undefined) return undefined;
  return { type, ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}) };
}
