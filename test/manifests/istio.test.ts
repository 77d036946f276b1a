/**
 * The Services under manifests/ declare each port's protocol the way an Istio sidecar needs it
 * (docs/kubernetes.md "Istio"). Istio picks a port's protocol from its appProtocol, else from its
 * name (istio.io "Protocol Selection"; pkg/config/kube/conversion.go ConvertProtocol in
 * istio/istio), and a sidecar then treats the port as:
 * - HTTP (http, http2, grpc, kubernetes.io/h2c): requests are routed by port and Host header, the
 *   destination IP is ignored, an unmatched Host goes to PassthroughCluster without mutual TLS
 *   (istio.io "Understanding Traffic Routing"), and the sidecars terminate HTTP/2, multiplexing
 *   the streams of many client connections onto a few of their own;
 * - TCP: connections are routed by IP and port (a listener per pod IP for a headless Service) and
 *   carried as they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { V1ConfigMap, V1Deployment, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { parseKubernetesSourceConfig } from '../../src/sources/kubernetes/index.js';
import { findOne, type K8sObject, ofKind, REPO, render, skipWithoutKustomize } from './support/render.js';
import { backends, resolvePort, targetOf, workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();

/** Istio's protocol names (Parse in pkg/config/protocol/instance.go); anything else is sniffed. */
const ISTIO_PROTOCOLS = new Set(['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql']);
/** Ports Istio never sniffs (SMTP, DNS, MySQL, MongoDB): TCP when nothing is declared. */
const WELL_KNOWN_TCP = new Set([25, 53, 3306, 27017]);
/** Protocols a sidecar parses as HTTP (IsHTTP): routed per request by Host, HTTP/2 terminated. */
const HTTP_CLASS = new Set(['http', 'http2', 'grpc', 'grpc-web', 'http_proxy']);

/** The protocol an Istio sidecar gives a Service port, as ConvertProtocol decides it; `unsupported` is sniffed. */
export function istioProtocol(port: V1ServicePort): string {
  if (port.protocol === 'UDP') return 'udp';
  let name = port.name ?? '';
  if (port.appProtocol !== undefined) {
    name = port.appProtocol;
    const standard = new Map([['kubernetes.io/h2c', 'http2'], ['kubernetes.io/ws', 'http'], ['kubernetes.io/wss', 'https']]);
    const known = standard.get(name);
    if (known) return known;
  }
  if (name.toLowerCase().startsWith('grpc-web')) return 'grpc-web';
  const prefix = name.split('-')[0]!.toLowerCase();
  if (ISTIO_PROTOCOLS.has(prefix)) return prefix;
  return WELL_KNOWN_TCP.has(port.port) ? 'tcp' : 'unsupported';
}

/** The InferencePool example's picker objects (applied with kubectl -f, not a kustomization). */
function pickerObjects(): K8sObject[] {
  return parseAllDocuments(readFileSync(`${REPO}/manifests/examples/inference-pool/keyway-picker.yaml`, 'utf8')).map((d) => d.toJS() as K8sObject);
}

/** Every Service the manifests define: the rendered kustomizations and the InferencePool example (applied with kubectl -f). */
function allServices(): V1Service[] {
  const picker = pickerObjects();
  const objects = [...render('manifests/examples'), ...render('manifests/examples/secured'), ...picker];
  const byKey = new Map<string, V1Service>();
  for (const s of ofKind<V1Service>(objects, 'Service')) byKey.set(`${s.metadata!.namespace}/${s.metadata!.name}`, s);
  return [...byKey.values()];
}

/** Service ports whose pods' target container port is named `xds`: keyway's xDS server (ADS and ownership streams). */
function xdsPorts(): { service: string; port: V1ServicePort }[] {
  const picker = pickerObjects();
  const all = workloads([...render('manifests/examples'), ...picker]);
  const found: { service: string; port: V1ServicePort }[] = [];
  for (const service of allServices()) {
    const containers = backends(service, all).flatMap((w) => w.template.spec?.containers ?? []);
    for (const port of service.spec?.ports ?? []) {
      if (resolvePort(targetOf(port), containers)?.port.name === 'xds') found.push({ service: `${service.metadata!.namespace}/${service.metadata!.name}`, port });
    }
  }
  return found;
}

