/**
 * The example overlays agree with each other and with keyway's settings: Services reach container
 * ports, the cache-node Service is the one keyway watches, the Envoy gateway's bootstrap points at
 * keyway's xDS port and real Envoy accepts it, and the gateway exposes the listener keyway builds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { V1ConfigMap, V1Container, V1Deployment, V1EnvVar, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { DEFAULT_HANDOFF_SETTINGS } from '../../src/core/handoff.js';
import { MAX_DRAIN_TIMEOUT_MS } from '../../examples/cache-node/server.js';
import { parseKubernetesSourceConfig, parseWeight } from '../../src/sources/kubernetes/index.js';
import { envoyBinary, pinnedEnvoyVersion, skipWithoutEnvoy } from './support/envoy.js';
import { findOne, type K8sObject, ofKind, render, skipWithoutKustomize } from './support/render.js';
import { backends, resolvePort, selects, targetOf, workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();
const FULL = 'manifests/examples';

/** keyway's settings as its loader sees them, from the ConfigMap the keyway Deployment mounts. */
function keywaySettings(objects: readonly K8sObject[]) {
  const deployment = findOne<V1Deployment>(objects, 'Deployment', 'keyway', 'keyway-system');
  const name = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'config')!.configMap!.name!;
  const text = findOne<V1ConfigMap>(objects, 'ConfigMap', name, 'keyway-system').data!['topology.yaml']!;
  const config = parseConfig(text, 'topology.yaml');
  return { topology: config.topology, kubernetes: parseKubernetesSourceConfig(config.kubernetes!, { env: {} }) };
}

/** The kubelet's $(VAR) expansion of args with the container's env; `fields` gives values for fieldRefs. */
function expandArgs(container: V1Container, fields: Record<string, string>): string[] {
  const env = new Map<string, string>();
  for (const e of container.env ?? ([] as V1EnvVar[])) {
    const value = e.value ?? (e.valueFrom?.fieldRef ? fields[e.valueFrom.fieldRef.fieldPath] : undefined);
    assert.ok(value !== undefined, `no sample value for env ${e.name}`);
    env.set(e.name, value);
  }
  return (container.args ?? []).map((arg) =>
    arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) => (name === undefined ? '$' : env.get(name) ?? m)),
  );
}

function gateway(objects: readonly K8sObject[]) {
  const deployment = findOne<V1Deployment>(objects, 'Deployment', 'keyway-gateway', 'cache');
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers.find((c) => c.name === 'envoy')!;
  const args = container.args ?? [];
  const configPath = args[args.indexOf('--config-path') + 1]!;
  const mount = container.volumeMounts!.find((m) => m.mountPath === dirname(configPath));
  assert.ok(mount, `nothing is mounted at ${dirname(configPath)}`);
  const cmName = pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name!;
  const bootstrapText = findOne<V1ConfigMap>(objects, 'ConfigMap', cmName, 'cache').data?.[basename(configPath)];
  assert.ok(bootstrapText, `ConfigMap ${cmName} has no ${basename(configPath)}`);
  return { deployment, pod, container, configPath, bootstrapText };
}

test('every Service selects one workload in its namespace and every target port is a container port', { skip }, () => {
  const objects = render(FULL);
  const all = workloads(objects);
  for (const service of ofKind<V1Service>(objects, 'Service')) {
    const name = `${service.metadata!.namespace}/${service.metadata!.name}`;
    const behind = backends(service, all);
    assert.equal(behind.length, 1, `Service ${name} selects ${behind.length} workloads`);
    for (const port of service.spec!.ports!) {
      const target = resolvePort(targetOf(port), behind[0]!.template.spec!.containers);
      assert.ok(target, `Service ${name} port ${port.name} targets ${targetOf(port)}, which no container exposes`);
      assert.equal(target.port.protocol ?? 'TCP', port.protocol ?? 'TCP', `Service ${name} port ${port.name} protocol`);
    }
  }
});

test('every workload selector matches its own pod template', { skip }, () => {
  for (const w of workloads(render(FULL))) {
    assert.ok(selects(w.selector, w.template.metadata?.labels), `${w.object.kind} ${w.object.metadata.name}`);
  }
});

