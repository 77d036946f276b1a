/**
 * RBAC is least privilege: keyway's ServiceAccount may list and watch exactly the resources the
 * real Kubernetes source watches, in the scope it watches them (nodes cluster-wide, pods and
 * EndpointSlices in the cache namespace only), and no other workload gets API credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeConfig, type V1ClusterRole, type V1ConfigMap, type V1Deployment, type V1RoleBinding } from '@kubernetes/client-node';
import { parseConfig } from '../../src/config/index.js';
import { KubernetesSource, parseKubernetesSourceConfig } from '../../src/sources/kubernetes/index.js';
import { findOne, type K8sObject, render, skipWithoutKustomize } from './support/render.js';
import { workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();
const VERBS = ['list', 'watch'];
const SUBJECT = { namespace: 'keyway-system', name: 'keyway' };

/** `scope group resource verb` for every permission bound to the ServiceAccount; scope `*` = cluster-wide. */
function grants(objects: readonly K8sObject[], sa: { namespace: string; name: string }): string[] {
  const out: string[] = [];
  const bindings = objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding') as unknown as (V1RoleBinding & K8sObject)[];
  for (const b of bindings) {
    const bound = (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa.name && s.namespace === sa.namespace);
    if (!bound) continue;
    const scope = b.kind === 'ClusterRoleBinding' ? '*' : b.metadata.namespace!;
    const role = findOne<V1ClusterRole>(objects, b.roleRef.kind, b.roleRef.name, b.roleRef.kind === 'Role' ? b.metadata.namespace : undefined);
    for (const rule of role.rules ?? []) {
      assert.equal(rule.resourceNames, undefined, `${b.roleRef.name}: resourceNames`);
      assert.equal(rule.nonResourceURLs, undefined, `${b.roleRef.name}: nonResourceURLs`);
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) for (const verb of rule.verbs) out.push(`${scope} ${group || 'core'} ${resource} ${verb}`);
      }
    }
  }
  return out.sort();
}

/** Scope, group and resource of a collection path such as /apis/discovery.k8s.io/v1/namespaces/cache/endpointslices. */
function parseCollectionPath(path: string): { scope: string; group: string; resource: string } {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/(?:namespaces\/([^/]+)\/)?([^/]+)$/.exec(path);
  assert.ok(m, `unexpected API path ${path}`);
  return { group: m[1] ?? '', scope: m[2] ?? '*', resource: m[3]! };
}

/** What the real KubernetesSource, configured by the rendered settings, watches (it is built, never started). */
function watchedBySource(objects: readonly K8sObject[]): { scope: string; group: string; resource: string }[] {
  const deployment = findOne<V1Deployment>(objects, 'Deployment', 'keyway', 'keyway-system');
  const name = deployment.spec!.template.spec!.volumes!.find((v) => v.name === 'config')!.configMap!.name!;
  const text = findOne<V1ConfigMap>(objects, 'ConfigMap', name, 'keyway-system').data!['topology.yaml']!;
  const config = parseKubernetesSourceConfig(parseConfig(text, 'topology.yaml').kubernetes!, { env: {} });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'none', server: 'http://127.0.0.1:9' }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'none', cluster: 'none', user: 'none' }],
    currentContext: 'none',
  });
  const source = new KubernetesSource(config, { kubeConfig });
  return source.status().resources.map((r) => parseCollectionPath(r.path));
}

test('keyway may list and watch exactly what its Kubernetes source watches, where it watches it', { skip }, () => {
  const objects = render('manifests/base');
  const watched = watchedBySource(objects);
  assert.deepEqual(watched.map((w) => w.resource).sort(), ['endpointslices', 'nodes', 'pods']);
  const expected = watched.flatMap((w) => VERBS.map((verb) => `${w.scope} ${w.group || 'core'} ${w.resource} ${verb}`)).sort();
  assert.deepEqual(grants(objects, SUBJECT), expected);
});

test('pods and EndpointSlices are readable in the cache namespace only, nodes cluster-wide', { skip }, () => {
  const expected = [
    ...VERBS.map((v) => `* core nodes ${v}`),
    ...VERBS.map((v) => `cache core pods ${v}`),
    ...VERBS.map((v) => `cache discovery.k8s.io endpointslices ${v}`),
  ].sort();
  assert.deepEqual(grants(render('manifests/base'), SUBJECT), expected);
});

test('the grant check sees a broadened rule', { skip }, () => {
  const objects = structuredClone(render('manifests/base'));
  const role = findOne<V1ClusterRole>(objects, 'ClusterRole', 'keyway-node-reader');
  role.rules![0]!.resources!.push('secrets');
  role.rules![0]!.verbs.push('get');
  const g = grants(objects, SUBJECT);
  assert.ok(g.includes('* core secrets list'));
  assert.ok(g.includes('* core nodes get'));
  assert.notDeepEqual(g, grants(render('manifests/base'), SUBJECT));
});

test('only keyway mounts API credentials; the gateway and the cache nodes do not', { skip }, () => {
  for (const w of workloads(render('manifests/examples'))) {
    const spec = w.template.spec!;
    const mounts = spec.automountServiceAccountToken !== false;
    assert.equal(mounts, w.object.metadata.name === 'keyway', `${w.object.kind} ${w.object.metadata.name}`);
    if (mounts) assert.equal(spec.serviceAccountName, SUBJECT.name);
  }
});

test('every binding names a role that exists, and only keyway is bound', { skip }, () => {
  const objects = render('manifests/examples');
  for (const b of objects.filter((o) => o.kind.endsWith('Binding')) as unknown as (V1RoleBinding & K8sObject)[]) {
    findOne(objects, b.roleRef.kind, b.roleRef.name, b.roleRef.kind === 'Role' ? b.metadata.namespace : undefined);
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', ...SUBJECT }]);
  }
});
