/**
 * Real Envoy (`envoy --mode validate`) over many translations at once, for the fuzz test
 * (envoy-fuzz.test.ts): each case's resources go through the wire (binary protobuf, as a proxy
 * receives them), are renamed apart by a case prefix, made static (an EDS cluster gets its
 * assignment as `load_assignment`, so Envoy checks the hosts too) and gathered in one bootstrap,
 * each case's routes inlined into a listener of its own. One Envoy run checks them all; when it
 * fails, bisection finds the first case Envoy rejects, with Envoy's words.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary, toBinary, toJson } from '@bufbuild/protobuf';
import type { ResourceSet, TranslatedResource } from '../../../src/xds/resources.js';
import { XDS_REGISTRY } from '../../../src/xds/translator/index.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export function findEnvoy(): string | undefined {
  const candidates = [process.env.ENVOY_BIN, '.venv/bin/envoy'].filter((c): c is string => !!c);
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v envoy'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

/** A resource as a proxy decodes it: encoded to binary and back (a lone surrogate becomes U+FFFD, as on the wire). */
function wireJson(r: TranslatedResource): Json {
  const back = fromBinary(r.schema, toBinary(r.schema, r.message as never));
  return toJson(r.schema, back, { registry: XDS_REGISTRY }) as Json;
}

/** One case's static clusters and listener, every cluster name prefixed with `id`. */
export interface BatchCase {
  readonly clusters: Json[];
  readonly listeners: Json[];
}

const ROUTER = { name: 'envoy.filters.http.router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/**
 * A translation (Envoy or gRPC flavor) as static resources named apart by `id`; `port` is its
 * listener's (listeners must not share one). The route configuration is inlined.
 */
export function batchCase(set: ResourceSet, id: string, port: number): BatchCase {
  const clusters = set.cluster.map(wireJson);
  const assignments = new Map(set.endpoint.map((r) => [r.name, wireJson(r)]));
  const names = new Set(clusters.map((c) => c.name as string));
  const rename = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rename);
    if (v === null || typeof v !== 'object') return v;
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = (k === 'cluster' || k === 'name' || k === 'clusterName') && typeof x === 'string' && names.has(x) ? `${id}${x}` : rename(x);
    return out;
  };
  const staticClusters = clusters.map((c) => {
    const out = rename(c) as Json;
    if (out.edsClusterConfig) {
      delete out.edsClusterConfig;
      out.type = 'STATIC';
      out.loadAssignment = rename(assignments.get(c.name) ?? { clusterName: c.name });
    }
    return out;
  });
  const route = rename(wireJson(set.route[0]!)) as Json;
  const listener = wireJson(set.listener[0]!);
  // gRPC's API listener: its connection manager goes into a plain listener, to check the routes.
  const hcm: Json = listener.apiListener ? { ...listener.apiListener.apiListener, httpFilters: [ROUTER] } : listener.filterChains[0].filters[0].typedConfig;
  delete hcm.rds;
  hcm.routeConfig = route;
  // Envoy's own listener as sent, but for its name and port (listeners must not share one).
  const out: Json = listener.apiListener
    ? { filterChains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: hcm }] }] }
    : structuredClone(listener);
  out.name = `${id}listener`;
  out.address = { socketAddress: { address: '127.0.0.1', portValue: port } };
  return { clusters: staticClusters, listeners: [out] };
}

function bootstrap(cases: readonly BatchCase[]): Json {
  return {
    node: { id: 'translator-fuzz', cluster: 'keyway' },
    staticResources: { listeners: cases.flatMap((c) => c.listeners), clusters: cases.flatMap((c) => c.clusters) },
  };
}

/** Runs `envoy --mode validate` on the cases together: undefined when Envoy accepts them, else its output. */
export function validateBatch(envoy: string, cases: readonly BatchCase[]): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-fuzz-'));
  try {
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify(bootstrap(cases)));
    const run = spawnSync(envoy, ['--mode', 'validate', '-c', file, '--log-level', 'critical'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    return run.status === 0 ? undefined : `${run.stdout}${run.stderr}`.trim() || `exit ${run.status} ${run.signal ?? ''}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The first of `cases` Envoy rejects on its own (bisection: log2(n) Envoy runs), with Envoy's output;
 * undefined if all pass. Assumes a rejection comes from one case, not from two together.
 */
export function firstRejected(envoy: string, cases: readonly BatchCase[]): { index: number; output: string } | undefined {
  let lo = 0;
  let hi = cases.length;
  let output = validateBatch(envoy, cases);
  if (output === undefined) return undefined;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    const left = validateBatch(envoy, cases.slice(lo, mid));
    if (left !== undefined) {
      hi = mid;
      output = left;
    } else {
      lo = mid;
      output = validateBatch(envoy, cases.slice(lo, hi)) ?? output;
    }
  }
  return { index: lo, output };
}