test('the cache-node Service, its namespace and its port are the ones keyway is told to watch', { skip }, () => {
  const objects = render(FULL);
  const { kubernetes } = keywaySettings(objects);
  for (const name of kubernetes.services) {
    const service = findOne<V1Service>(objects, 'Service', name, kubernetes.namespace);
    assert.equal(service.spec!.clusterIP, 'None', `${name} should be headless`);
    assert.ok(
      service.spec!.ports!.some((p) => p.name === kubernetes.portName),
      `Service ${name} has no port named ${kubernetes.portName}`,
    );
  }
  // The Role that lets keyway read pods and EndpointSlices sits in that same namespace.
  findOne(objects, 'Role', 'keyway-discovery', kubernetes.namespace);
  findOne(objects, 'RoleBinding', 'keyway-discovery', kubernetes.namespace);
});

test('cache-node pods carry identities keyway can use and a weight annotation it parses', { skip }, () => {
  const objects = render(FULL);
  const { kubernetes } = keywaySettings(objects);
  const set = findOne<V1StatefulSet>(objects, 'StatefulSet', 'cache-node', kubernetes.namespace);
  assert.equal(set.spec!.serviceName, 'cache-node', 'the governing Service gives the pods stable DNS names');
  assert.deepEqual(kubernetes.identity, { from: 'pod-name' }, 'StatefulSet pod names are stable identities');
  const raw = set.spec!.template.metadata!.annotations?.[kubernetes.weightAnnotation];
  assert.ok(raw !== undefined, `pods have no ${kubernetes.weightAnnotation} annotation`);
  const weight = parseWeight(raw);
  assert.equal(weight, 80);
});

test('cache-node pods wait in preStop for their shards to be handed off, within a grace period that covers the warm timeout', { skip }, () => {
  const objects = render(FULL);
  const { kubernetes } = keywaySettings(objects);
  const set = findOne<V1StatefulSet>(objects, 'StatefulSet', 'cache-node', kubernetes.namespace);
  const pod = set.spec!.template.spec!;
  const container = pod.containers.find((c) => c.ports?.some((p) => p.name === 'cache'))!;
  const hook = container.lifecycle?.preStop?.httpGet;
  assert.ok(hook, 'the cache container has a preStop httpGet');
  assert.equal(hook.port, 'cache');
  const url = new URL(hook.path!, 'http://pod');
  assert.equal(url.pathname, '/v1/drain', "the example cache node's drain endpoint (docs/observability.md)");
  const timeoutMs = Number(url.searchParams.get('timeoutMs'));
  assert.ok(timeoutMs > DEFAULT_HANDOFF_SETTINGS.warmTimeoutMs && timeoutMs <= MAX_DRAIN_TIMEOUT_MS, `timeoutMs ${timeoutMs}`);
  const grace = pod.terminationGracePeriodSeconds!;
  assert.ok(grace * 1000 >= timeoutMs + 5_000, `terminationGracePeriodSeconds ${grace} leaves the cache under 5 s after a ${timeoutMs} ms drain`);
});

test('the gateway bootstrap points ADS at the keyway Service, on its gRPC xDS port, over HTTP/2', { skip }, () => {
  const objects = render(FULL);
  const { bootstrapText } = gateway(objects);
  const bootstrap = parseYaml(bootstrapText) as {
    dynamic_resources: { ads_config: { api_type: string; grpc_services: { envoy_grpc: { cluster_name: string } }[] }; cds_config: unknown; lds_config: unknown };
    static_resources: { clusters: { name: string; type: string; load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] }; typed_extension_protocol_options?: Record<string, { explicit_http_config?: { http2_protocol_options?: unknown } }> }[] };
  };
  const ads = bootstrap.dynamic_resources.ads_config;
  assert.equal(ads.api_type, 'GRPC');
  assert.deepEqual(bootstrap.dynamic_resources.cds_config, { ads: {}, resource_api_version: 'V3' });
  assert.deepEqual(bootstrap.dynamic_resources.lds_config, { ads: {}, resource_api_version: 'V3' });
  const cluster = bootstrap.static_resources.clusters.find((c) => c.name === ads.grpc_services[0]!.envoy_grpc.cluster_name);
  assert.ok(cluster, 'the ADS cluster is not defined in static_resources');
  const endpoints = cluster.load_assignment.endpoints.flatMap((e) => e.lb_endpoints.map((l) => l.endpoint.address.socket_address));
  assert.equal(endpoints.length, 1);
  const [svcName, svcNamespace, svc, ...rest] = endpoints[0]!.address.split('.');
  assert.equal(svc, 'svc', `${endpoints[0]!.address} is not a Service DNS name`);
  assert.ok(rest.length === 0 || rest.join('.') === 'cluster.local');
  const service = findOne<V1Service>(objects, 'Service', svcName!, svcNamespace);
  const port = service.spec!.ports!.find((p) => p.port === endpoints[0]!.port_value);
  assert.ok(port, `Service ${svcNamespace}/${svcName} has no port ${endpoints[0]!.port_value}`);
  assert.equal(port.name, 'xds');
  // tcp: a mesh sidecar carries the gateway's connection as it is (test/manifests/istio.test.ts).
  assert.equal(port.appProtocol, 'tcp');
  const behind = backends(service, workloads(objects));
  assert.deepEqual(behind.map((w) => w.object.metadata.name), ['keyway']);
  const h2 = cluster.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.ok(h2?.explicit_http_config?.http2_protocol_options, 'gRPC to keyway needs HTTP/2');
});

