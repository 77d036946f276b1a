/**
 * manifests/examples/inference-pool (docs/gateways.md): the InferencePool validates against the
 * InferencePool v1 CRD schema (vendored in testdata/inference-pool, see SOURCE.md there), its
 * endpointPickerRef reaches keyway's ext_proc port, and the picker's Kubernetes objects validate
 * against the Kubernetes schemas.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parseCommand } from '../../src/cli/args.js';
import { REPO, type K8sObject } from './support/render.js';
import { schemaProblems, unknownFields } from './support/schema.js';

const DIR = `${REPO}/manifests/examples/inference-pool`;

function objects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(`${DIR}/${file}`, 'utf8')).map((d) => d.toJSON() as K8sObject);
}

/** The CRD schema with the Kubernetes extensions (x-kubernetes-*) known to ajv as annotations; their CEL rules are checked below by hand. */
function inferencePoolValidator(): ValidateFunction {
  const schema = JSON.parse(readFileSync(`${REPO}/testdata/inference-pool/inferencepool-v1.schema.json`, 'utf8')) as object;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  for (const keyword of ['x-kubernetes-validations', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-int-or-string']) {
    ajv.addKeyword({ keyword });
  }
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', true);
  return ajv.compile(schema);
}

interface PoolSpec {
  selector: { matchLabels: Record<string, string> };
  targetPorts: { number: number }[];
  endpointPickerRef: { kind?: string; name?: string; port?: { number: number }; failureMode?: string };
}
type Pool = K8sObject & { spec: PoolSpec };
interface PickerService {
  metadata: { name: string; namespace: string };
  spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] };
}
interface PickerDeployment {
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { args: string[]; ports: { name: string; containerPort: number }[] }[] } } };
}

const pool = objects('inferencepool.yaml').find((o) => o.kind === 'InferencePool') as Pool;
const picker = objects('keyway-picker.yaml');

test('the InferencePool example validates against the InferencePool v1 schema, and the validator rejects broken copies', () => {
  assert.equal(pool.apiVersion, 'inference.networking.k8s.io/v1');
  const validate = inferencePoolValidator();
  assert.ok(validate(pool), JSON.stringify(validate.errors, null, 2));
  const broken: [string, (p: Pool) => void][] = [
    ['no targetPorts', (p) => delete (p.spec as Partial<PoolSpec>).targetPorts],
    ['a port out of range', (p) => (p.spec.targetPorts[0]!.number = 70000)],
    ['an unknown failure mode', (p) => (p.spec.endpointPickerRef.failureMode = 'FailSometimes')],
    ['no picker name', (p) => delete p.spec.endpointPickerRef.name],
    ['an empty selector', (p) => (p.spec.selector.matchLabels = {})],
  ];
  for (const [what, edit] of broken) {
    const copy = structuredClone(pool);
    edit(copy);
    assert.equal(validate(copy), false, `${what} should not validate`);
  }
  // The schema's CEL rules, by hand: a Service reference carries a port; target ports are unique.
  const ref = pool.spec.endpointPickerRef;
  assert.ok((ref.kind ?? 'Service') !== 'Service' || ref.port !== undefined, 'port is required when kind is Service');
  const ports = pool.spec.targetPorts.map((p) => p.number);
  assert.equal(new Set(ports).size, ports.length, 'target ports are unique');
});

test("the pool's endpointPickerRef reaches keyway's ext_proc port, and the pool selects the cache nodes keyway routes to", () => {
  const service = picker.find((o) => o.kind === 'Service') as unknown as PickerService;
  const deployment = picker.find((o) => o.kind === 'Deployment') as unknown as PickerDeployment;
  assert.equal(service.metadata.name, pool.spec.endpointPickerRef.name);
  assert.equal(service.metadata.namespace, pool.metadata.namespace, 'endpointPickerRef names a Service of the pool namespace');
  const port = service.spec.ports.find((p) => p.port === pool.spec.endpointPickerRef.port?.number);
  assert.ok(port, 'the Service has the referenced port');
  const container = deployment.spec.template.spec.containers[0]!;
  const containerPort = container.ports.find((p) => p.name === port.targetPort)?.containerPort;
  const cmd = parseCommand(container.args, {});
  assert.equal(cmd.command, 'serve');
  assert.equal(cmd.command === 'serve' ? cmd.extProcPort : undefined, containerPort, 'keyway serves ext_proc on the port the Service targets');
  for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[k], v);
  // The pool's pods and port are the ones keyway's Kubernetes source reads (manifests/examples/cache-nodes).
  const cacheService = parseYaml(readFileSync(`${REPO}/manifests/examples/cache-nodes/service.yaml`, 'utf8')) as { spec: { selector: Record<string, string>; ports: { port: number }[] } };
  assert.deepEqual(pool.spec.selector.matchLabels, cacheService.spec.selector);
  assert.deepEqual(pool.spec.targetPorts, [{ number: cacheService.spec.ports[0]!.port }]);
  // Same shard map as the control plane: same S, R and spread as manifests/base/topology.yaml.
  type Topo = Record<string, unknown>;
  const base = parseYaml(readFileSync(`${REPO}/manifests/base/topology.yaml`, 'utf8')) as Topo;
  const configMap = picker.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
  const mine = parseYaml(configMap.data['topology.yaml']!) as Topo;
  for (const k of ['shards', 'replicas', 'spread']) assert.equal(mine[k], base[k], k);
  assert.deepEqual(mine.kubernetes, base.kubernetes);
});

test("agents can reach every picker replica: a headless Service over the picker pods targets keyway's xDS port", () => {
  const deployment = picker.find((o) => o.kind === 'Deployment') as unknown as PickerDeployment;
  const headless = picker.find((o) => o.kind === 'Service' && o.metadata.name === 'keyway-picker-replicas') as unknown as PickerService & {
    spec: { clusterIP?: string; publishNotReadyAddresses?: boolean };
  };
  assert.ok(headless, 'Service keyway-picker-replicas');
  assert.equal(headless.spec.clusterIP, 'None', 'headless: its name resolves to every replica');
  assert.equal(headless.spec.publishNotReadyAddresses, true, 'agents connect before a replica is ready, as to keyway-replicas');
  for (const [k, v] of Object.entries(headless.spec.selector)) assert.equal(deployment.spec.template.metadata.labels[k], v);
  const container = deployment.spec.template.spec.containers[0]! as { args: string[]; ports: { name: string; containerPort: number }[]; env?: { name: string; value?: string }[] };
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
  const cmd = parseCommand(container.args, env);
  assert.equal(cmd.command, 'serve');
  const [port] = headless.spec.ports;
  assert.equal(port?.port, 18000, 'the port docs/gateways.md "Warm handoff" names');
  assert.equal(container.ports.find((p) => p.name === port.targetPort)?.containerPort, cmd.command === 'serve' ? cmd.xdsPort : undefined, 'the Service targets the port keyway serves xDS on');
});

test("the picker's Kubernetes objects validate against the Kubernetes schemas", async () => {
  for (const obj of picker) {
    assert.deepEqual(await schemaProblems(obj), [], `${obj.kind} ${obj.metadata.name}`);
    assert.deepEqual(unknownFields(obj), [], `${obj.kind} ${obj.metadata.name}`);
  }
});