test('istioProtocol follows Istio: appProtocol first, then the name prefix, the Kubernetes standard names, else sniffed', () => {
  const p = (name: string, extra: Partial<V1ServicePort> = {}): string => istioProtocol({ name, port: 80, ...extra });
  assert.equal(p('http-web'), 'http');
  assert.equal(p('grpc-web-x'), 'grpc-web');
  assert.equal(p('GRPC-xds'), 'grpc');
  assert.equal(p('xds'), 'unsupported');
  assert.equal(p('xds', { appProtocol: 'tcp' }), 'tcp');
  assert.equal(p('http', { appProtocol: 'tcp' }), 'tcp', 'appProtocol wins over the name');
  assert.equal(p('ext-proc', { appProtocol: 'kubernetes.io/h2c' }), 'http2');
  assert.equal(p('db', { port: 3306 }), 'tcp');
  assert.equal(p('dns', { protocol: 'UDP' }), 'udp');
});

test('every Service port declares a protocol Istio knows, so no sidecar sniffs it', { skip }, () => {
  const services = allServices();
  assert.ok(services.length >= 6, `found only ${services.length} Services`);
  const sniffed = services.flatMap((s) => (s.spec?.ports ?? []).filter((p) => istioProtocol(p) === 'unsupported').map((p) => `${s.metadata!.namespace}/${s.metadata!.name}:${p.name}`));
  assert.deepEqual(sniffed, []);
});

test('keyway\'s xDS ports are TCP to Istio, so a sidecar carries each client connection to keyway as it is', { skip }, () => {
  // Declared grpc, a sidecar in front of keyway puts the streams of every proxy it serves on one
  // HTTP/2 connection per worker: keyway's per-connection cap (KEYWAY_XDS_MAX_STREAMS_PER_CONNECTION,
  // 100) then refuses every stream past the 100th, its GOAWAY and pings reach the sidecar instead
  // of the proxy, and the secured overlay's TLS is not HTTP a sidecar can parse.
  const ports = xdsPorts();
  const names = ports.map((p) => p.service).sort();
  assert.deepEqual(names, ['cache/keyway-picker-replicas', 'keyway-system/keyway', 'keyway-system/keyway-replicas']);
  const http = ports.filter((p) => istioProtocol(p.port) !== 'tcp').map((p) => `${p.service}:${p.port.name} is ${istioProtocol(p.port)}`);
  assert.deepEqual(http, []);
});

test('the cache-node port keyway hands to proxies is TCP on a headless Service, so a sidecar keeps the owner keyway chose', { skip }, () => {
  // An HTTP port would be routed by Host: the gateway forwards the application's Host
  // (keyway-gateway.cache.svc) and a gRPC client sends keyway-cache, neither a cache-node host, so the
  // caller's sidecar sends the request to PassthroughCluster, in plaintext, which STRICT mTLS refuses.
  const objects = render('manifests/examples');
  const deployment = findOne<V1Deployment>(objects, 'Deployment', 'keyway', 'keyway-system');
  const configName = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'config')!.configMap!.name!;
  const text = findOne<V1ConfigMap>(objects, 'ConfigMap', configName, 'keyway-system').data!['topology.yaml']!;
  const kubernetes = parseKubernetesSourceConfig(parseConfig(text, 'topology.yaml').kubernetes!, { env: {} });
  assert.ok(kubernetes.services.length > 0);
  for (const name of kubernetes.services) {
    const service = findOne<V1Service>(objects, 'Service', name, kubernetes.namespace);
    assert.equal(service.spec!.clusterIP, 'None', `${name} must stay headless: a sidecar load-balances a ClusterIP Service over all its pods`);
    const port = service.spec!.ports!.find((p) => p.name === kubernetes.portName);
    assert.ok(port, `${name} has no port ${kubernetes.portName}`);
    assert.ok(!HTTP_CLASS.has(istioProtocol(port)), `${name}:${port.name} is ${istioProtocol(port)} to Istio: routed by Host, not by the owner's address`);
    assert.equal(istioProtocol(port), 'tcp');
  }
});