test('the gateway exposes the listener port keyway configures (envoy.listenerPort) through its Service', { skip }, () => {
  const objects = render(FULL);
  const { topology } = keywaySettings(objects);
  const { container } = gateway(objects);
  const service = findOne<V1Service>(objects, 'Service', 'keyway-gateway', 'cache');
  const http = service.spec!.ports!.find((p) => p.name === 'http')!;
  assert.equal(resolvePort(targetOf(http), [container])?.port.containerPort, topology.xds.envoy.listenerPort);
});

test('the gateway probes reach the probe listener of its bootstrap, and admin stays on loopback', { skip }, () => {
  const objects = render(FULL);
  const { container, bootstrapText } = gateway(objects);
  const bootstrap = parseYaml(bootstrapText) as {
    admin: { address: { socket_address: { address: string; port_value: number } } };
    static_resources: { listeners: { name: string; address: { socket_address: { address: string; port_value: number } } }[] };
  };
  assert.equal(bootstrap.admin.address.socket_address.address, '127.0.0.1');
  const probe = bootstrap.static_resources.listeners.find((l) => l.name === 'keyway_gateway_probe')!;
  const probePort = resolvePort('probe', [container])!.port.containerPort;
  assert.equal(probe.address.socket_address.port_value, probePort);
  assert.equal(resolvePort(container.readinessProbe!.httpGet!.port, [container])!.port.containerPort, probePort);
  assert.equal(container.readinessProbe!.httpGet!.path, '/ready');
  assert.match(bootstrapText, /match: \{path: \/ready\}/);
});

test('real Envoy accepts the gateway bootstrap with the pod args, and rejects a broken one', { skip: skip || skipWithoutEnvoy() }, () => {
  const envoy = envoyBinary();
  assert.ok(envoy, 'Envoy is required here: run bash scripts/install-envoy.sh');
  const objects = render(FULL);
  const { container, configPath, bootstrapText } = gateway(objects);
  assert.equal(container.image, `envoyproxy/envoy:v${pinnedEnvoyVersion()}`, 'the image and the tested Envoy are the same release');
  const args = expandArgs(container, {
    'metadata.name': 'keyway-gateway-7d9c-abcde',
    "metadata.labels['topology.kubernetes.io/region']": 'us-east-1',
    "metadata.labels['topology.kubernetes.io/zone']": 'us-east-1a',
  });
  assert.ok(args.some((a) => a.includes('zone: "us-east-1a"')), 'the zone reaches node.locality');
  const dir = mkdtempSync(join(tmpdir(), 'keyway-gateway-'));
  try {
    const file = join(dir, basename(configPath));
    writeFileSync(file, bootstrapText);
    const withLocalPath = args.map((a) => (a === configPath ? file : a));
    const out = execFileSync(envoy, ['--mode', 'validate', ...withLocalPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /OK/);
    // Validation is real: the same bootstrap with ADS pointed at a cluster that does not exist fails.
    writeFileSync(file, bootstrapText.replace('cluster_name: keyway_xds}', 'cluster_name: keyway_xdz}'));
    assert.throws(
      () => execFileSync(envoy, ['--mode', 'validate', ...withLocalPath], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
      /keyway_xdz/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
