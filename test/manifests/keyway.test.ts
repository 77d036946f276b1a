/**
 * The keyway Deployment in manifests/base agrees with keyway itself: the real CLI parser reads its
 * args and env, the real admin app serves its probe paths, the real config loader accepts its
 * settings, and the Service and PodDisruptionBudget select its pods.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import type { V1ConfigMap, V1Container, V1Deployment, V1PodDisruptionBudget, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { buildAdminApp } from '../../src/admin/index.js';
import { parseCommand } from '../../src/cli/args.js';
import { parseConfig } from '../../src/config/index.js';
import { ServingState } from '../../src/app/index.js';
import { parseKubernetesSourceConfig } from '../../src/sources/kubernetes/index.js';
import { readFileSync } from 'node:fs';
import { OwnershipAgent } from '../../src/agent/index.js';
import { xdsStreamLimitsFromEnv } from '../../src/xds/server/stream-limits.js';
import { REPO, findOne, render, skipWithoutKustomize } from './support/render.js';
import { backends, resolvePort, selects, targetOf, workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();

function keyway(dir = 'manifests/base') {
  const objects = render(dir);
  const deployment = findOne<V1Deployment>(objects, 'Deployment', 'keyway', 'keyway-system');
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers.find((c) => c.name === 'keyway')!;
  return { objects, deployment, pod, container };
}

/** What `keyway serve` does with the container's args and env, through the real CLI parser. */
/** Binds every interface: `::` takes IPv4 and IPv6 clients, `0.0.0.0` (a host without IPv6) IPv4 ones. */
const EVERY_INTERFACE = ['::', '0.0.0.0'];

function serveCommand(container: V1Container) {
  // KUBERNETES_SERVICE_HOST: set in every container of a pod.
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', ...Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])) };
  const command = parseCommand(container.args ?? [], env);
  assert.equal(command.command, 'serve');
  return command as Extract<typeof command, { command: 'serve' }>;
}

test('keyway runs two replicas, rolls out without going below two, and a PDB keeps one', { skip }, () => {
  const { objects, deployment } = keyway();
  assert.equal(deployment.spec!.replicas, 2);
  assert.equal(deployment.spec!.strategy?.rollingUpdate?.maxUnavailable, 0);
  const pdb = findOne<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget', 'keyway', 'keyway-system');
  assert.equal(pdb.spec!.minAvailable, 1);
  assert.ok(selects(pdb.spec!.selector!.matchLabels, deployment.spec!.template.metadata!.labels), 'the PDB does not select keyway pods');
});

test('the container ports are the ports keyway serve listens on, as the CLI parses args and env', { skip }, () => {
  const { container } = keyway();
  const serve = serveCommand(container);
  assert.equal(resolvePort('http', [container])?.port.containerPort, serve.httpPort);
  assert.equal(resolvePort('xds', [container])?.port.containerPort, serve.xdsPort);
  assert.ok(EVERY_INTERFACE.includes(serve.host), 'proxies in other pods must reach the xDS port');
  assert.ok(EVERY_INTERFACE.includes(serve.adminHost), 'probes from the kubelet must reach the admin port');
});

test('the xDS limits the container sets are ones keyway serve accepts, and the stream cap fits the memory limit', { skip }, () => {
  const { container } = keyway();
  const env = Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
  const limits = xdsStreamLimitsFromEnv(env);
  // About 60 KiB of RSS per stream at the measured 5000 (docs/benchmarks.md "xDS fan-out"), on top of
  // about 190 MB for keyway idle with the Kubernetes client.
  const memory = container.resources?.limits?.['memory'];
  assert.equal(memory, '512Mi');
  assert.ok(190e6 + limits.maxStreams * 60e3 < 512 * 2 ** 20, `${limits.maxStreams} streams do not fit in ${memory}`);
});

