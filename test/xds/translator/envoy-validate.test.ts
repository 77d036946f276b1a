// Real Envoy (`envoy --mode validate`, the pinned binary from scripts/install-envoy.sh) parses and
// builds every Envoy-flavor resource of every golden case: the cluster (with its assignment as a
// static load_assignment, so Envoy checks the hosts too), the listener with RDS over ADS, and the
// route configuration inlined into a second listener. Skipped when no Envoy binary is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../../src/config/index.js';
import { computeShardMap } from '../../../src/sharding/index.js';
import { resourceSetToJson, translate } from '../../../src/xds/translator/index.js';

function findEnvoy(): string | undefined {
  const candidates = [process.env.ENVOY_BIN, '.venv/bin/envoy'].filter((c): c is string => !!c);
  for (const c of candidates) if (existsSync(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v envoy'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : undefined;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** One bootstrap holding every golden case's Envoy resources, renamed apart. */
function bootstrap(): Json {
  const root = 'testdata/golden';
  const listeners: Json[] = [];
  const clusters: Json[] = [];
  readdirSync(root)
    .sort()
    .forEach((name, i) => {
      const file = join(root, name, 'input.yaml');
      const { topology } = parseConfig(readFileSync(file, 'utf8'), file);
      const set = resourceSetToJson(translate({ topology, shardMap: computeShardMap(topology.endpoints, topology.policy) }, { flavor: 'envoy', zone: '', subzone: '' })) as Record<string, Json[]>;
      const id = `case-${name}`;
      const route = set.route![0]!;
      if (set.cluster!.length === 1) {
        const cluster: Json = { ...set.cluster![0]!, name: id, type: 'STATIC', loadAssignment: { ...set.endpoint![0]!, clusterName: id } };
        delete cluster.edsClusterConfig;
        clusters.push(cluster);
        for (const vh of route.virtualHosts) for (const r of vh.routes) if (r.route) r.route.cluster = id;
      } else {
        clusters.push(...routeTableClusters(set, id));
        renameMatcherClusters(route, id);
      }
      const viaRds = structuredClone(set.listener![0]!);
      viaRds.name = `${id}-rds`;
      viaRds.address.socketAddress.portValue = 20000 + 2 * i;
      const inline = structuredClone(set.listener![0]!);
      inline.name = `${id}-inline`;
      inline.address.socketAddress.portValue = 20001 + 2 * i;
      const hcm = inline.filterChains[0].filters[0].typedConfig;
      delete hcm.rds;
      hcm.routeConfig = route;
      listeners.push(viaRds, inline);
    });
  const h2 = {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicitHttpConfig: { http2ProtocolOptions: {} },
    },
  };
  const xds = {
    name: 'keyway_xds',
    type: 'STATIC',
    typedExtensionProtocolOptions: h2,
    loadAssignment: { clusterName: 'keyway_xds', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 18000 } } } }] }] },
  };
  return {
    node: { id: 'translator-validate', cluster: 'keyway' },
    dynamicResources: { adsConfig: { apiType: 'GRPC', transportApiVersion: 'V3', grpcServices: [{ envoyGrpc: { clusterName: 'keyway_xds' } }] } },
    staticResources: { listeners, clusters: [...clusters, xds] },
  };
}

/**
 * The route-table shape (several clusters: one per node): each EDS cluster
 * made STATIC with its assignment, every name prefixed with the case's id.
 */
function routeTableClusters(set: Record<string, Json[]>, id: string): Json[] {
  const assignments = new Map(set.endpoint!.map((a) => [a.clusterName as string, a]));
  return set.cluster!.map((c) => {
    const out: Json = structuredClone(c);
    out.name = `${id}:${c.name}`;
    if (out.edsClusterConfig) {
      delete out.edsClusterConfig;
      out.type = 'STATIC';
      out.loadAssignment = { ...assignments.get(c.name)!, clusterName: out.name };
    }
    return out;
  });
}

/** Prefixes the clusters the route table's matcher names (its exact map and its no-match action). */
function renameMatcherClusters(route: Json, id: string): void {
  for (const vh of route.virtualHosts) {
    const actions = [...Object.values(vh.matcher.matcherTree.exactMatchMap.map), vh.matcher.onNoMatch] as Json[];
    for (const a of actions) {
      const target = a.action.typedConfig.route;
      if (!target) continue;
      if (target.cluster) target.cluster = `${id}:${target.cluster}`;
      for (const w of target.weightedClusters?.clusters ?? []) w.name = `${id}:${w.name}`;
    }
  }
}

const envoy = findEnvoy();

test('real Envoy accepts the Envoy-flavor resources of every golden case', { skip: envoy === undefined ? 'no envoy binary (scripts/install-envoy.sh)' : false, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-validate-'));
  try {
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify(bootstrap()));
    let out = '';
    try {
      out = execFileSync(envoy!, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string };
      assert.fail(`envoy rejected the resources:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
    }
    assert.match(out, /OK/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the validation harness is not vacuous: Envoy rejects a broken subset selector', { skip: envoy === undefined ? 'no envoy binary' : false, timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'keyway-validate-'));
  try {
    const boot = bootstrap();
    boot.staticResources.clusters[0].lbSubsetConfig.subsetSelectors[0].fallbackPolicy = 'KEYS_SUBSET';
    const file = join(dir, 'bootstrap.json');
    writeFileSync(file, JSON.stringify(boot));
    const run = spawnSync(envoy!, ['--mode', 'validate', '-c', file, '--log-level', 'warn'], { encoding: 'utf8' });
    assert.notEqual(run.status, 0);
    assert.match(`${run.stdout}${run.stderr}`, /fallback_keys_subset cannot be empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
