/**
 * Every kustomization under manifests/ renders with the real kustomize, and every object it renders
 * is valid Kubernetes: schema (kubernetes-models), no undefined fields, namespaces, pinned images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { CLUSTER_SCOPED, findOne, listKustomizations, render, skipWithoutKustomize } from './support/render.js';
import { pinnedEnvoyVersion } from './support/envoy.js';
import { schemaProblems, unknownFields } from './support/schema.js';
import { workloads } from './support/workloads.js';

const skip = skipWithoutKustomize();
const FULL = 'manifests/examples';

test('manifests/ holds the base, both examples, the combined example and the secured overlay', () => {
  assert.deepEqual(listKustomizations(), [
    'manifests/base',
    'manifests/examples',
    'manifests/examples/cache-nodes',
    'manifests/examples/envoy-gateway',
    'manifests/examples/secured',
  ]);
});

test('every kustomization renders, without two objects of one kind, namespace and name', { skip }, () => {
  for (const dir of listKustomizations()) {
    const objects = render(dir);
    assert.ok(objects.length > 0, `${dir} rendered nothing`);
    const ids = objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], `${dir}: duplicate objects`);
  }
});

test('the combined example is exactly the base plus both examples', { skip }, () => {
  const key = (o: { kind: string; metadata: { namespace?: string; name: string } }) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const parts = ['manifests/base', 'manifests/examples/cache-nodes', 'manifests/examples/envoy-gateway'].flatMap((d) => render(d).map(key));
  assert.deepEqual(render(FULL).map(key).sort(), parts.sort());
});

test('every rendered object validates against the Kubernetes schemas (kubernetes-models)', { skip }, async () => {
  for (const dir of listKustomizations()) {
    for (const obj of render(dir)) {
      assert.deepEqual(await schemaProblems(obj), [], `${dir}: ${obj.kind} ${obj.metadata.name}`);
    }
  }
});

test('no rendered object has a field the Kubernetes API does not define', { skip }, () => {
  for (const dir of listKustomizations()) {
    for (const obj of render(dir)) {
      assert.deepEqual(unknownFields(obj), [], `${dir}: ${obj.kind} ${obj.metadata.name}`);
    }
  }
});

test('the schema checks catch a wrong type, a missing field and a misspelt field', { skip }, async () => {
  const original = findOne<V1Deployment>(render('manifests/base'), 'Deployment', 'keyway', 'keyway-system');
  const mutate = (change: (d: V1Deployment & Record<string, unknown>) => void) => {
    const copy = structuredClone(original) as V1Deployment & Record<string, unknown>;
    change(copy);
    return copy as unknown as Parameters<typeof schemaProblems>[0];
  };
  const wrongType = await schemaProblems(mutate((d) => ((d.spec as unknown as Record<string, unknown>).replicas = 'two')));
  assert.match(wrongType.join('\n'), /replicas/);
  const missing = await schemaProblems(mutate((d) => delete (d.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>).name));
  assert.match(missing.join('\n'), /name/);
  const misspelt = mutate((d) => {
    const c = d.spec!.template.spec!.containers[0] as unknown as Record<string, unknown>;
    c.livenessprobe = c.livenessProbe;
  });
  assert.deepEqual(unknownFields(misspelt), ['spec.template.spec.containers[0].livenessprobe']);
  assert.deepEqual(await schemaProblems({ ...original, kind: 'Deploymnet' } as never), ['no Kubernetes schema for apps/v1 Deploymnet']);
});

test('namespaced objects name their namespace, and the combined example creates every namespace it uses', { skip }, () => {
  const objects = render(FULL);
  const created = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  for (const o of objects) {
    if (CLUSTER_SCOPED.has(o.kind)) {
      assert.equal(o.metadata.namespace, undefined, `${o.kind} ${o.metadata.name} is cluster-scoped`);
      continue;
    }
    assert.ok(o.metadata.namespace && o.metadata.namespace !== 'default', `${o.kind} ${o.metadata.name} has no namespace`);
    assert.ok(created.has(o.metadata.namespace), `${o.kind} ${o.metadata.name}: namespace ${o.metadata.namespace} is not created`);
  }
  assert.deepEqual([...created].sort(), ['cache', 'keyway-system']);
});

test('every container image has a pinned tag (no latest, no untagged image)', { skip }, () => {
  const images = workloads(render(FULL)).flatMap((w) => w.template.spec!.containers.map((c) => c.image ?? ''));
  assert.deepEqual(images.sort(), [`envoyproxy/envoy:v${pinnedEnvoyVersion()}`, 'hashicorp/http-echo:1.0.0', 'keyway:0.1.0']);
  for (const image of images) {
    const tag = /:([^/:@]+)$/.exec(image)?.[1];
    assert.ok(tag && tag !== 'latest', `${image} is not pinned`);
  }
});