test('the secured overlay mounts the TLS and token Secrets where keyway serve reads them; probes stay on open paths', { skip }, async () => {
  const { pod, container } = keyway('manifests/examples/secured');
  const serve = serveCommand(container);
  assert.ok(EVERY_INTERFACE.includes(serve.adminHost));
  assert.ok(serve.xdsTls?.clientCaFile, 'mTLS: a client CA');
  const files = { cert: serve.xdsTls.certFile, key: serve.xdsTls.keyFile, ca: serve.xdsTls.clientCaFile, token: serve.adminTokenFile! };
  const secretOf = (file: string): { secret: string; key: string } => {
    const mount = (container.volumeMounts ?? []).find((m) => dirname(file) === m.mountPath.replace(/\/$/, ''));
    assert.ok(mount, `${file} is under no volume mount`);
    assert.equal(mount.readOnly, true);
    assert.equal(mount.subPath, undefined, 'a subPath mount would never see a rotated Secret');
    const volume = pod.volumes!.find((v) => v.name === mount.name)!;
    assert.ok(volume.secret?.secretName, `${file}: its volume is not a Secret`);
    return { secret: volume.secret.secretName, key: basename(file) };
  };
  assert.deepEqual(
    Object.fromEntries(Object.entries(files).map(([k, f]) => [k, secretOf(f)])),
    {
      cert: { secret: 'keyway-xds-tls', key: 'tls.crt' },
      key: { secret: 'keyway-xds-tls', key: 'tls.key' },
      ca: { secret: 'keyway-xds-tls', key: 'ca.crt' },
      token: { secret: 'keyway-admin-token', key: 'token' },
    },
  );
  // keyway runs as a non-root user: the Secret files must be readable by its group.
  assert.equal(pod.securityContext?.fsGroup, pod.securityContext?.runAsGroup);
  const app = await buildAdminApp(new ServingState(), { token: 'a-token' });
  try {
    for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
      assert.notEqual((await app.inject({ url: probe!.httpGet!.path! })).statusCode, 401, `${probe!.httpGet!.path} needs the token`);
    }
  } finally {
    await app.close();
  }
});

test('probes use paths the real admin app serves, on the admin port', { skip }, async () => {
  const { container } = keyway();
  const serve = serveCommand(container);
  const probes = { startup: container.startupProbe, liveness: container.livenessProbe, readiness: container.readinessProbe };
  assert.equal(probes.startup?.httpGet?.path, '/healthz');
  assert.equal(probes.liveness?.httpGet?.path, '/healthz');
  assert.equal(probes.readiness?.httpGet?.path, '/readyz');
  for (const [kind, probe] of Object.entries(probes)) {
    assert.equal(resolvePort(probe!.httpGet!.port, [container])?.port.containerPort, serve.httpPort, `${kind} probe port`);
  }
  const app = await buildAdminApp(new ServingState());
  try {
    // Before any shard map: alive, not ready. A path keyway does not serve would be 404.
    assert.equal((await app.inject({ url: probes.liveness!.httpGet!.path! })).statusCode, 200);
    assert.equal((await app.inject({ url: probes.readiness!.httpGet!.path! })).statusCode, 503);
    assert.equal((await app.inject({ url: '/healthzz' })).statusCode, 404);
  } finally {
    await app.close();
  }
});

test('the settings file is mounted where --config points and the real loader accepts it', { skip }, () => {
  const { objects, pod, container } = keyway();
  const serve = serveCommand(container);
  const mount = container.volumeMounts!.find((m) => m.mountPath === dirname(serve.config));
  assert.ok(mount, `nothing is mounted at ${dirname(serve.config)}`);
  const volume = pod.volumes!.find((v) => v.name === mount.name)!;
  // kustomize rewrote the reference to the generated, hash-suffixed name.
  assert.match(volume.configMap!.name!, /^keyway-config-[a-z0-9]{10}$/);
  const configMap = findOne<V1ConfigMap>(objects, 'ConfigMap', volume.configMap!.name!, 'keyway-system');
  const text = configMap.data?.[basename(serve.config)];
  assert.ok(text, `ConfigMap ${configMap.metadata!.name} has no key ${basename(serve.config)}`);

  const config = parseConfig(text, serve.config);
  assert.deepEqual(config.topology.endpoints, [], 'Kubernetes discovers the endpoints; the file lists none');
  assert.deepEqual(config.topology.policy, { shardCount: 1024, replicas: 2, spread: 'subzone' });
  assert.equal(config.topology.xds.service, 'keyway-cache');
  assert.ok(config.kubernetes, 'the settings have no kubernetes section');
  const k8s = parseKubernetesSourceConfig(config.kubernetes, { env: {}, serviceAccountNamespace: () => undefined });
  assert.equal(k8s.namespace, 'cache');
  assert.deepEqual(k8s.services, ['cache-node']);
  assert.equal(k8s.portName, 'cache');
  assert.deepEqual(k8s.identity, { from: 'pod-name' });
  assert.equal(k8s.weightAnnotation, 'keyway.io/weight');
  // A start that fails ends with keyway's own message (the list's progress, the resource), not a kubelet kill.
  const startup = container.startupProbe!;
  const allowedMs = (startup.periodSeconds ?? 10) * (startup.failureThreshold ?? 3) * 1000;
  assert.ok(allowedMs > k8s.startMaxMs, `the startup probe allows ${allowedMs} ms, kubernetes.startMaxMs is ${k8s.startMaxMs}`);
});

test('a misspelt setting in the mounted file is caught by the loader the test uses', { skip }, () => {
  const { objects, pod } = keyway();
  const configMap = findOne<V1ConfigMap>(objects, 'ConfigMap', pod.volumes!.find((v) => v.configMap)!.configMap!.name!, 'keyway-system');
  const text = configMap.data!['topology.yaml']!.replace('portName: cache', 'portname: cache');
  const config = parseConfig(text, 'topology.yaml');
  assert.throws(() => parseKubernetesSourceConfig(config.kubernetes!, { env: {} }), /portname/);
});

test('the keyway Service exposes http and xds (gRPC) on the container ports, to keyway pods only', { skip }, () => {
  const { objects, container } = keyway();
  const service = findOne<V1Service>(objects, 'Service', 'keyway', 'keyway-system');
  const behind = backends(service, workloads(objects));
  assert.deepEqual(behind.map((w) => `${w.object.kind}/${w.object.metadata.name}`), ['Deployment/keyway']);
  const ports: Record<string, V1ServicePort> = Object.fromEntries(service.spec!.ports!.map((p) => [p.name, p]));
  assert.deepEqual(Object.keys(ports).sort(), ['http', 'xds']);
  assert.equal(ports.xds!.appProtocol, 'tcp', 'a mesh sidecar must not split xDS connections into streams (test/manifests/istio.test.ts)');
  assert.equal(ports.xds!.port, 18000);
  assert.equal(ports.http!.port, 8080);
  for (const p of Object.values(ports)) {
    const target = resolvePort(targetOf(p), [container]);
    assert.ok(target, `Service port ${p.name} reaches no container port`);
    assert.equal(target.port.name, p.name, `Service port ${p.name} does not reach container port ${p.name}`);
    assert.equal(target.port.protocol ?? 'TCP', p.protocol ?? 'TCP');
  }
});

test('the headless Service keyway-replicas names every keyway pod, ready or not, on the xds port, in a form the agent takes', { skip }, () => {
  const { objects, container } = keyway();
  const service = findOne<V1Service>(objects, 'Service', 'keyway-replicas', 'keyway-system');
  // Headless: its DNS name answers with each replica's pod IP, so an agent reaches every replica.
  assert.equal(service.spec!.clusterIP, 'None');
  // Agents connect to a replica before it is ready (it is unready until a shard map with owners is in force).
  assert.equal(service.spec!.publishNotReadyAddresses, true);
  const behind = backends(service, workloads(objects));
  assert.deepEqual(behind.map((w) => `${w.object.kind}/${w.object.metadata.name}`), ['Deployment/keyway']);
  const ports = service.spec!.ports!;
  assert.deepEqual(ports.map((p) => p.name), ['xds'], 'the xds port only');
  const target = resolvePort(targetOf(ports[0]!), [container]);
  assert.equal(target?.port.name, 'xds');
  assert.equal(ports[0]!.appProtocol, 'tcp', 'a mesh sidecar then routes an agent by the replica\'s pod IP (test/manifests/istio.test.ts)');
  // The address docs/ownership.md gives the agent, built from the rendered Service, is one it accepts.
  const server = `dns:///${service.metadata!.name}.${service.metadata!.namespace}.svc.cluster.local:${ports[0]!.port}`;
  assert.equal(server, 'dns:///keyway-replicas.keyway-system.svc.cluster.local:18000');
  assert.doesNotThrow(() => new OwnershipAgent({ nodeId: 'n', servers: [server, `dns:///${service.metadata!.name}.${service.metadata!.namespace}:${ports[0]!.port}`] }));
  assert.ok(readFileSync(`${REPO}/docs/ownership.md`, 'utf8').includes(server), 'docs/ownership.md names this address');
});

test('keyway replicas spread across zones and nodes', { skip }, () => {
  const { deployment } = keyway();
  const spread = deployment.spec!.template.spec!.topologySpreadConstraints ?? [];
  const labels = deployment.spec!.template.metadata!.labels;
  for (const key of ['topology.kubernetes.io/zone', 'kubernetes.io/hostname']) {
    const c = spread.find((s) => s.topologyKey === key);
    assert.ok(c, `no spread over ${key}`);
    assert.equal(c.maxSkew, 1);
    assert.ok(selects(c.labelSelector!.matchLabels, labels), `the ${key} constraint does not select keyway pods`);
  }
});
